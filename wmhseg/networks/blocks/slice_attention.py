"""Slice-wise attention along one axis and its recurrent composition over three axes (RSANet)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.layers.factories import Conv


def slice_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, axis: int) -> torch.Tensor:
    """``softmax(Q Kᵀ) V`` between the slices of (B, C, *spatial) tensors along spatial ``axis``.

    Each slice perpendicular to ``axis`` is one token whose features are all its
    channels and voxels; the L×L attention (L the length of ``axis``) has no
    1/√d scaling, no heads and no output projection (Zhang et al., MICCAI 2019).
    It is computed in float32 by ``scaled_dot_product_attention(scale=1.0)``; the
    result has the dtype of ``value``.  Call it outside autocast (as
    :class:`RecurrentSliceAttention` does), otherwise autocast lowers the precision.
    """
    dim = axis + 2
    moved = value.movedim(dim, 1)
    q = _tokens(query, dim)
    k = _tokens(key, dim)
    v = _tokens(value, dim)
    out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
    return out.reshape(moved.shape).movedim(1, dim).to(value.dtype)


def _tokens(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, C, *spatial) → (B, 1, L, N) float32: one token per slice along tensor ``dim``."""
    moved = x.movedim(dim, 1)
    return moved.reshape(moved.shape[0], 1, moved.shape[1], -1).float()


class RecurrentSliceAttention(nn.Module):
    """Recurrent slice-wise attention (RSA) block of RSANet.

    Zhang H. et al., "RSANet: Recurrent Slice-wise Attention Network for Multiple
    Sclerosis Lesion Segmentation", MICCAI 2019, doi:10.1007/978-3-030-32248-9_46,
    arXiv:2002.12470.

    For each spatial axis in ``axes``, in order, the block updates
    ``x ← x + β_axis · SA_axis(x)`` with
    ``SA_axis(x) = softmax(θ(x) φ(x)ᵀ) g(x)`` over the slices along that axis
    (:func:`slice_attention`).  θ, φ and g are 1×1×1 convolutions C→C with bias,
    **shared by all the axes** and re-applied to the updated ``x`` at every step.
    Each β starts at 0, so the block is the identity at initialisation.  After the
    three steps every voxel has received information from every other voxel at a
    cost of O(L²·N) per axis instead of the non-local block's quadratic cost in the
    number of voxels.

    With a single axis it is one slice-wise attention (SA) block.  Parameters:
    ``3 (C² + C) + len(axes)``, 787,971 for C = 512 and three axes.

    The attention logits sum over all the features of a slice, so they are
    computed in float32 even under autocast; the projections follow autocast.  (A
    TorchScript export cannot switch autocast off: it is exact in float32 inference.)

    Args:
        in_channels: channels C of the input.
        axes: spatial axes (0-based, (B, C, *spatial) layout) in the order they are
            attended; the default ``(1, 2, 0)`` is tensor dims 3, 4, 2, the order of
            the released RSANet code.
        spatial_dims: number of spatial dimensions.
    """

    def __init__(self, in_channels: int, axes: Sequence[int] = (1, 2, 0), spatial_dims: int = 3) -> None:
        super().__init__()
        axes = [int(a) for a in axes]
        if not axes or any(not 0 <= a < spatial_dims for a in axes):
            raise ValueError(f"axes must be spatial axes in [0, {spatial_dims}), got {tuple(axes)}.")
        self.axes = axes
        conv = Conv[Conv.CONV, spatial_dims]
        self.theta = conv(in_channels, in_channels, kernel_size=1, bias=True)
        self.phi = conv(in_channels, in_channels, kernel_size=1, bias=True)
        self.g = conv(in_channels, in_channels, kernel_size=1, bias=True)
        self.beta = nn.Parameter(torch.zeros(len(axes)))

    def attention(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, axis: int) -> torch.Tensor:
        """:func:`slice_attention`, with autocast switched off around it in eager mode."""
        if torch.jit.is_scripting():
            return slice_attention(query, key, value, axis)
        return self.attention_outside_autocast(query, key, value, axis)

    @torch.jit.unused
    def attention_outside_autocast(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, axis: int
    ) -> torch.Tensor:
        with torch.autocast(device_type=value.device.type, enabled=False):
            return slice_attention(query, key, value, axis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, *spatial) → (B, in_channels, *spatial), any spatial size."""
        for step, axis in enumerate(self.axes):
            x = x + self.beta[step] * self.attention(self.theta(x), self.phi(x), self.g(x), axis)
        return x
