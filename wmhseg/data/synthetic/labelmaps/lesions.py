"""White-matter hyperintensities and infarcts painted into a label map's white matter.

All maps here live on the generator's 1 mm working grid. A lesion *score* is a smooth
non-negative field that is zero outside the cerebral white matter; the lesion is where the
score exceeds a threshold chosen so that the painted volume matches the requested load,
and the score above the threshold grades the lesion from its rim to its centre. The score
mixes, with random weights per sample, the patterns of small-vessel disease and multiple
sclerosis (Wardlaw et al., "Neuroimaging standards for research into small vessel disease",
Lancet Neurology 2013; Filippi et al., "Assessment of lesions on magnetic resonance imaging in
multiple sclerosis", Nature Reviews Neurology 2019):

- periventricular caps (at the frontal and occipital horns), rims and bands whose reach from
  the ventricles is modulated by smooth noise;
- deep punctate foci and, with load, confluent deep lesions;
- MS-like ovoid lesions elongated away from the ventricles (Dawson's fingers);
- small juxtacortical lesions at the white-matter edge.
"""

from __future__ import annotations

import numpy as np

from ..acquisition import calibrate_threshold
from ..fields import smooth_random_field
from ..lesions import render_blob, sample_voxels


def render_ellipsoid(score: np.ndarray, centre: np.ndarray, axes: np.ndarray, amplitude: float) -> None:
    """score = max(score, amplitude * Gaussian) for a Gaussian with principal semi-axes ``axes`` (3x3, rows, voxels)."""
    extent = 3.0 * np.sqrt((axes**2).sum(0))
    lo = np.maximum(np.floor(centre - extent).astype(int), 0)
    hi = np.minimum(np.ceil(centre + extent).astype(int) + 1, score.shape)
    if np.any(hi <= lo):
        return
    grids = np.meshgrid(*[np.arange(lo[d], hi[d], dtype=np.float32) - centre[d] for d in range(3)], indexing="ij")
    offsets = np.stack(grids, -1)
    inverse = np.linalg.inv(axes.T).astype(np.float32)
    local = offsets @ inverse.T
    blob = amplitude * np.exp(-0.5 * (local**2).sum(-1))
    window = score[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    np.maximum(window, blob, out=window)


def _direction_away(distance: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Unit gradient of a distance field at a voxel (central differences), or a random-free default."""
    p = np.clip(point.astype(int), 1, np.asarray(distance.shape) - 2)
    grad = np.array([distance[tuple(p + e)] - distance[tuple(p - e)] for e in np.eye(3, dtype=int)], dtype=np.float64)
    norm = np.linalg.norm(grad)
    return grad / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def _orthonormal(direction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows: ``direction`` and two random unit vectors orthogonal to it and to each other."""
    basis = np.linalg.qr(np.column_stack([direction, rng.standard_normal((3, 2))]))[0].T
    return basis * np.sign(basis[0] @ direction)


def wmh_score(
    wm: np.ndarray, ventricle_distance: np.ndarray, wm_depth: np.ndarray, rng: np.random.Generator, severity: float
) -> tuple[np.ndarray, dict[str, float]]:
    """Lesion score on the white matter ``wm`` (bool) of a 1 mm grid; returns the score and the pattern weights.

    ``severity`` in [0, 1] sets the number of foci and how far the periventricular band reaches.
    """
    shape = wm.shape
    weights = {
        "periventricular": rng.uniform(0.2, 1.0),
        "deep": rng.uniform(0.2, 1.0),
        "ovoid": rng.uniform(0.0, 1.0) if rng.uniform() < 0.6 else 0.0,
        "juxtacortical": rng.uniform(0.0, 0.8) if rng.uniform() < 0.5 else 0.0,
    }
    coarse, medium, fine = (
        smooth_random_field(shape, (1.0, 1.0, 1.0), 10.0, rng, n_fields=1)[0],
        smooth_random_field(shape, (1.0, 1.0, 1.0), 5.0, rng, n_fields=1)[0],
        smooth_random_field(shape, (1.0, 1.0, 1.0), 2.0, rng, n_fields=1)[0],
    )
    score = np.zeros(shape, dtype=np.float32)

    # periventricular rim/band, boosted into caps at the horn tips
    reach = (1.0 + 9.0 * severity) * rng.uniform(0.6, 1.4)
    band = np.exp(-ventricle_distance / np.float32(reach)) * np.exp(np.float32(0.5) * coarse)
    caps = np.zeros(shape, dtype=np.float32)
    near = np.argwhere((ventricle_distance < 1.5) & wm)
    if near.shape[0]:
        for side in (near[:, 0] < np.median(near[:, 0]), near[:, 0] >= np.median(near[:, 0])):
            points = near[side]
            for tip in (points[np.argmax(points[:, 1])], points[np.argmin(points[:, 1])]):
                radius = (3.0 + 9.0 * severity) * rng.uniform(0.7, 1.3, size=3)
                render_blob(caps, tip.astype(np.float32), radius, rng.uniform(0.6, 1.0))
    np.maximum(score, weights["periventricular"] * band * (0.55 + 0.6 * caps), out=score)

    deep_candidates = wm & (wm_depth > 1.5) & (ventricle_distance > 4.0)
    n_punctate = int(rng.integers(1, 8) + round(40 * severity * rng.uniform(0.3, 1.5)))
    deep = np.zeros(shape, dtype=np.float32)
    for centre in sample_voxels(deep_candidates, wm_depth.astype(np.float32) + 1, n_punctate, rng):
        render_blob(
            deep,
            centre.astype(np.float32),
            rng.uniform(0.8, 2.5) * rng.uniform(0.7, 1.4, size=3),
            rng.uniform(0.5, 0.95),
        )
    n_clusters = int(round(10.0 * rng.uniform(0.3, 1.5) * severity**1.5))
    for centre in sample_voxels(deep_candidates & (wm_depth > 3.0), wm_depth.astype(np.float32), n_clusters, rng):
        for _ in range(int(rng.integers(2, 8))):
            render_blob(
                deep,
                centre + rng.normal(0.0, 5.0, size=3),
                rng.uniform(2.0, 6.0) * rng.uniform(0.7, 1.4, size=3),
                rng.uniform(0.55, 0.95),
            )
    confluent = np.clip(medium - (2.2 - 1.2 * severity), 0.0, None) * (wm_depth > 2.0)
    np.maximum(deep, np.float32(0.8) * confluent, out=deep)
    np.maximum(score, weights["deep"] * deep * np.exp(np.float32(0.3) * coarse), out=score)

    if weights["ovoid"] > 0:
        ovoid = np.zeros(shape, dtype=np.float32)
        candidates = wm & (ventricle_distance > 1.0) & (ventricle_distance < 18.0)
        for centre in sample_voxels(
            candidates, np.ones(shape, np.float32), int(rng.integers(2, 6) + round(25 * severity)), rng
        ):
            axes = _orthonormal(_direction_away(ventricle_distance, centre), rng)
            radii = rng.uniform(1.5, 4.5) * np.array([rng.uniform(1.4, 2.6), 1.0, rng.uniform(0.7, 1.0)])
            render_ellipsoid(ovoid, centre.astype(np.float32), axes * radii[:, None], rng.uniform(0.6, 1.0))
        np.maximum(score, weights["ovoid"] * ovoid, out=score)

    if weights["juxtacortical"] > 0:
        juxta = np.zeros(shape, dtype=np.float32)
        for centre in sample_voxels(
            wm & (wm_depth < 2.5), np.ones(shape, np.float32), int(rng.integers(1, 5) + round(10 * severity)), rng
        ):
            render_blob(
                juxta,
                centre.astype(np.float32),
                rng.uniform(1.0, 3.0) * rng.uniform(0.7, 1.4, size=3),
                rng.uniform(0.5, 0.9),
            )
        np.maximum(score, weights["juxtacortical"] * juxta, out=score)

    score *= np.exp(np.float32(0.25) * fine)
    score[~wm] = 0.0
    return score, weights


def lesion_from_score(
    score: np.ndarray, region: np.ndarray, n_voxels: int, rim: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_voxels`` highest-scoring voxels of ``region`` as a mask, and a rim-to-centre grade in [0, 1]."""
    inside = score[region]
    n_voxels = int(min(n_voxels, np.count_nonzero(inside > 0)))
    if n_voxels == 0:
        return np.zeros(score.shape, bool), np.zeros(score.shape, np.float32)
    threshold = calibrate_threshold(inside, n_voxels)
    mask = (score > threshold) & region
    grade = np.clip((score - threshold) / np.float32(max(threshold, 1e-6) * rim), 0.0, 1.0)
    grade[~mask] = 0.0
    return mask, grade.astype(np.float32)


def infarct_regions(
    parenchyma: np.ndarray, wm: np.ndarray, wm_depth: np.ndarray, rng: np.random.Generator, n_regions: int
) -> tuple[np.ndarray, np.ndarray]:
    """Infarct-like regions (label 2): cortico-subcortical wedges and lacunes; returns (region, cavitated core)."""
    score = np.zeros(parenchyma.shape, dtype=np.float32)
    boundary = wm & (wm_depth < 1.5)
    lacune_sites = wm & (wm_depth > 3.0)
    for _ in range(n_regions):
        wedge = rng.uniform() < 0.5
        centre = sample_voxels(boundary if wedge else lacune_sites, np.ones(score.shape, np.float32), 1, rng)
        if centre.shape[0]:
            radius = rng.uniform(6.0, 15.0) if wedge else rng.uniform(2.0, 5.0)
            render_blob(score, centre[0].astype(np.float32), radius * rng.uniform(0.7, 1.3, size=3), 1.0)
    score *= np.exp(np.float32(0.2) * smooth_random_field(score.shape, (1.0, 1.0, 1.0), 4.0, rng)[0])
    region = (score > 0.5) & parenchyma
    return region, region & (score > 0.85)
