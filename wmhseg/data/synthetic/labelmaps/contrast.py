"""FLAIR-like intensities for a label map: a contrast prior per tissue, texture, and bright non-lesions.

Each sample draws one mean intensity per label (relative to cerebral white matter = 1)
from a FLAIR prior per tissue group, or, for a share of samples, fully at random as in
SynthSeg (Billot et al., Medical Image Analysis 2023), so the network cannot rely on one
contrast. Texture is a smooth multiplicative field per label. Bright structures that are
not WMH, and that a WMH model must learn to leave alone, are added and stay background:
bright cortex patches, choroid-plexus-like spots in the ventricles, flow-like spots in the
CSF and imperfect CSF suppression.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..fields import smooth_random_field
from ..lesions import render_blob, sample_voxels
from .anatomy import tissue_group

#: FLAIR prior: range of each group's mean intensity relative to cerebral white matter.
FLAIR_PRIOR: dict[str, tuple[float, float]] = {
    "background": (0.0, 0.0),
    "wm": (1.0, 1.0),
    "cortex": (1.02, 1.3),
    "deep_grey": (0.9, 1.3),
    "mesial_temporal": (1.05, 1.4),
    "cerebellum_wm": (0.85, 1.15),
    "cerebellum_cortex": (0.95, 1.3),
    "brainstem": (0.9, 1.3),
    "brain_other": (0.8, 1.3),
    "ventricles": (0.03, 0.35),
    "csf": (0.03, 0.4),
    "vessel": (0.1, 1.4),
    "choroid": (0.6, 1.5),
    "extra": (0.02, 1.8),
}


def draw_label_means(values: np.ndarray, rng: np.random.Generator, random_contrast: bool) -> np.ndarray:
    """Mean intensity of each label value (white matter 1, background 0)."""
    groups = [tissue_group(int(v)) for v in values]
    if random_contrast:
        means = rng.uniform(0.0, 1.6, size=len(values))
        means[[g == "wm" for g in groups]] = 1.0
    else:
        group_means = {g: rng.uniform(*FLAIR_PRIOR[g]) for g in set(groups)}
        means = np.array(
            [group_means[g] * (1.0 if g in ("wm", "background") else rng.uniform(0.95, 1.05)) for g in groups]
        )
    means[[g == "background" for g in groups]] = 0.0
    return means.astype(np.float32)


def lesion_contrast(rng: np.random.Generator, random_contrast: bool) -> dict[str, float]:
    """Lesion intensity relative to white matter at the rim and at the centre (from barely to strongly brighter).

    The centre spans 1.15-2.2 times white matter: WMH on FLAIR are typically 1.2-1.6 times normal-appearing
    white matter, about as bright as cortex, so position must tell them apart, not brightness alone."""
    centre = rng.uniform(1.15, 2.2)
    if random_contrast and rng.uniform() < 0.3:
        centre = rng.uniform(0.3, 0.75)  # some random-contrast samples have dark lesions
    rim = 1.0 + (centre - 1.0) * rng.uniform(0.3, 0.7)
    return {
        "rim": float(rim),
        "centre": float(centre),
        "gamma": float(rng.uniform(0.5, 2.0)),
        "rim_width": float(rng.uniform(0.3, 1.5)),
    }


def compose_image(labels: np.ndarray, means: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Intensities of the compact ``labels`` with a per-label smooth multiplicative texture (float32)."""
    shape = labels.shape
    texture = smooth_random_field(shape, (1.0, 1.0, 1.0), rng.uniform(2.0, 6.0), rng, n_fields=2)
    amplitude = rng.uniform(0.0, 0.06, size=(2, len(means))).astype(np.float32)
    image = means[labels]
    image *= 1.0 + amplitude[0][labels] * texture[0] + amplitude[1][labels] * texture[1]
    return image


def paint_lesion(image: np.ndarray, mask: np.ndarray, grade: np.ndarray, contrast: dict[str, float]) -> None:
    """Lesion voxels (white matter, intensity about 1) are scaled by ``rim + (centre - rim) * grade ** gamma``
    (in place), which keeps the white matter's texture."""
    level = contrast["rim"] + (contrast["centre"] - contrast["rim"]) * grade[mask] ** contrast["gamma"]
    image[mask] *= level.astype(np.float32)


def add_bright_mimics(image: np.ndarray, groups: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, Any]:
    """Bright things that are not WMH (in place); ``groups`` holds boolean masks ``cortex``, ``ventricles``,
    ``csf``. Returns what was added."""
    added: dict[str, Any] = {}
    shape = image.shape
    if rng.uniform() < 0.5 and groups["cortex"].any():  # bright cortex patches (e.g. insula, cortical lesions)
        field = smooth_random_field(shape, (1.0, 1.0, 1.0), rng.uniform(6.0, 15.0), rng)[0]
        patch = groups["cortex"] & (field > rng.uniform(1.0, 2.0))
        image[patch] *= np.float32(rng.uniform(1.1, 1.4))
        added["bright_cortex_voxels"] = int(patch.sum())
    for name, key, n_range, radius_range, level_range in (
        ("choroid_spots", "ventricles", (0, 6), (1.0, 3.0), (0.7, 1.6)),
        ("flow_spots", "csf", (0, 8), (0.8, 2.5), (0.6, 1.8)),
    ):
        n = int(rng.integers(*n_range))
        if n and groups[key].any():
            spots = np.zeros(shape, dtype=np.float32)
            for centre in sample_voxels(groups[key], np.ones(shape, np.float32), n, rng):
                render_blob(
                    spots, centre.astype(np.float32), rng.uniform(*radius_range) * rng.uniform(0.6, 1.5, size=3), 1.0
                )
            spots *= groups[key]
            image += spots * (np.float32(rng.uniform(*level_range)) - image) * (spots > 0.2)
            added[name] = n
    if rng.uniform() < 0.3:  # imperfect CSF suppression: smooth bright regions of CSF and ventricles
        fluid = groups["csf"] | groups["ventricles"]
        field = np.clip(smooth_random_field(shape, (1.0, 1.0, 1.0), 20.0, rng)[0], 0.0, None)
        level = np.float32(rng.uniform(0.1, 0.6))
        image[fluid] += level * field[fluid]
        added["csf_suppression_level"] = float(level)
    return added
