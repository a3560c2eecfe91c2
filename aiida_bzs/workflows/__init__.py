"""Workchains: they compose calculations; the numbers come from ``protocols/*.yaml``."""
