"""Layers of the wmhseg networks; importing this package registers them in MONAI's factories."""

from .dropblock import DropBlock, DropBlock2d, DropBlock3d

__all__ = ["DropBlock", "DropBlock2d", "DropBlock3d"]
