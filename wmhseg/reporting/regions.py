"""Periventricular and deep WMH: each lesion classified by its distance to the lateral ventricles.

A lesion (26-connected component) is *periventricular* when any of its voxels lies within
``distance_mm`` (10 mm by default) of the lateral ventricles, and *deep* otherwise: the
distance rule with the common 10 mm cut-off (Griffanti L. et al., "Classification and
characterization of periventricular and deep white matter hyperintensities on MRI: a study in
older adults", NeuroImage 2018; FSL BIANCA's ``bianca_perivent_deep`` uses the same 10 mm).
Applied per lesion, a confluent lesion that reaches the ventricles counts as periventricular as a
whole, so the regional volumes add up to the total WMH volume. Without any ventricle voxel the
region is ``undetermined``.

Distances are Euclidean in millimetres on the mask's own grid (anisotropic voxels included),
computed only in a box around the ventricles, since farther voxels are deep anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

REGIONS = ("periventricular", "deep", "undetermined")
DEFAULT_PERIVENTRICULAR_MM = 10.0


def distance_to_ventricles(
    ventricles: np.ndarray, spacing: Sequence[float], within_mm: float
) -> tuple[np.ndarray, tuple[slice, ...]] | None:
    """Distance (mm) to the nearest ventricle voxel in the box of voxels that can be within ``within_mm``, and
    that box; None without ventricles."""
    idx = np.argwhere(ventricles)
    if idx.shape[0] == 0:
        return None
    reach = np.ceil(within_mm / np.asarray(spacing, dtype=float)).astype(int) + 1
    lo = np.maximum(idx.min(0) - reach, 0)
    hi = np.minimum(idx.max(0) + reach + 1, ventricles.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    return ndimage.distance_transform_edt(~ventricles[box], sampling=spacing), box


def lesion_regions(
    labels: np.ndarray,
    n: int,
    ventricles: np.ndarray | None,
    spacing: Sequence[float],
    distance_mm: float = DEFAULT_PERIVENTRICULAR_MM,
) -> list[str]:
    """Region of each lesion 1..n of ``labels`` (see the module docstring)."""
    if n == 0:
        return []
    if distance_mm < 0:
        raise ValueError(f"periventricular distance must be >= 0 mm, got {distance_mm}")
    if ventricles is None:
        return ["undetermined"] * n
    if ventricles.shape != labels.shape:
        raise ValueError(f"ventricle mask shape {ventricles.shape} differs from the lesion labels' {labels.shape}")
    found = distance_to_ventricles(np.asarray(ventricles, bool), spacing, distance_mm)
    if found is None:
        return ["undetermined"] * n
    distance, box = found
    near = np.zeros(n + 1, dtype=bool)
    close = labels[box][distance <= distance_mm]
    near[np.unique(close)] = True
    return ["periventricular" if near[i] else "deep" for i in range(1, n + 1)]


def regional_volumes(volumes_ml: Sequence[float], regions: Sequence[str]) -> dict[str, float]:
    """``{"<region>_volume_ml": total}`` for the periventricular and deep regions (and undetermined, if any)."""
    totals = {f"{region}_volume_ml": 0.0 for region in REGIONS[:2]}
    for volume, region in zip(volumes_ml, regions):
        totals[f"{region}_volume_ml"] = totals.get(f"{region}_volume_ml", 0.0) + float(volume)
    return totals
