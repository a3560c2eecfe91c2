"""aiida-bzs: the machine-learning-driven BaZrS3 modelling campaign, with full AiiDA provenance."""

__version__ = "0.1.0"
