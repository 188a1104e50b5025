"""Building blocks shared by the wmhseg networks."""

from .aspp import ASPP
from .inter_slice_attention import InterSliceAttention
from .slice_attention import RecurrentSliceAttention, slice_attention
from .spatial_attention import SpatialAttention

__all__ = ["ASPP", "InterSliceAttention", "RecurrentSliceAttention", "SpatialAttention", "slice_attention"]
