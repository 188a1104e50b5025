"""Layers of the wmhseg networks; importing this package registers them in MONAI's factories."""

from .dropblock import DropBlock, DropBlock2d, DropBlock3d
from .norms import BATCH_NORM, GROUP_NORM, GROUP_NORM_TORCH, NORM_ALIASES, keras_norm

__all__ = [
    "BATCH_NORM",
    "DropBlock",
    "DropBlock2d",
    "DropBlock3d",
    "GROUP_NORM",
    "GROUP_NORM_TORCH",
    "NORM_ALIASES",
    "keras_norm",
]
