"""Pure numerics on structures and datasets (numpy/ASE in and out, no AiiDA imports)."""
