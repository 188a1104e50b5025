"""CBAM-style spatial attention, dimension-agnostic."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.layers.factories import Conv
from monai.utils import ensure_tuple_rep


class SpatialAttention(nn.Module):
    """Spatial attention: ``x * sigmoid(conv([mean_c(x), max_c(x)]))``.

    The channel-wise mean and max of the input are stacked into a 2-channel map,
    convolved to one channel with "same" padding, squashed by a sigmoid and
    multiplied onto every channel of the input.  This is the attention of
    SA-UNet (Guo et al., ICPR 2020, arXiv:2004.03696, kernel 7×7) and the 3D
    spatial attention module (SAM) of 3D SA-UNet (Guo, arXiv:2309.08402, kernel
    14×14×1, no bias).

    For an even kernel the "same" padding is asymmetric with the extra voxel after
    (6 before and 7 after for 14), as in TensorFlow.

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        kernel_size: kernel of the 2→1 convolution, an int or one per axis.
        bias: whether the convolution has a bias.
        order: stacking order of the pooled maps, ``"mean_max"`` or ``"max_mean"``
            (only matters when importing weights).
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        kernel_size: Sequence[int] | int = (14, 14, 1),
        bias: bool = False,
        order: str = "mean_max",
    ) -> None:
        super().__init__()
        if order not in ("mean_max", "max_mean"):
            raise ValueError(f"order must be 'mean_max' or 'max_mean', got {order!r}.")
        self.mean_first = order == "mean_max"
        kernel = ensure_tuple_rep(kernel_size, spatial_dims)
        # F.pad order: last axis first, (before, after) per axis; the odd voxel goes after.
        self.padding = [p for k in reversed(kernel) for p in ((k - 1) // 2, k - 1 - (k - 1) // 2)]
        self.conv = Conv[Conv.CONV, spatial_dims](2, 1, kernel_size=kernel, bias=bias)

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The sigmoid attention map, shape (B, 1, *spatial)."""
        mean = x.mean(dim=1, keepdim=True)
        peak = x.amax(dim=1, keepdim=True)
        pooled = torch.cat([mean, peak] if self.mean_first else [peak, mean], dim=1)
        return torch.sigmoid(self.conv(F.pad(pooled, self.padding)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) → (B, C, *spatial): ``x`` weighted by :meth:`attention_map`."""
        return x * self.attention_map(x)
