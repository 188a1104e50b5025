"""DropBlock regularisation (Ghiasi et al., NeurIPS 2018), 2D and 3D, registered in MONAI's Dropout factory."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.layers.factories import Dropout
from monai.utils import ensure_tuple_rep


class DropBlock(nn.Module):
    """Drop contiguous blocks of each feature map during training.

    Ghiasi G., Lin T.-Y., Le Q.V., "DropBlock: A regularization method for
    convolutional networks", NeurIPS 2018, arXiv:1810.12890.  The semantics are
    those of torchvision ``ops.DropBlock2d``/``DropBlock3d`` and, with
    ``p = 1 - keep_prob``, of the Keras layer used by SA-UNet (Guo et al.,
    ICPR 2020):

    1. the seed rate is ``gamma = p / prod(bs) * prod(S) / prod(S - bs + 1)`` for
       block size ``bs`` and feature size ``S`` per axis;
    2. Bernoulli(gamma) seeds are drawn independently per sample and channel, only
       where a whole block fits (the seed region is trimmed by ``bs // 2`` at every
       edge);
    3. each seed grows into a block by a stride-1 max-pool of size ``bs``;
    4. the kept activations are rescaled by ``numel / (eps + number kept)``, counted
       over the whole tensor.

    In evaluation mode, or with ``p == 0``, the layer is the identity.

    Where a feature map is smaller than the block along an axis, the block is cut
    to the largest odd size that fits (torchvision would raise on an even size);
    this only happens for inputs much smaller than the design size.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3.
        p: drop probability, ``1 - keep_prob`` in the Keras layer.
        block_size: odd block size, an int or one per axis (e.g. ``(7, 7, 1)``).
        eps: added to the kept count before rescaling.
    """

    def __init__(
        self, spatial_dims: int, p: float = 0.1, block_size: Sequence[int] | int = 7, eps: float = 1e-6
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"DropBlock supports 2 or 3 spatial dimensions, got {spatial_dims}.")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability p must be in [0, 1], got {p}.")
        block = [int(b) for b in ensure_tuple_rep(block_size, spatial_dims)]
        if any(b < 1 or b % 2 == 0 for b in block):
            raise ValueError(f"block_size must be odd and positive on every axis, got {tuple(block)}.")
        self.spatial_dims = spatial_dims
        self.p = float(p)
        self.block_size = block
        self.eps = float(eps)

    def extra_repr(self) -> str:
        return f"p={self.p}, block_size={tuple(self.block_size)}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) → (B, C, *spatial), ``spatial_dims`` spatial axes."""
        if not self.training or self.p == 0.0:
            return x
        sizes = x.shape[2:]
        block: list[int] = []
        seed_shape: list[int] = [x.shape[0], x.shape[1]]
        gamma = self.p
        for size, wanted in zip(sizes, self.block_size):
            b = min(size, wanted)
            b = b if b % 2 == 1 else b - 1
            block.append(b)
            seed_shape.append(size - b + 1)
            gamma = gamma * size / (b * (size - b + 1))
        seeds = (torch.rand(seed_shape, dtype=x.dtype, device=x.device) < gamma).to(x.dtype)
        half = [b // 2 for b in block]
        # F.pad lists the last axis first.
        pad: list[int] = []
        for h in half[::-1]:
            pad += [h, h]
        seeds = F.pad(seeds, pad)
        if self.spatial_dims == 2:
            dropped = F.max_pool2d(seeds, block, stride=1, padding=half)
        else:
            dropped = F.max_pool3d(seeds, block, stride=1, padding=half)
        keep = 1.0 - dropped
        return x * keep * (keep.numel() / (self.eps + keep.sum()))


class DropBlock2d(DropBlock):
    """:class:`DropBlock` on (B, C, H, W) feature maps."""

    def __init__(self, p: float = 0.1, block_size: Sequence[int] | int = 7, eps: float = 1e-6) -> None:
        super().__init__(2, p, block_size, eps)


class DropBlock3d(DropBlock):
    """:class:`DropBlock` on (B, C, X, Y, Z) feature maps; ``block_size`` may differ per axis."""

    def __init__(self, p: float = 0.1, block_size: Sequence[int] | int = 7, eps: float = 1e-6) -> None:
        super().__init__(3, p, block_size, eps)


def _dropblock_factory(dim: int) -> type[DropBlock]:
    """DropBlock in 2 or 3 spatial dimensions (``dropout=("dropblock", {"p": ..., "block_size": ...})``)."""
    if dim not in (2, 3):
        raise ValueError(f"dropblock is defined for dropout_dim 2 or 3, got {dim}.")
    return DropBlock2d if dim == 2 else DropBlock3d


if "DROPBLOCK" not in Dropout.components:
    Dropout.add_factory_callable("dropblock", _dropblock_factory)
