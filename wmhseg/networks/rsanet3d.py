"""RSANet: a 3D U-Net with recurrent slice-wise attention (RSA) blocks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.blocks import Convolution, UpSample

from .blocks import RecurrentSliceAttention
from .layers import GROUP_NORM_TORCH

RSA_POSITIONS = ("enc1", "enc2", "enc3", "enc4", "bottleneck", "dec4", "dec3", "dec2", "dec1")
"""Where RSA blocks may go: after an encoder conv block (enc1 at full resolution … enc4 at 1/8,
before the skip is taken), after the bottleneck block (1/16), or after a decoder stage (dec4 at
1/8 … dec1 at full resolution)."""


def _conv_block(in_channels: int, out_channels: int, norm: str | tuple, act: str | tuple) -> nn.Sequential:
    """2 × [Conv 3³ without bias → norm → act]."""

    def unit(c_in: int) -> Convolution:
        return Convolution(3, c_in, out_channels, kernel_size=3, norm=norm, act=act, bias=False)

    return nn.Sequential(unit(in_channels), unit(out_channels))


def _stage(block: nn.Module, rsa_channels: int, axes: Sequence[int], with_rsa: bool) -> nn.Sequential:
    return nn.Sequential(block, RecurrentSliceAttention(rsa_channels, axes)) if with_rsa else nn.Sequential(block)


class _UpStage(nn.Module):
    """1³ conv (right → right/2, no bias) → nearest ×2 → pad to the skip → concat [skip, up] → stage."""

    def __init__(self, up: nn.Module, stage: nn.Module) -> None:
        super().__init__()
        self.up = up
        self.stage = stage

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """(B, C, *s) and the skip (B, C_skip, *S), S ≥ 2·s → (B, C_out, *S)."""
        x = self.up(x)
        # Zero-pad on the leading side of each axis up to the skip's size (F.pad: last axis first).
        pad: list[int] = []
        for dim in (4, 3, 2):
            pad += [skip.shape[dim] - x.shape[dim], 0]
        return self.stage(torch.cat([skip, F.pad(x, pad)], dim=1))


class RSANet3D(nn.Module):
    """RSANet: Recurrent Slice-wise Attention Network.

    Zhang H., Zhang J., Zhang Q., Kim J., Zhang S., Gauthier S.A., Spincemaille P.,
    Nguyen T.D., Sabuncu M., Wang Y., "RSANet: Recurrent Slice-wise Attention
    Network for Multiple Sclerosis Lesion Segmentation", MICCAI 2019, pp. 411–419,
    arXiv:2002.12470.  Layout of the released code (tinymilky/RSANet):

    * stem: Conv 3³ (no bias) → Dropout3d (channel dropout, only here);
    * four encoder levels: conv block (2 × [Conv 3³ no bias → GroupNorm(8) → ReLU]),
      then a stride-2 Conv 3³ (no bias, no norm or activation) that down-samples;
    * bottleneck: conv block to ``channels[4]``, followed by an RSA block
      (:class:`~wmhseg.networks.blocks.RecurrentSliceAttention`);
    * four up stages: Conv 1³ to half the channels → nearest ×2 → zero-pad on the
      leading side to the skip → concat [skip, up] → conv block;
    * head: Conv 3³ → Conv 1³ to ``out_channels`` (no bias, no norm between), logits.

    With the defaults (3 inputs, 2 classes) the network has 24,554,339 parameters:
    23,766,368 in the backbone and 787,971 in the RSA block.

    ``positions`` says where RSA blocks go (:data:`RSA_POSITIONS`); the default, the
    bottleneck only, is the released code.  The README's "RSA-111" most likely
    means three positions at the lowest resolutions, e.g. ``("enc4", "bottleneck",
    "dec4")``, but the paper does not say which (our inference).

    Input size contract: each spatial size should be a multiple of 16; other sizes
    go through the zero-pad path of the up stages (as in the released code).

    Args:
        spatial_dims: must be 3.
        in_channels: input channels (3 contrasts in the paper).
        out_channels: output classes.
        channels: the five widths (stem and level 1, levels 2–4, bottleneck).
        norm: MONAI norm factory argument (GroupNorm with 8 groups by default).
        act: MONAI activation factory argument.
        dropout: channel-dropout probability after the stem.
        positions: names from :data:`RSA_POSITIONS` that get an RSA block.
        rsa_axes: spatial axes attended in order by each RSA block (see
            :class:`~wmhseg.networks.blocks.RecurrentSliceAttention`).
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 3,
        out_channels: int = 2,
        channels: Sequence[int] = (32, 64, 128, 256, 512),
        norm: str | tuple = GROUP_NORM_TORCH,
        act: str | tuple = "relu",
        dropout: float = 0.2,
        positions: Sequence[str] = ("bottleneck",),
        rsa_axes: Sequence[int] = (1, 2, 0),
    ) -> None:
        super().__init__()
        if spatial_dims != 3:
            raise ValueError(f"RSANet3D is a 3D network: spatial_dims must be 3, got {spatial_dims}.")
        if len(channels) != 5:
            raise ValueError(f"channels needs 5 widths (4 levels and the bottleneck), got {tuple(channels)}.")
        unknown = [p for p in positions if p not in RSA_POSITIONS]
        if unknown:
            raise ValueError(f"unknown RSA positions {unknown}; choose from {RSA_POSITIONS}.")
        chosen = set(positions)
        c = list(channels)

        self.stem = Convolution(
            3, in_channels, c[0], kernel_size=3, bias=False, act=None, norm=None, dropout=dropout, dropout_dim=3
        )
        self.encoders = nn.ModuleList(
            [
                _stage(_conv_block(c_in, c_out, norm, act), c_out, rsa_axes, f"enc{level + 1}" in chosen)
                for level, (c_in, c_out) in enumerate(zip([c[0]] + c[:3], c[:4]))
            ]
        )
        self.downs = nn.ModuleList(
            [Convolution(3, ch, ch, strides=2, kernel_size=3, bias=False, conv_only=True) for ch in c[:4]]
        )
        self.bottleneck = _stage(_conv_block(c[3], c[4], norm, act), c[4], rsa_axes, "bottleneck" in chosen)
        ups = []
        for level in (4, 3, 2, 1):
            right, left = c[level], c[level - 1]
            up = UpSample(
                3,
                right,
                right // 2,
                scale_factor=2,
                mode="nontrainable",
                interp_mode="nearest",
                align_corners=None,
                bias=False,
            )
            block = _conv_block(left + right // 2, left, norm, act)
            ups.append(_UpStage(up, _stage(block, left, rsa_axes, f"dec{level}" in chosen)))
        self.ups = nn.ModuleList(ups)
        self.head = nn.Sequential(
            Convolution(3, c[0], c[0], kernel_size=3, bias=False, conv_only=True),
            Convolution(3, c[0], out_channels, kernel_size=1, bias=False, conv_only=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits.

        Args:
            x: (B, in_channels, X, Y, Z), each size best a multiple of 16.

        Returns:
            (B, out_channels, X, Y, Z) logits.
        """
        x = self.stem(x)
        skips: list[torch.Tensor] = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.bottleneck(x)
        for level, up in enumerate(self.ups):
            x = up(x, skips[3 - level])
        return self.head(x)
