"""3D SA-UNet: a U-Net with 3D spatial attention on the skips and 3D ASPP in the bottleneck."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from monai.networks.blocks import Convolution, UpSample
from monai.networks.layers.factories import Conv, Pool
from monai.utils import ensure_tuple_rep

from .blocks import ASPP, RecurrentSliceAttention, SpatialAttention
from .layers import keras_norm
from .size_contract import check_spatial_size


def _double_conv(
    in_channels: int, out_channels: int, kernel_size: Sequence[int], norm: str | tuple, act: str | tuple
) -> nn.Sequential:
    """Two conv (with bias) → norm → act units."""

    def unit(c_in: int) -> Convolution:
        return Convolution(3, c_in, out_channels, kernel_size=kernel_size, norm=norm, act=act, bias=True)

    return nn.Sequential(unit(in_channels), unit(out_channels))


class SAUNet3D(nn.Module):
    """3D SA-UNet for white-matter hyperintensity segmentation.

    Guo C., "3D SA-UNet: 3D Spatial Attention UNet with 3D Atrous Spatial Pyramid
    Pooling for White Matter Hyperintensities Segmentation", arXiv:2309.08402.

    Three encoder levels of two conv units (anisotropic (3,3,1) kernels by
    default), each followed by max-pooling that never pools the slice axis; a
    bottleneck conv (3,3,3) → :class:`ASPP` → conv (3,3,3); three decoder levels
    that upsample by nearest-neighbour repetition and concatenate
    ``[upsampled, SAM(skip)]`` before two conv units; a 1×1×1 head that returns
    logits.  SAM is a :class:`SpatialAttention` with a (14,14,1) kernel and no
    bias.  The default network has 5,340,315 parameters.

    Input size contract: every spatial size must be divisible by
    ``pool_size ** 3`` per axis, i.e. X and Y by 8 and Z free for the default
    anisotropic pooling (2,2,1), all three by 8 for isotropic (2,2,2);
    ``forward`` raises ``ValueError`` naming the multiple.

    Args:
        spatial_dims: must be 3.
        in_channels: input channels (1 for FLAIR).
        out_channels: output classes (3: background, WMH, other pathology).
        channels: widths of the three encoder levels and of the bottleneck.
        kernel_size: kernel of the encoder/decoder convolutions.
        pool_size: max-pool window and upsampling factor.
        bottleneck_kernel_size: kernel of the two bottleneck convolutions.
        norm: ``"group"`` (GroupNorm 8, eps 1e-3), ``"batch"`` (Keras defaults) or
            any MONAI norm factory argument.
        act: MONAI activation factory argument.
        use_sam: spatial attention on the three skip connections.
        sam_kernel_size: kernel of the SAM convolution.
        use_aspp: ASPP between the two bottleneck convolutions.
        aspp_dilations: dilations of the ASPP's 3×3×3 branches.
        use_rsa: a recurrent slice-wise attention block (RSANet, Zhang et al.,
            MICCAI 2019; :class:`~wmhseg.networks.blocks.RecurrentSliceAttention`)
            after the second bottleneck convolution; off by default (not part of
            3D SA-UNet); it is the identity at initialisation.
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        out_channels: int = 3,
        channels: Sequence[int] = (24, 48, 96, 192),
        kernel_size: Sequence[int] | int = (3, 3, 1),
        pool_size: Sequence[int] | int = (2, 2, 1),
        bottleneck_kernel_size: Sequence[int] | int = 3,
        norm: str | tuple = "group",
        act: str | tuple = "relu",
        use_sam: bool = True,
        sam_kernel_size: Sequence[int] | int = (14, 14, 1),
        use_aspp: bool = True,
        aspp_dilations: Sequence[int] = (6, 12, 16),
        use_rsa: bool = False,
    ) -> None:
        super().__init__()
        if spatial_dims != 3:
            raise ValueError(f"SAUNet3D is a 3D network: spatial_dims must be 3, got {spatial_dims}.")
        if len(channels) != 4:
            raise ValueError(f"channels needs 4 widths (3 levels and the bottleneck), got {tuple(channels)}.")
        norm = keras_norm(norm)
        kernel_size = ensure_tuple_rep(kernel_size, 3)
        pool = ensure_tuple_rep(pool_size, 3)
        c1, c2, c3, c4 = channels
        self.size_multiple: list[int] = [p**3 for p in pool]

        self.encoders = nn.ModuleList(
            [_double_conv(c_in, c_out, kernel_size, norm, act) for c_in, c_out in ((in_channels, c1), (c1, c2), (c2, c3))]
        )
        self.pool = Pool[Pool.MAX, 3](kernel_size=pool)
        bottleneck: list[nn.Module] = [
            Convolution(3, c3, c4, kernel_size=bottleneck_kernel_size, norm=norm, act=act, bias=True)
        ]
        if use_aspp:
            bottleneck.append(ASPP(3, c4, c4, dilations=aspp_dilations, norm=norm, act=act))
        bottleneck.append(Convolution(3, c4, c4, kernel_size=bottleneck_kernel_size, norm=norm, act=act, bias=True))
        if use_rsa:
            bottleneck.append(RecurrentSliceAttention(c4))
        self.bottleneck = nn.Sequential(*bottleneck)
        self.upsample = UpSample(3, scale_factor=pool, mode="nontrainable", interp_mode="nearest", align_corners=None)
        self.attentions = nn.ModuleList(
            [SpatialAttention(3, sam_kernel_size) if use_sam else nn.Identity() for _ in range(3)]
        )
        self.decoders = nn.ModuleList(
            [
                _double_conv(c_up + c_skip, c_skip, kernel_size, norm, act)
                for c_up, c_skip in ((c4, c3), (c3, c2), (c2, c1))
            ]
        )
        self.head = Conv[Conv.CONV, 3](c1, out_channels, kernel_size=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing():  # a traced graph cannot keep the check; it only warns
            check_spatial_size("SAUNet3D", list(x.shape[2:]), self.size_multiple)
        skips: list[torch.Tensor] = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for level, (attention, decoder) in enumerate(zip(self.attentions, self.decoders)):
            x = decoder(torch.cat([self.upsample(x), attention(skips[2 - level])], dim=1))
        return self.head(x)
