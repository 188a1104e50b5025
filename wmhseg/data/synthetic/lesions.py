"""Where lesions go: continuous lesion scores on the subject's anatomy.

A score map is a smooth non-negative field; the lesion is the region where the score
exceeds a threshold. The threshold is chosen later, on the scanner grid, so that the
labelled volume matches the requested lesion load (``acquisition.calibrate_threshold``).
The score's shape carries the anatomy of white-matter hyperintensities of presumed
vascular origin (Fazekas-style): periventricular caps at the frontal and occipital horns
and a rim along the ventricles, punctate deep white-matter foci, and, with increasing
severity, confluent deep lesions and a thicker periventricular band. ``severity`` in
[0, 1] sets how many lesions there are and how far the periventricular band reaches.

"Other pathology" (label 2 of the WMH challenge) is modelled as infarct-like regions:
cortico-subcortical wedges and deep lacunes, each with a cavitated core and a gliotic rim.
"""

from __future__ import annotations

import numpy as np

from .anatomy import SubjectAnatomy
from .fields import smooth_random_field


def render_blob(score: np.ndarray, centre: np.ndarray, sigma: np.ndarray, amplitude: float) -> None:
    """score = max(score, amplitude * Gaussian(centre, sigma)) on a +-3 sigma window (voxel units)."""
    lo = np.maximum(np.floor(centre - 3 * sigma).astype(int), 0)
    hi = np.minimum(np.ceil(centre + 3 * sigma).astype(int) + 1, score.shape)
    if np.any(hi <= lo):
        return
    axes = [((np.arange(lo[d], hi[d], dtype=np.float32) - centre[d]) / sigma[d]) ** 2 for d in range(3)]
    blob = amplitude * np.exp(-0.5 * (axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]))
    window = score[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    np.maximum(window, blob, out=window)


def sample_voxels(candidates: np.ndarray, weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` voxel indices (n, 3) drawn from the candidate mask with probability proportional to ``weights``."""
    flat = np.flatnonzero(candidates)
    if n == 0 or flat.size == 0:
        return np.zeros((0, 3), dtype=int)
    p = weights.ravel()[flat].astype(np.float64)
    p /= p.sum()
    chosen = rng.choice(flat, size=n, replace=True, p=p)
    return np.stack(np.unravel_index(chosen, candidates.shape), axis=1)


def _horn_tips(anatomy: SubjectAnatomy) -> np.ndarray:
    """Voxel coordinates of the most anterior and posterior lateral-ventricle points per hemisphere."""
    inside = np.argwhere(anatomy.maps["ventricle_distance"] < 0.75)
    if inside.shape[0] == 0:
        return np.zeros((0, 3))
    world_x = inside @ anatomy.affine[0, :3] + anatomy.affine[0, 3]
    tips = []
    for side in (world_x < 0, world_x >= 0):
        points = inside[side]
        if points.shape[0]:
            world_y = points @ anatomy.affine[1, :3] + anatomy.affine[1, 3]
            tips += [points[np.argmax(world_y)], points[np.argmin(world_y)]]
    return np.asarray(tips, dtype=np.float32)


def wmh_score(anatomy: SubjectAnatomy, rng: np.random.Generator, severity: float) -> np.ndarray:
    """Score map of white-matter hyperintensities for a given ``severity`` in [0, 1] (float32)."""
    severity = float(np.clip(severity, 0.0, 1.0))
    maps, spacing = anatomy.maps, np.asarray(anatomy.spacing, dtype=np.float32)
    coarse, fine = (
        smooth_random_field(anatomy.shape, spacing, 9.0, rng, n_fields=1)[0],
        smooth_random_field(anatomy.shape, spacing, 3.5, rng, n_fields=1)[0],
    )

    # periventricular: a rim that thickens with severity, boosted into caps at the horns
    d_vent = maps["ventricle_distance"]
    reach_mm = 1.2 + 7.0 * severity * rng.uniform(0.7, 1.3)
    periventricular = np.exp(-d_vent / reach_mm)
    caps = np.zeros(anatomy.shape, dtype=np.float32)
    cap_mm = 4.0 + 9.0 * severity
    for tip in _horn_tips(anatomy):
        render_blob(caps, tip, np.full(3, cap_mm) / spacing * rng.uniform(0.8, 1.25, size=3), rng.uniform(0.7, 1.0))
    periventricular *= (0.5 + 0.8 * caps) * np.exp(0.35 * coarse)

    # deep white matter: punctate foci, and confluent clusters with increasing severity
    deep = np.zeros(anatomy.shape, dtype=np.float32)
    wm = maps["wm"]
    candidates = (maps["wm_depth"] > 1.5) & (d_vent > 5.0)
    n_punctate = int(rng.integers(2, 6) + round(30 * severity * rng.uniform(0.5, 1.5)))
    for centre in sample_voxels(candidates, wm, n_punctate, rng):
        radius_mm = rng.uniform(1.0, 2.6)
        render_blob(
            deep, centre.astype(np.float32), radius_mm / spacing * rng.uniform(0.7, 1.4, size=3), rng.uniform(0.4, 0.85)
        )
    n_clusters = int(round((1.0 + 7.0 * rng.uniform(0.6, 1.4)) * severity**1.5))
    for centre in sample_voxels(candidates & (maps["wm_depth"] > 3.0), wm, n_clusters, rng):
        for _ in range(int(rng.integers(3, 9))):
            offset_mm = rng.normal(0.0, 5.0, size=3)
            radius_mm = rng.uniform(2.5, 6.0)
            render_blob(
                deep,
                centre + offset_mm / spacing,
                radius_mm / spacing * rng.uniform(0.7, 1.4, size=3),
                rng.uniform(0.55, 0.9),
            )
    deep *= np.exp(0.3 * coarse)

    # lesions live in white matter, outside the ventricles
    gate = np.clip((wm - 0.25) / 0.5, 0.0, 1.0) * np.clip(d_vent / 1.0, 0.0, 1.0)
    return (np.maximum(periventricular, deep) * gate * np.exp(0.2 * fine)).astype(np.float32)


def infarct_score(anatomy: SubjectAnatomy, rng: np.random.Generator, n_regions: int) -> np.ndarray:
    """Score map of infarct-like regions; the region is score > 0.5, the cavitated core score > 0.8."""
    maps, spacing = anatomy.maps, np.asarray(anatomy.spacing, dtype=np.float32)
    score = np.zeros(anatomy.shape, dtype=np.float32)
    brain = maps["gm"] + maps["wm"]
    cortical = (maps["gm"] > 0.3) & (maps["wm"] > 0.2) & (maps["brain_distance"] == 0)
    deep = (maps["wm_depth"] > 3.0) & (maps["ventricle_distance"] > 4.0)
    for _ in range(n_regions):
        if rng.uniform() < 0.5:  # cortico-subcortical wedge, 8-18 mm
            centre, radius_mm = sample_voxels(cortical, brain, 1, rng), rng.uniform(8.0, 18.0)
        else:  # lacune, 2.5-6 mm
            centre, radius_mm = sample_voxels(deep, brain, 1, rng), rng.uniform(2.5, 6.0)
        if centre.shape[0]:
            render_blob(score, centre[0].astype(np.float32), radius_mm / spacing * rng.uniform(0.7, 1.3, size=3), 1.0)
    texture = smooth_random_field(anatomy.shape, spacing, 5.0, rng, n_fields=1)[0]
    return (score * np.exp(0.15 * texture) * np.clip(brain / 0.5, 0.0, 1.0)).astype(np.float32)
