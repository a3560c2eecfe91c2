"""Parsers of the aiida-bzs CalcJobs; pure file parsing lives in ``*_files.py`` beside them."""
