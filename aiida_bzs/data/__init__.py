"""AiiDA Data types of the campaign: training sets, ACE potentials."""

from .large_structure import LargeStructureData

__all__ = ["LargeStructureData"]
