"""Inter-slice attention (ISA): refine each slice's features with gates computed from its neighbours."""

from __future__ import annotations

import torch
import torch.nn as nn
from monai.networks.layers.factories import Conv


class InterSliceAttention(nn.Module):
    """Inter-slice attention over ``k`` neighbouring slices on each side.

    The idea follows SAU-Net (Zhang Y., Yuan L., Wang Y., Zhang J., "SAU-Net:
    Efficient 3D Spine MRI Segmentation Using Inter-Slice Attention", MIDL 2020,
    PMLR 121:903–913): per-slice features are refined with information from the
    adjacent slices.  The paper's equations are not public; this formulation is
    **our design**:

    ``out_i = f_i + Σ_{j ∈ ±1…±k} f_i ⊙ σ(W_j f_{i+j})``

    where ``f_i`` is slice ``i`` of the (B, C, *spatial) input along
    ``slice_axis`` and ``W_j`` a 1×1 convolution C→C per offset ``j``, shared by
    all slices.  Missing neighbours at the volume edges are replaced by the edge
    slice (replicate padding).  The output at slice ``i`` depends only on slices
    ``i-k … i+k``; all slices are computed in one pass.

    Args:
        channels: feature channels C.
        num_neighbours: ``k``, neighbours on each side.
        slice_axis: spatial axis (0-based, (B, C, *spatial) layout) along which the
            slices are stacked; 2 is Z in wmhseg's (X, Y, Z) convention.
        spatial_dims: number of spatial dimensions of the input.
    """

    def __init__(self, channels: int, num_neighbours: int = 1, slice_axis: int = 2, spatial_dims: int = 3) -> None:
        super().__init__()
        if num_neighbours < 1:
            raise ValueError(f"num_neighbours must be at least 1, got {num_neighbours}.")
        if not 0 <= slice_axis < spatial_dims:
            raise ValueError(f"slice_axis must be a spatial axis in [0, {spatial_dims}), got {slice_axis}.")
        self.channels = channels
        self.slice_dim = slice_axis + 2
        self.offsets = [j for j in range(-num_neighbours, num_neighbours + 1) if j != 0]
        # One 1×1 convolution per offset, stacked into a single layer.
        self.gates = Conv[Conv.CONV, spatial_dims](channels, channels * len(self.offsets), kernel_size=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, channels, *spatial) → (B, channels, *spatial), any number of slices."""
        gates = torch.sigmoid(self.gates(x))
        length = x.shape[self.slice_dim]
        positions = torch.arange(length, device=x.device)
        out = x
        for index, offset in enumerate(self.offsets):
            neighbour = (positions + offset).clamp(0, length - 1)
            gate = gates[:, index * self.channels : (index + 1) * self.channels].index_select(self.slice_dim, neighbour)
            out = out + x * gate
        return out
