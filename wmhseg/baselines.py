"""A classical WMH baseline: one global intensity threshold, k times the brain's median FLAIR intensity.

On a skull-stripped FLAIR the brain is the non-zero region; WMH is every brain voxel brighter
than ``k`` times its median (the simplest of the histogram methods reviewed by Caligiuri et al.,
"Automatic detection of white matter hyperintensities in healthy aging and pathology using
magnetic resonance imaging: a review", Neuroinformatics 2015). ``k`` is chosen on synthetic
images only (``choose_k``), never on the real data it is compared on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .metrics import dice

DEFAULT_KS = tuple(np.round(np.arange(1.05, 2.01, 0.05), 2))


def threshold_mask(image: np.ndarray, k: float) -> np.ndarray:
    """WMH mask of a skull-stripped FLAIR: non-zero voxels above ``k`` x their median (uint8)."""
    image = np.asarray(image, dtype=np.float32)
    brain = image != 0
    if not brain.any():
        return np.zeros(image.shape, np.uint8)
    return ((image > k * float(np.median(image[brain]))) & brain).astype(np.uint8)


def choose_k(cases: Iterable[tuple[np.ndarray, np.ndarray]], ks: Sequence[float] = DEFAULT_KS) -> tuple[float, dict]:
    """The ``k`` with the best mean Dice over ``cases`` (image, reference WMH mask), and every k's mean Dice."""
    cases = list(cases)
    if not cases:
        raise ValueError("choose_k needs at least one (image, reference) case")
    scores = {
        float(k): float(np.nanmean([dice(ref.astype(bool), threshold_mask(img, k).astype(bool)) for img, ref in cases]))
        for k in ks
    }
    best = max(scores, key=lambda k: (np.nan_to_num(scores[k], nan=-1.0), -k))
    return best, scores
