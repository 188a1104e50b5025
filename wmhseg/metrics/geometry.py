"""Voxel geometry for the challenge metrics: the linear map from voxel index steps to millimetres.

The official evaluation maps contour voxels to physical points with the reference's origin, spacing and
direction (``TransformIndexToPhysicalPoint``: p = origin + D·(spacing ∘ index); Kuijf et al., IEEE TMI 2019;
hjkuijf/wmhchallenge ``evaluation.py``, ``getHausdorff``). Only the 3×3 part M = D·diag(spacing) matters for distances, and since D is
orthonormal, only the spacing matters up to the rounding of D in the file header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["Geometry", "voxel_matrix", "spacing_from_geometry"]

Geometry = Union[Sequence[float], np.ndarray, "torch.Tensor"]


def voxel_matrix(geometry: Geometry) -> np.ndarray:
    """3×3 float64 matrix whose column i is the world displacement (mm) of one voxel step along array axis i.

    Args:
        geometry: one of
            * three spacings ``(sx, sy, sz)`` in mm, in the array's axis order (a diagonal matrix);
            * a 4×4 (or 3×4) voxel-to-world affine, numpy or torch: e.g. ``nibabel`` ``img.affine`` for an array
              in nibabel order, or ``[D·diag(spacing) | origin]`` from SimpleITK for the transposed ITK array;
            * a MONAI ``MetaTensor`` of one volume: its ``affine``.

    Raises:
        ValueError: for anything else, a batched affine, or a spacing that is not finite and positive.
    """
    affine = getattr(geometry, "affine", None)  # MetaTensor
    if affine is not None:
        geometry = affine
    if hasattr(geometry, "detach"):  # torch tensor (torch is not imported here, to keep file scoring light)
        geometry = geometry.detach().cpu().numpy()
    values = np.asarray(geometry, dtype=np.float64)
    if values.shape == (3,):
        matrix = np.diag(values)
    elif values.ndim == 2 and values.shape[0] in (3, 4) and values.shape[1] == 4:
        matrix = values[:3, :3].copy()
    else:
        raise ValueError(
            "geometry must be 3 spacings, a 4x4 affine or a MetaTensor of one volume; "
            f"got an array of shape {values.shape}"
        )
    spacing = np.linalg.norm(matrix, axis=0)
    if not np.all(np.isfinite(matrix)) or np.any(spacing <= 0) or (values.shape == (3,) and np.any(values <= 0)):
        raise ValueError(f"voxel spacing must be finite and positive, got {tuple(spacing)} from {values.tolist()}")
    return matrix


def spacing_from_geometry(geometry: Geometry) -> tuple[float, float, float]:
    """Voxel spacing in mm along the array axes (the column lengths of :func:`voxel_matrix`)."""
    spacing = np.linalg.norm(voxel_matrix(geometry), axis=0)
    return float(spacing[0]), float(spacing[1]), float(spacing[2])
