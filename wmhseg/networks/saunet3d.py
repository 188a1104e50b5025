"""3D SA-UNet: a U-Net with 3D spatial attention on the skips and 3D ASPP in the bottleneck."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn as nn
from monai.networks.blocks import Convolution, UpSample
from monai.networks.layers.factories import Conv, Pool

from .blocks import ASPP, RecurrentSliceAttention, SpatialAttention
from .encoder_decoder import EncoderDecoder, per_stage
from .layers import keras_norm


def _double_conv(
    in_channels: int, out_channels: int, kernel_size: Sequence[int], norm: str | tuple, act: str | tuple
) -> nn.Sequential:
    """Two conv (with bias) → norm → act units."""

    def unit(c_in: int) -> Convolution:
        return Convolution(3, c_in, out_channels, kernel_size=kernel_size, norm=norm, act=act, bias=True)

    return nn.Sequential(unit(in_channels), unit(out_channels))


class SAUNet3D(EncoderDecoder):
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

    Kernels and pooling are given per level as in MONAI's ``DynUNet``: a single
    size for every level, or a list of three, level 1 (full resolution) first;
    decoder level ``i`` uses the kernel of encoder level ``i`` and upsamples by its
    pooling factor.  The Table 1 rows of the paper are such arguments
    (:data:`wmhseg.networks.presets.TABLE1_ROWS`).

    Input size contract: every spatial size must be divisible by the product of
    the three pooling factors on its axis, i.e. X and Y by 8 and Z free for the
    default anisotropic pooling (2,2,1), all three by 8 for isotropic (2,2,2);
    ``forward`` raises ``ValueError`` naming the multiple.

    Args:
        spatial_dims: must be 3.
        in_channels: input channels (1 for FLAIR).
        out_channels: output classes (3: background, WMH, other pathology).
        channels: widths of the three encoder levels and of the bottleneck.
        kernel_size: kernel of the encoder/decoder convolutions: an int, one per
            axis, or one of those per level.
        pool_size: max-pool window and upsampling factor: an int, one per axis, or
            one of those per level.
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
        kernel_size: Sequence[Sequence[int] | int] | int = (3, 3, 1),
        pool_size: Sequence[Sequence[int] | int] | int = (2, 2, 1),
        bottleneck_kernel_size: Sequence[int] | int = 3,
        norm: str | tuple = "group",
        act: str | tuple = "relu",
        use_sam: bool = True,
        sam_kernel_size: Sequence[int] | int = (14, 14, 1),
        use_aspp: bool = True,
        aspp_dilations: Sequence[int] = (6, 12, 16),
        use_rsa: bool = False,
    ) -> None:
        if spatial_dims != 3:
            raise ValueError(f"SAUNet3D is a 3D network: spatial_dims must be 3, got {spatial_dims}.")
        if len(channels) != 4:
            raise ValueError(f"channels needs 4 widths (3 levels and the bottleneck), got {tuple(channels)}.")
        norm = keras_norm(norm)
        kernels = per_stage(kernel_size, 3, 3, "kernel_size")
        pools = per_stage(pool_size, 3, 3, "pool_size")
        widths = [in_channels, *channels]
        # modules are created in forward order, so that a seed gives the same initial weights as ever
        encoders = [_double_conv(widths[i], widths[i + 1], kernels[i], norm, act) for i in range(3)]
        bottleneck: list[nn.Module] = [
            Convolution(3, widths[3], widths[4], kernel_size=bottleneck_kernel_size, norm=norm, act=act, bias=True)
        ]
        if use_aspp:
            bottleneck.append(ASPP(3, widths[4], widths[4], dilations=aspp_dilations, norm=norm, act=act))
        bottleneck.append(
            Convolution(3, widths[4], widths[4], kernel_size=bottleneck_kernel_size, norm=norm, act=act, bias=True)
        )
        if use_rsa:
            bottleneck.append(RecurrentSliceAttention(widths[4]))
        deepest_first = (3, 2, 1)
        super().__init__(
            "SAUNet3D",
            size_multiple=[math.prod(p[axis] for p in pools) for axis in range(3)],
            encoders=encoders,
            pools=[Pool[Pool.MAX, 3](kernel_size=pool) for pool in pools],
            bottleneck=nn.Sequential(*bottleneck),
            ups=[
                UpSample(3, scale_factor=pools[i - 1], mode="nontrainable", interp_mode="nearest", align_corners=None)
                for i in deepest_first
            ],
            attentions=[SpatialAttention(3, sam_kernel_size) if use_sam else nn.Identity() for _ in deepest_first],
            decoders=[
                _double_conv(widths[i + 1] + widths[i], widths[i], kernels[i - 1], norm, act) for i in deepest_first
            ],
            head=Conv[Conv.CONV, 3](widths[1], out_channels, kernel_size=1, bias=True),
        )
