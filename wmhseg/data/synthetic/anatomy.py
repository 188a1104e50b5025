"""Per-subject anatomy: the shipped atlas with enlarged ventricles, and a smooth elastic warp.

Ventricular enlargement (common in patients with WMH) turns tissue within a given
distance of the lateral ventricles into CSF. Lesion scores and the intensity image are
composed on the atlas grid, and then warped together by one smooth random displacement
field (``ElasticWarp``), which gives each phantom its own gyral and ventricular shape.
Global scaling and head rotation are applied later, when the subject is sampled onto
the scanner grid (``acquisition.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .atlas import TissueAtlas
from .fields import smooth_random_field


@dataclass
class SubjectAnatomy:
    """Tissue maps of one subject on the atlas grid (``affine`` voxel -> atlas mm), before warping."""

    maps: dict[str, np.ndarray]
    affine: np.ndarray

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.maps["gm"].shape


def subject_anatomy(
    atlas: TissueAtlas, ventricle_enlargement_mm: float = 0.0, tissue_sharpness: float = 1.0
) -> SubjectAnatomy:
    """The atlas maps for one subject.

    Tissue closer than ``ventricle_enlargement_mm`` to the lateral ventricles becomes CSF
    (and the ventricle distance shrinks by the same amount). ``tissue_sharpness`` k > 1
    sharpens the tissue boundaries of the population-average template towards those of one
    brain: each probability p becomes p^k / sum(p^k) over grey matter, white matter and CSF.
    """
    maps = dict(atlas.maps)
    if tissue_sharpness != 1.0:
        powered = [np.power(maps[name], np.float32(tissue_sharpness)) for name in ("gm", "wm", "csf")]
        total = powered[0] + powered[1] + powered[2]
        brain = maps["gm"] + maps["wm"] + maps["csf"]
        scale = np.divide(brain, total, out=np.zeros_like(total), where=total > 0)
        maps["gm"], maps["wm"], maps["csf"] = (p * scale for p in powered)
    if ventricle_enlargement_mm > 0:
        grown = maps["ventricle_distance"] < ventricle_enlargement_mm
        maps["csf"] = np.where(grown, maps["csf"] + maps["gm"] + maps["wm"], maps["csf"]).astype(np.float32)
        for name in ("gm", "wm", "wm_depth"):
            maps[name] = np.where(grown, np.float32(0), maps[name])
        maps["ventricle_distance"] = np.maximum(
            maps["ventricle_distance"] - np.float32(ventricle_enlargement_mm), np.float32(0)
        )
    return SubjectAnatomy(maps=maps, affine=atlas.affine.copy())


class ElasticWarp:
    """A smooth random displacement of the atlas grid, applied to any map on that grid.

    Each displacement component is a smooth random field (length scale ``correlation_mm``)
    with standard deviation ``displacement_mm``.
    """

    def __init__(
        self,
        shape: Sequence[int],
        spacing: Sequence[float],
        rng: np.random.Generator,
        displacement_mm: float = 3.0,
        correlation_mm: float = 20.0,
    ) -> None:
        field = smooth_random_field(shape, spacing, correlation_mm, rng, n_fields=3)
        field *= (displacement_mm / np.asarray(spacing, dtype=np.float32))[:, None, None, None]
        self.max_shift_voxels = int(np.ceil(np.abs(field).max()))
        self.coords = np.indices(shape, dtype=np.float32)
        self.coords += field

    def __call__(
        self, volume: np.ndarray, cval: float = 0.0, box: tuple[np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray:
        """Warp ``volume``; with ``box`` (start, stop) only that part of the output is computed, the rest is
        ``cval``."""
        if box is None:
            return ndi.map_coordinates(volume, self.coords, order=1, mode="constant", cval=cval, output=np.float32)
        out = np.full(volume.shape, cval, dtype=np.float32)
        (x0, y0, z0), (x1, y1, z1) = box
        out[x0:x1, y0:y1, z0:z1] = ndi.map_coordinates(
            volume, self.coords[:, x0:x1, y0:y1, z0:z1], order=1, mode="constant", cval=cval, output=np.float32
        )
        return out

    def support(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Output box (start, stop) that holds every warped voxel coming from ``mask``, or None if empty."""
        idx = np.argwhere(mask)
        if idx.shape[0] == 0:
            return None
        margin = self.max_shift_voxels + 1
        lo = np.maximum(idx.min(0) - margin, 0)
        hi = np.minimum(idx.max(0) + margin + 1, mask.shape)
        return lo, hi
