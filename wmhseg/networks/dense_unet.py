"""A 2D U-Net whose levels are densely connected blocks (the intra-slice network of SAU-Net)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Conv, Pool

from .blocks import DenseBlock
from .encoder_decoder import EncoderDecoder


def _dense_level(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    layers: int,
    growth_rate: int,
    bn_size: int,
    dropout_prob: float,
    norm: str | tuple,
    act: str | tuple,
) -> nn.Sequential:
    """A :class:`~wmhseg.networks.blocks.DenseBlock` (``layers`` × BN-ReLU-Conv1×1-BN-ReLU-Conv3×3, each
    output concatenated) followed by a 1×1 conv → norm → act transition to ``out_channels``."""
    return nn.Sequential(
        DenseBlock(
            spatial_dims=spatial_dims,
            layers=layers,
            in_channels=in_channels,
            growth_rate=growth_rate,
            bn_size=bn_size,
            dropout_prob=dropout_prob,
            act=act,
            norm=norm,
        ),
        Convolution(
            spatial_dims,
            in_channels + layers * growth_rate,
            out_channels,
            kernel_size=1,
            norm=norm,
            act=act,
            bias=False,
        ),
    )


class DenseUNet2D(EncoderDecoder):
    """Densely connected U-Net (2D by default).

    The intra-slice feature extractor of SAU-Net ("spatial attention-based
    densely connected U-Net", Zhang Y. et al., MIDL 2020, PMLR 121:903–913).  The
    paper's growth rate and depth are not public; this layout is **our design**,
    built from DenseNet-B layers (Huang et al., CVPR 2017) as MONAI's DenseNet has them:

    * stem: 3×3 conv → norm → act to ``channels[0]``;
    * each encoder level, and the bottleneck: a dense block of ``layers_per_block``
      layers with growth ``growth_rate`` (:class:`~wmhseg.networks.blocks.DenseBlock`), then a 1×1
      conv → norm → act transition to the level's width; 2×2 max-pooling between
      levels;
    * each decoder level: 3×3 stride-2 transposed conv to the level's width,
      concat [upsampled, skip], then a dense level as above;
    * head: 1×1 conv to ``out_channels`` (logits).

    :meth:`features` returns the last decoder features (``channels[0]`` maps)
    before the head.

    Input size contract: every spatial size must be a multiple of
    ``2 ** (len(channels) - 1)`` (8 by default).

    Args:
        spatial_dims: number of spatial dimensions (2 for SAU-Net).
        in_channels: input channels.
        out_channels: output channels (logits).
        channels: widths of the encoder levels and, last, of the bottleneck.
        growth_rate: channels added by each dense layer.
        layers_per_block: dense layers per level.
        bn_size: width factor of the dense layers' 1×1 bottleneck convolutions.
        dropout_prob: dropout after each dense layer.
        norm: MONAI norm factory argument.
        act: MONAI activation factory argument.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 3,
        channels: Sequence[int] = (32, 64, 128, 256),
        growth_rate: int = 16,
        layers_per_block: int = 4,
        bn_size: int = 4,
        dropout_prob: float = 0.0,
        norm: str | tuple = "batch",
        act: str | tuple = "relu",
    ) -> None:
        if len(channels) < 2:
            raise ValueError(f"channels needs at least 2 widths, got {tuple(channels)}.")
        c = list(channels)

        def level(c_in: int, c_out: int) -> nn.Sequential:
            return _dense_level(
                spatial_dims, c_in, c_out, layers_per_block, growth_rate, bn_size, dropout_prob, norm, act
            )

        # modules are created in forward order, so that a seed gives the same initial weights as ever
        stem = Convolution(spatial_dims, in_channels, c[0], kernel_size=3, norm=norm, act=act, bias=False)
        encoders = [level(c_in, c_out) for c_in, c_out in zip([c[0]] + c[:-2], c[:-1])]
        super().__init__(
            "DenseUNet2D",
            size_multiple=[2 ** (len(c) - 1)] * spatial_dims,
            stem=stem,
            encoders=encoders,
            pools=[Pool[Pool.MAX, spatial_dims](kernel_size=2) for _ in encoders],
            bottleneck=level(c[-2], c[-1]),
            ups=[
                Convolution(spatial_dims, c_in, c_out, strides=2, kernel_size=3, is_transposed=True, conv_only=True)
                for c_in, c_out in zip(c[:0:-1], c[-2::-1])
            ],
            decoders=[level(2 * ch, ch) for ch in c[-2::-1]],
            head=Conv[Conv.CONV, spatial_dims](c[0], out_channels, kernel_size=1, bias=True),
        )
