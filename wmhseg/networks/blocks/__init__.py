"""Building blocks shared by the wmhseg networks."""

from .aspp import ASPP
from .spatial_attention import SpatialAttention

__all__ = ["ASPP", "SpatialAttention"]
