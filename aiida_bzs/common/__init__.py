"""Small helpers shared by every capability (code lookup, errors)."""
