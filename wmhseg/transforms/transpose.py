"""Random transposition of two spatial axes (X <-> Y by default).

The 3D SA-UNet training applies it online to every slab with probability 0.5 (Guo,
arXiv:2309.08402, ``train.py``); MONAI has no random transpose, hence this transform.
The same decision applies to every key, and the affine in the metadata is updated.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform


class RandTransposeAxesd(RandomizableTransform, MapTransform):
    """With probability ``prob``, swap ``spatial_axes`` (0-based, channel excluded) in every key.

    Shapes must agree on the two axes for batches to collate (square patches in-plane).
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.5,
        spatial_axes: Sequence[int] = (0, 1),
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if len(spatial_axes) != 2 or spatial_axes[0] == spatial_axes[1]:
            raise ValueError(f"spatial_axes must name two different axes, got {spatial_axes}")
        self.spatial_axes = (int(spatial_axes[0]), int(spatial_axes[1]))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        a, b = self.spatial_axes
        for key in self.key_iterator(d):
            image = d[key]
            out = torch.as_tensor(image).transpose(a + 1, b + 1).contiguous()
            if isinstance(image, MetaTensor):
                affine = image.affine.clone()
                affine[:, [a, b]] = affine[:, [b, a]]
                out = MetaTensor(out, meta=dict(image.meta), applied_operations=list(image.applied_operations))
                out.affine = affine
            d[key] = out
        return d
