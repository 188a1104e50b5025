"""SAU-Net (Zhang et al., MIDL 2020): a 2D dense U-Net applied slice by slice plus inter-slice attention.

Not to be confused with SA-UNet (Guo et al., :mod:`.saunet2d`, :mod:`.saunet3d`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from .blocks import InterSliceAttention
from .dense_unet import DenseUNet2D

ISA_POSITIONS = ("features", "output")


class SAUNetISA(nn.Module):
    """SAU-Net: Dense U-Net on each slice, refined by inter-slice attention (ISA).

    Zhang Y., Yuan L., Wang Y., Zhang J., "SAU-Net: Efficient 3D Spine MRI
    Segmentation Using Inter-Slice Attention", MIDL 2020, PMLR 121:903–913.

    **Follows the paper** (abstract): a 2D densely connected U-Net extracts
    intra-slice features and an inter-slice attention module uses the adjacent
    slices to refine the segmentation of a 3D volume.

    **Our design** (the paper's code, equations, neighbour count, growth rate and
    depth are not public): the Dense U-Net layout
    of :class:`~wmhseg.networks.dense_unet.DenseUNet2D`; the ISA formulation of
    :class:`~wmhseg.networks.blocks.InterSliceAttention` with ``k`` neighbours per
    side (default 1) and replicate padding at the volume edges; ISA placed on the
    decoder features before the head and trained end to end (``"features"``, our
    default) or on the output logits (``"output"``, the placement of an
    unofficial re-implementation).

    Execution is slice-parallel: the (B, C, X, Y, Z) input is reshaped to a batch
    of B·Z slices (``slice_axis=2``, Z), the 2D network runs once on all of them,
    and ISA runs on the re-stacked volume.  The output at slice ``i`` depends only
    on input slices ``i-k … i+k`` (in evaluation mode; in training, BatchNorm
    statistics mix the batch).

    Input size contract: 5D input; the two in-plane sizes must be multiples of
    ``2 ** (len(channels) - 1)`` (8 by default); any number of slices.

    Args:
        spatial_dims: must be 3 (the input is a volume; the convolutions are 2D).
        in_channels: input channels.
        out_channels: output classes (logits).
        channels, growth_rate, layers_per_block, bn_size, dropout_prob, norm, act: those of the
            slice network, :class:`~wmhseg.networks.dense_unet.DenseUNet2D`.
        num_neighbours: ISA neighbours on each side, ``k``.
        isa_position: ``"features"`` or ``"output"``.
        slice_axis: spatial axis holding the slices (2 = Z).
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        out_channels: int = 3,
        channels: Sequence[int] = (32, 64, 128, 256),
        growth_rate: int = 16,
        layers_per_block: int = 4,
        bn_size: int = 4,
        dropout_prob: float = 0.0,
        norm: str | tuple = "batch",
        act: str | tuple = "relu",
        num_neighbours: int = 1,
        isa_position: str = "features",
        slice_axis: int = 2,
    ) -> None:
        super().__init__()
        if spatial_dims != 3:
            raise ValueError(f"SAUNetISA segments volumes: spatial_dims must be 3, got {spatial_dims}.")
        if isa_position not in ISA_POSITIONS:
            raise ValueError(f"isa_position must be one of {ISA_POSITIONS}, got {isa_position!r}.")
        self.backbone = DenseUNet2D(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=out_channels,
            channels=channels,
            growth_rate=growth_rate,
            layers_per_block=layers_per_block,
            bn_size=bn_size,
            dropout_prob=dropout_prob,
            norm=norm,
            act=act,
        )
        self.isa_on_features = isa_position == "features"
        isa_channels = channels[0] if self.isa_on_features else out_channels
        self.isa = InterSliceAttention(isa_channels, num_neighbours, slice_axis=slice_axis)
        self.slice_dim = slice_axis + 2

    def to_slices(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *volume) → (B·S, C, *slice), S the number of slices."""
        moved = x.movedim(self.slice_dim, 1)
        return moved.reshape([-1] + list(moved.shape[2:]))

    def to_volume(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        """Inverse of :meth:`to_slices`."""
        return x.reshape([batch, -1] + list(x.shape[1:])).movedim(1, self.slice_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits.

        Args:
            x: (B, in_channels, X, Y, Z) (slices along ``slice_axis``), the in-plane sizes multiples
                of ``2 ** (len(channels) - 1)``.

        Returns:
            (B, out_channels, X, Y, Z) logits.
        """
        if x.dim() != 5:
            raise ValueError("SAUNetISA expects a (B, C, X, Y, Z) volume, got shape " + str(list(x.shape)) + ".")
        batch = x.shape[0]
        features = self.backbone.features(self.to_slices(x))
        if self.isa_on_features:
            features = self.to_slices(self.isa(self.to_volume(features, batch)))
            return self.to_volume(self.backbone.head(features), batch)
        return self.isa(self.to_volume(self.backbone.head(features), batch))
