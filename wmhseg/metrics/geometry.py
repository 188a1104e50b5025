"""Voxel spacing, the only part of the voxel geometry the challenge metrics depend on.

The official evaluation maps contour voxels to physical points with the reference's origin, spacing and
orthonormal direction; distances between such points equal those on an axis-aligned grid with the same spacing,
so origin and direction cannot change any metric (Kuijf et al., IEEE TMI 2019; see ``wmh-evaluation.md`` §5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["Geometry", "spacing_from_geometry"]

Geometry = Union[Sequence[float], np.ndarray, "torch.Tensor"]


def spacing_from_geometry(geometry: Geometry) -> tuple[float, float, float]:
    """Voxel spacing in mm along the array axes (X, Y, Z) of a volume in nibabel/MONAI voxel order.

    Args:
        geometry: one of
            * three spacings ``(sx, sy, sz)`` in mm, in the array's axis order;
            * a 4×4 (or 3×4) voxel-to-world affine, numpy or torch (e.g. ``nibabel`` ``img.affine``): the
              spacing is the length of each of the first three columns;
            * a MONAI ``MetaTensor`` of one volume: its ``affine`` is used as above.

    Raises:
        ValueError: for anything else, a batched affine, or a spacing that is not finite and positive.
    """
    affine = getattr(geometry, "affine", None)  # MetaTensor
    if affine is not None:
        geometry = affine
    if hasattr(geometry, "detach"):  # torch tensor (torch is not imported here, to keep file scoring light)
        geometry = geometry.detach().cpu().numpy()
    values = np.asarray(geometry, dtype=float)
    if values.shape == (3,):
        spacing = values
    elif values.ndim == 2 and values.shape[0] in (3, 4) and values.shape[1] == 4:
        spacing = np.linalg.norm(values[:3, :3], axis=0)
    else:
        raise ValueError(
            "geometry must be 3 spacings, a 4x4 affine or a MetaTensor of one volume; "
            f"got an array of shape {values.shape}"
        )
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise ValueError(f"voxel spacing must be finite and positive, got {tuple(spacing)}")
    return float(spacing[0]), float(spacing[1]), float(spacing[2])
