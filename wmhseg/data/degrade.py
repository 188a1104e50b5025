"""Clinical protocols made from a high-resolution image by averaging blocks of voxels.

A 1 mm 3D FLAIR becomes, for example, a 0.5x0.5x5 mm or 1x1x6 mm 2D-like acquisition: each
new voxel is the mean of a block of ``factors`` source voxels (a box slice profile), and a
reference mask is resampled the same way, keeping the voxels whose block is more than half
lesion (the >50 % partial-volume rule of the WMH challenge reference standard). In-plane
factors below 1 (e.g. 0.5 for 0.5 mm from 1 mm) repeat voxels instead (zero-order
upsampling), as a scanner's reconstruction zoom does without adding detail.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def block_factors(spacing: Sequence[float], target_spacing: Sequence[float]) -> list[float]:
    """Per-axis factor target / source (integers for averaging, 1/integers for repetition)."""
    factors = []
    for source, target in zip(spacing, target_spacing):
        ratio = float(target) / float(source)
        rounded = round(ratio) if ratio >= 1 else 1.0 / round(1.0 / ratio)
        if abs(rounded - ratio) > 1e-3 * ratio:
            raise ValueError(
                f"target spacing {tuple(target_spacing)} is not an integer multiple or fraction of "
                f"{tuple(float(s) for s in spacing)}"
            )
        factors.append(float(rounded))
    return factors


def degrade(
    volume: np.ndarray, affine: np.ndarray, target_spacing: Sequence[float], is_mask: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``volume`` on a grid of ``target_spacing`` mm, by block averaging (masks: > 50 % of the block).

    Trailing voxels that do not fill a block are dropped. Returns the new array and affine (same
    orientation; voxel centres at the block centres).
    """
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    factors = block_factors(spacing, target_spacing)
    out = volume.astype(np.float32)
    new_affine = affine.copy()
    for axis, factor in enumerate(factors):
        if factor >= 1:
            n = int(factor)
            length = (out.shape[axis] // n) * n
            kept = np.take(out, np.arange(length), axis=axis)
            shape = list(kept.shape)
            shape[axis : axis + 1] = [length // n, n]
            out = kept.reshape(shape).mean(axis=axis + 1)
            shift = (n - 1) / 2.0
        else:
            n = int(round(1.0 / factor))
            out = np.repeat(out, n, axis=axis)
            shift = -(n - 1) / (2.0 * n)
        new_affine[:3, axis] = affine[:3, axis] * factor
        new_affine[:3, 3] += affine[:3, axis] * shift
    if is_mask:
        return (out > 0.5).astype(np.uint8), new_affine
    return out.astype(np.float32), new_affine
