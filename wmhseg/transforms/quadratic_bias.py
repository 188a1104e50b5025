"""The 3D SA-UNet's quadratic bias field (Guo, arXiv:2309.08402, ``traindata_pre.py``).

Multiplies the image by G = 1 - [(x - x0)^2 / H^2 + (y - y0)^2 / W^2 + (z - z0)^2 / D^2],
with 1-based voxel coordinates, (H, W, D) the spatial size, and the centre drawn uniformly
from the integers 1..size on each axis. G is not clipped and can be negative far from
the centre, as in the reference. MONAI's ``RandBiasField`` is a different (log-polynomial)
model. The reference applies it to raw intensities: wrap it in ``ApplyToRawIntensityd``
when the image is normalised.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform


class RandQuadraticBiasFieldd(RandomizableTransform, MapTransform):
    """With probability ``prob``, multiply every key by one quadratic field G (see the module docstring)."""

    def __init__(self, keys: KeysCollection, prob: float = 0.1, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self._centre: list[int] = []

    def field(self, spatial_shape: tuple[int, ...], centre: list[int]) -> torch.Tensor:
        """G on a grid of ``spatial_shape`` for a 1-based ``centre``."""
        g = torch.ones(spatial_shape, dtype=torch.float32)
        for axis, (size, c) in enumerate(zip(spatial_shape, centre)):
            coordinate = torch.arange(1, size + 1, dtype=torch.float32)
            term = (coordinate - c) ** 2 / float(size) ** 2
            g = g - term.reshape([-1 if i == axis else 1 for i in range(len(spatial_shape))])
        return g

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        keys = list(self.key_iterator(d))
        if not keys:
            return d
        spatial_shape = tuple(d[keys[0]].shape[1:])
        centre = [int(self.R.randint(1, size + 1)) for size in spatial_shape]
        g = self.field(spatial_shape, centre)
        for key in keys:
            image = d[key]
            d[key] = image * g.to(device=image.device, dtype=image.dtype)
        return d
