"""Atrous spatial pyramid pooling with an image-pooling branch (DeepLab v3 style)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Pool

from ..layers.norms import GROUP_NORM


class ASPP(nn.Module):
    """ASPP as used in the bottleneck of 3D SA-UNet (Guo, arXiv:2309.08402, Fig. 3).

    Five parallel branches, each ending in norm + activation:

    1. image pooling: global average → 1×1×1 conv (with bias) → broadcast back;
    2. a 1×1×1 conv;
    3. one 3×3×3 conv per dilation (default 6, 12, 16, isotropic).

    The branch outputs are concatenated in that order and projected back to
    ``out_channels`` by a 1×1×1 conv + norm + activation.  The global mean makes
    the module independent of the input size.  MONAI's ``SimpleASPP`` has no
    pooling branch and no per-branch norm, hence this module.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: input channels.
        out_channels: channels of every branch and of the projection.
        dilations: dilation of each 3-kernel branch.
        norm: MONAI norm factory argument.
        act: MONAI activation factory argument.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        dilations: Sequence[int] = (6, 12, 16),
        norm: str | tuple = GROUP_NORM,
        act: str | tuple = "relu",
    ) -> None:
        super().__init__()

        def unit(c_in: int, kernel_size: int, dilation: int = 1, bias: bool = False) -> Convolution:
            return Convolution(
                spatial_dims,
                c_in,
                out_channels,
                kernel_size=kernel_size,
                dilation=dilation,
                bias=bias,
                norm=norm,
                act=act,
            )

        self.pool = Pool[Pool.ADAPTIVEAVG, spatial_dims](1)
        self.pool_conv = unit(in_channels, 1, bias=True)
        self.branches = nn.ModuleList([unit(in_channels, 1)] + [unit(in_channels, 3, d) for d in dilations])
        self.project = unit(out_channels * (len(dilations) + 2), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, *spatial) → (B, out_channels, *spatial), any spatial size."""
        size = [-1, -1] + list(x.shape[2:])
        outputs = [self.pool_conv(self.pool(x)).expand(size)]
        for branch in self.branches:
            outputs.append(branch(x))
        return self.project(torch.cat(outputs, dim=1))
