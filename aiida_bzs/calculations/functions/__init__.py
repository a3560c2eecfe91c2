"""Calcfunctions: thin AiiDA wrappers around ``aiida_bzs.structures`` and ``aiida_bzs.analysis``."""
