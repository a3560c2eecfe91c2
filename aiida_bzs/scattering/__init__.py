"""X-ray/neutron scattering of structures: Debye and periodic I(Q), S(Q), F(Q), G(r), form factors,
units and 2θ, peaks and Scherrer sizes, comparison with measured patterns, the runner's files
(numpy/ASE/torch in and out, no AiiDA imports)."""
