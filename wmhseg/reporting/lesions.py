"""Per-lesion statistics of a WMH mask: 26-connected components with size, volume, centroid and probability.

A lesion is a 26-connected component of the mask (voxels touching by a face, an
edge or a corner), as in the WMH challenge's lesion-wise F1.  Volumes use the voxel
volume of the grid the mask lies on, centroids are mapped to world coordinates
(RAS+, mm, the NIfTI convention) by the mask's affine.

The ``region`` column (periventricular, deep or undetermined) is set by the caller
(:mod:`wmhseg.reporting.regions`), from the ventricle mask where the network gives one.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ..io import write_text_atomic

LESION_COLUMNS = (
    "lesion_id",
    "voxels",
    "volume_ml",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
    "mean_prob",
    "max_prob",
    "region",
)
"""Columns of ``lesions.csv``; centroids are world RAS+ millimetres."""

CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)


def label_lesions(mask: np.ndarray, min_voxels: int = 1) -> tuple[np.ndarray, int]:
    """Label the 26-connected components of ``mask``, dropping those under ``min_voxels`` voxels.

    Returns:
        ``(labels, n)``: an int32 array with 0 for background and 1..n for the kept
        lesions, numbered in the order of their first voxel in C order, and ``n``.
    """
    labels, n = ndimage.label(np.asarray(mask, dtype=bool), structure=CONNECTIVITY_26)
    labels = labels.astype(np.int32, copy=False)
    if n and min_voxels > 1:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= min_voxels
        keep[0] = False
        new_ids = np.zeros(n + 1, dtype=np.int32)
        new_ids[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
        labels, n = new_ids[labels], int(keep.sum())
    return labels, int(n)


def lesion_table(labels: np.ndarray, n: int, affine: np.ndarray, prob: np.ndarray | None = None) -> list[dict]:
    """One row per lesion of ``labels`` (from :func:`label_lesions`) with the :data:`LESION_COLUMNS`.

    Args:
        labels: lesion labels 1..n on the image grid.
        n: number of lesions.
        affine: voxel → world (RAS+, mm) matrix of the grid.
        prob: WMH probability on the same grid, for ``mean_prob`` and ``max_prob`` (NaN without it).
    """
    if n == 0:
        return []
    ids = np.arange(1, n + 1)
    flat = labels.ravel()
    inside = np.flatnonzero(flat)  # the lesion voxels only: every statistic is a bincount over them
    lesion = flat[inside]
    voxels = np.bincount(lesion, minlength=n + 1)[1:]
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    coords = np.unravel_index(inside, labels.shape)
    centroids_vox = (
        np.stack([np.bincount(lesion, weights=c, minlength=n + 1)[1:] for c in coords], axis=1) / voxels[:, None]
    )
    centroids_mm = centroids_vox @ affine[:3, :3].T + affine[:3, 3]
    if prob is not None:
        values = np.asarray(prob).ravel()[inside].astype(np.float64)
        mean_prob = np.bincount(lesion, weights=values, minlength=n + 1)[1:] / voxels
        max_prob = np.full(n + 1, -np.inf)
        np.maximum.at(max_prob, lesion, values)
        max_prob = max_prob[1:]
    else:
        mean_prob = max_prob = np.full(n, np.nan)
    return [
        {
            "lesion_id": int(i),
            "voxels": int(v),
            "volume_ml": float(v) * voxel_ml,
            "centroid_x_mm": float(c[0]),
            "centroid_y_mm": float(c[1]),
            "centroid_z_mm": float(c[2]),
            "mean_prob": float(mp),
            "max_prob": float(xp),
        }
        for i, v, c, mp, xp in zip(ids, voxels, centroids_mm, mean_prob, max_prob)
    ]


_FORMATS = {
    "volume_ml": "{:.6f}",
    "centroid_x_mm": "{:.2f}",
    "centroid_y_mm": "{:.2f}",
    "centroid_z_mm": "{:.2f}",
    "mean_prob": "{:.4f}",
    "max_prob": "{:.4f}",
}


def write_lesion_csv(rows: Sequence[dict], path: str | os.PathLike) -> None:
    """Write the lesion table (header row even when there is no lesion) atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LESION_COLUMNS)
    for row in rows:
        writer.writerow([_FORMATS.get(k, "{}").format(row.get(k, "")) for k in LESION_COLUMNS])
    write_text_atomic(path, buffer.getvalue())
