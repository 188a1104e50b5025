"""SA-UNet: a U-Net with DropBlock (or dropout) and spatial attention, 2D by default."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn as nn
from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Conv, Pool
from monai.utils import ensure_tuple_rep

from .blocks import SpatialAttention
from .encoder_decoder import EncoderDecoder
from .layers import keras_norm  # importing layers registers "dropblock" in MONAI's Dropout factory

SA_POSITIONS = ("bottleneck_mid", "after_last_pool")
REGULARISERS = ("dropblock", "dropout", "none")

SAUNET2D_PRESETS: dict[str, dict[str, Any]] = {
    "guo2020": {
        "in_channels": 3,
        "out_channels": 1,
        "channels": (16, 32, 64, 128),
        "sa_position": "bottleneck_mid",
        "regulariser": "dropblock",
        "drop_prob": 0.18,
        "block_size": 7,
        "sa_kernel": 7,
        "sa_bias": False,
        "sa_order": "mean_max",
    },
    "lgg_brain": {
        "in_channels": 3,
        "out_channels": 1,
        "channels": (16, 32, 64, 128),
        "sa_position": "after_last_pool",
        "regulariser": "dropout",
        "drop_prob": 0.2,
        "sa_kernel": 7,
        "sa_bias": True,
        "sa_order": "max_mean",
    },
}
"""Keyword arguments of the two published SA-UNet variants: ``guo2020``, the retinal-vessel network of the
paper (Guo et al., ICPR 2020, arXiv:2004.03696), and ``lgg_brain``, the brain-MRI notebook's network
(suniash/brain_mri_segmentation, on the LGG data of Buda et al., Comput. Biol. Med. 109, 2019)."""


class SAUNet2D(EncoderDecoder):
    """SA-UNet: Spatial Attention U-Net (2D by default, 3D by ``spatial_dims=3``).

    Guo C., Szemenyei M., Yi Y., Wang W., Chen B., Fan C., "SA-UNet: Spatial
    Attention U-Net for Retinal Vessel Segmentation", ICPR 2020, arXiv:2004.03696.

    Every level has two units *conv (with bias) → regulariser → BatchNorm →
    ReLU*; the regulariser is :class:`~wmhseg.networks.layers.DropBlock`
    (``"dropblock"``), element-wise dropout (``"dropout"``) or nothing
    (``"none"``).  Down-sampling is 2×2 max-pooling, up-sampling a 3×3 stride-2
    transposed convolution (with bias) followed by concatenation
    ``[upsampled, skip]`` and two units.  The head is a 1×1 convolution that
    returns logits (apply a sigmoid for the published single-channel output).

    ``channels`` are read according to ``sa_position``:

    * ``"bottleneck_mid"`` (Guo 2020): ``channels[:-1]`` are the encoder levels,
      ``channels[-1]`` the bottleneck, which is *unit → spatial attention → unit*;
    * ``"after_last_pool"`` (brain-MRI notebook, suniash/brain_mri_segmentation):
      all ``channels`` are encoder levels, each followed by pooling, the spatial
      attention is applied to the last pooled map and there is no bottleneck
      convolution; the decoder has one level per encoder level.

    Presets (:data:`SAUNET2D_PRESETS`, :meth:`from_preset`): ``guo2020``
    (537,299 parameters) and ``lgg_brain`` (1,128,020 parameters).

    Input size contract: every spatial size must be a multiple of
    ``pool_size ** number_of_pools`` per axis (8 for ``guo2020``, 16 for
    ``lgg_brain``); ``forward`` raises ``ValueError`` otherwise.

    Args:
        spatial_dims: 2, or 3 for the 3D generalisation (Conv3d, MaxPool3d, DropBlock3d).
        in_channels: input channels.
        out_channels: output channels (logits).
        channels: widths, see above; at least 2.
        sa_position: ``"bottleneck_mid"`` or ``"after_last_pool"``.
        regulariser: ``"dropblock"``, ``"dropout"`` or ``"none"``.
        drop_prob: drop probability of the regulariser.
        block_size: DropBlock block size, odd, an int or one per axis.
        kernel_size: kernel of every convolution and transposed convolution.
        pool_size: max-pool window and up-sampling stride.
        norm: ``"batch"`` (Keras defaults: eps 1e-3, momentum 0.99), ``"group"`` or a
            MONAI norm factory argument.
        act: MONAI activation factory argument.
        use_sa: spatial attention on or off (off gives the paper's "Backbone" ablation).
        sa_kernel: kernel of the attention convolution, an int or one per axis.
        sa_bias: whether the attention convolution has a bias.
        sa_order: ``"mean_max"`` (Guo) or ``"max_mean"`` (brain notebook).
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 1,
        channels: Sequence[int] = (16, 32, 64, 128),
        sa_position: str = "bottleneck_mid",
        regulariser: str = "dropblock",
        drop_prob: float = 0.18,
        block_size: Sequence[int] | int = 7,
        kernel_size: Sequence[int] | int = 3,
        pool_size: Sequence[int] | int = 2,
        norm: str | tuple = "batch",
        act: str | tuple = "relu",
        use_sa: bool = True,
        sa_kernel: Sequence[int] | int = 7,
        sa_bias: bool = False,
        sa_order: str = "mean_max",
    ) -> None:
        if spatial_dims not in (2, 3):
            raise ValueError(f"SAUNet2D supports spatial_dims 2 or 3, got {spatial_dims}.")
        if sa_position not in SA_POSITIONS:
            raise ValueError(f"sa_position must be one of {SA_POSITIONS}, got {sa_position!r}.")
        if regulariser not in REGULARISERS:
            raise ValueError(f"regulariser must be one of {REGULARISERS}, got {regulariser!r}.")
        if len(channels) < 2:
            raise ValueError(f"channels needs at least 2 widths, got {tuple(channels)}.")
        norm = keras_norm(norm)
        pool = ensure_tuple_rep(pool_size, spatial_dims)
        if regulariser == "dropblock":
            dropout: tuple | float | None = ("dropblock", {"p": drop_prob, "block_size": block_size})
            dropout_dim = spatial_dims
        else:
            # Keras Dropout is element-wise: MONAI dropout_dim 1 gives nn.Dropout.
            dropout, dropout_dim = (drop_prob if regulariser == "dropout" else None), 1

        def unit(c_in: int, c_out: int) -> Convolution:
            return Convolution(
                spatial_dims,
                c_in,
                c_out,
                kernel_size=kernel_size,
                adn_ordering="DNA",
                act=act,
                norm=norm,
                dropout=dropout,
                dropout_dim=dropout_dim,
                bias=True,
            )

        def attention() -> nn.Module:
            if not use_sa:
                return nn.Identity()
            return SpatialAttention(spatial_dims, sa_kernel, bias=sa_bias, order=sa_order)

        levels = list(channels) if sa_position == "after_last_pool" else list(channels[:-1])
        # modules are created in forward order, so that a seed gives the same initial weights as ever
        encoders = [
            nn.Sequential(unit(c_in, c_out), unit(c_out, c_out)) for c_in, c_out in zip([in_channels] + levels, levels)
        ]
        if sa_position == "bottleneck_mid":
            bottleneck = nn.Sequential(unit(levels[-1], channels[-1]), attention(), unit(channels[-1], channels[-1]))
        else:
            bottleneck = nn.Sequential(attention())
        ups, decoders = [], []
        previous = channels[-1]
        for c in reversed(levels):
            ups.append(
                Convolution(
                    spatial_dims, previous, c, strides=pool, kernel_size=kernel_size, is_transposed=True, conv_only=True
                )
            )
            decoders.append(nn.Sequential(unit(2 * c, c), unit(c, c)))
            previous = c
        super().__init__(
            "SAUNet2D",
            size_multiple=[p ** len(levels) for p in pool],
            encoders=encoders,
            pools=[Pool[Pool.MAX, spatial_dims](kernel_size=pool) for _ in levels],
            bottleneck=bottleneck,
            ups=ups,
            decoders=decoders,
            head=Conv[Conv.CONV, spatial_dims](levels[0], out_channels, kernel_size=1, bias=True),
        )

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> SAUNet2D:
        """Build a published variant (``"guo2020"`` or ``"lgg_brain"``); ``overrides`` replace its arguments."""
        if name not in SAUNET2D_PRESETS:
            raise KeyError(f"unknown SAUNet2D preset {name!r}; available: {', '.join(SAUNET2D_PRESETS)}.")
        return cls(**{**SAUNET2D_PRESETS[name], **overrides})
