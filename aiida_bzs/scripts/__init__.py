"""Small console programs that the CalcJobs of aiida-bzs run (installed as console scripts)."""
