"""CalcJobs of aiida-bzs; ``functions/`` holds the calcfunctions that wrap pure code."""
