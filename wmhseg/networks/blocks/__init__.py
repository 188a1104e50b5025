"""Building blocks shared by the wmhseg networks."""

from .aspp import ASPP
from .dense import DenseBlock, DenseLayer
from .inter_slice_attention import InterSliceAttention
from .slice_attention import RecurrentSliceAttention, slice_attention
from .spatial_attention import SpatialAttention

__all__ = [
    "ASPP",
    "DenseBlock",
    "DenseLayer",
    "InterSliceAttention",
    "RecurrentSliceAttention",
    "SpatialAttention",
    "slice_attention",
]
