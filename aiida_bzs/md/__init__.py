"""Molecular-dynamics programmes: validated stage lists (durations ps, quench rates K/s → steps) and
the study's MD training families (numpy, no AiiDA imports)."""
