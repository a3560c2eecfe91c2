"""AiiDA Data types of the campaign: training sets, ACE potentials."""
