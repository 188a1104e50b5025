"""Smooth random fields on a voxel grid, cheap enough to draw several per phantom.

A field is a random coefficient grid expanded with a separable Gaussian basis (one
small matrix per axis), so its cost is a few matrix products rather than a 3D
convolution or a spline evaluation. Fields have zero mean and unit standard
deviation over the grid (up to sub-sampling) and vary on the length scale ``correlation_mm``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _axis_basis(size: int, spacing: float, correlation_mm: float) -> np.ndarray:
    """(size, m) Gaussian radial basis with centres every ``correlation_mm`` covering the axis and a margin."""
    extent = size * spacing
    n_centres = max(2, int(np.ceil(extent / correlation_mm)) + 3)
    centres = (np.arange(n_centres) - 1.5) * correlation_mm + 0.5 * (extent - (n_centres - 4) * correlation_mm)
    positions = (np.arange(size) + 0.5) * spacing
    return np.exp(-0.5 * ((positions[:, None] - centres[None, :]) / correlation_mm) ** 2).astype(np.float32)


def smooth_random_field(
    shape: Sequence[int],
    spacing: Sequence[float],
    correlation_mm: float,
    rng: np.random.Generator,
    n_fields: int = 1,
) -> np.ndarray:
    """``n_fields`` independent smooth random fields, shape ``(n_fields, *shape)``, float32.

    Each field is normalised to zero mean and unit standard deviation over the grid (estimated on
    every second voxel per axis, which is exact enough for a field this smooth).
    """
    bases = [_axis_basis(s, d, correlation_mm) for s, d in zip(shape, spacing)]
    out = np.empty((n_fields, *shape), dtype=np.float32)
    for i in range(n_fields):
        field = rng.standard_normal(tuple(b.shape[1] for b in bases)).astype(np.float32)
        field = np.tensordot(field, bases[2], axes=([2], [1]))  # (m0, m1, z)
        field = np.einsum("abz,yb->ayz", field, bases[1], optimize=True)  # (m0, y, z)
        field = np.tensordot(bases[0], field, axes=([1], [0]))  # (x, y, z)
        sub = field[::2, ::2, ::2]  # statistics on every 8th voxel: the field is smooth
        mean, std = float(sub.mean()), float(sub.std())
        np.subtract(field, mean, out=out[i])
        if std > 0:
            out[i] /= std
    return out
