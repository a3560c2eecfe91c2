"""Training data of the ACE potentials: packed datasets (arrays in, files out), reading pw.x labels,
and the active-learning exploration with a potential (numpy/ASE, no AiiDA imports)."""
