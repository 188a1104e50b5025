"""The maps inference keeps from the network's softmax: WMH, and the brain and ventricles where the network has them.

A network trained on challenge data has three classes (background, WMH, other pathology) and
gives the WMH probability only. A network trained on synthetic images from label maps has the
six classes of :data:`wmhseg.data.synthetic.labelmaps.CLASSES`, and with them the anatomy: the
intracranial region (every class but background: WMH, other pathology, ventricles, other brain,
CSF) and the lateral ventricles.  :func:`output_maps` reduces the softmax to those probability
maps before they are taken back to the input's grid; :func:`anatomy_masks` turns them into
masks there.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.transforms.utils import generate_spatial_bounding_box
from scipy import ndimage

from ..data.synthetic.labelmaps.anatomy import CLASSES, VENTRICLES, WMH
from ..reporting.lesions import CONNECTIVITY_26

VENTRICLE_MIN_FRACTION = 0.1
"""Ventricle components smaller than this fraction of the largest are dropped (:func:`anatomy_masks`)."""
OUTPUT_CHANNELS = ("wmh", "brain", "ventricles")
"""Channels of :func:`output_maps` for a network with the anatomy classes (the first alone otherwise)."""


def output_maps(prob: torch.Tensor) -> torch.Tensor:
    """Reduce a softmax ``(C, *spatial)`` to the kept maps.

    Returns:
        ``(3, *spatial)``: WMH, brain (``1 - P(background)``) and lateral-ventricle probabilities
        when ``C`` equals the number of anatomy classes; ``(1, *spatial)`` (the WMH probability,
        class 1) otherwise.  Class 2, other pathology, is never WMH.
    """
    wmh = prob[WMH : WMH + 1]
    if prob.shape[0] != len(CLASSES):
        return wmh
    return torch.cat([wmh, 1.0 - prob[0:1], prob[VENTRICLES : VENTRICLES + 1]], dim=0)


def anatomy_masks(brain_prob: np.ndarray, ventricle_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The brain mask and the ventricle mask from their probabilities on one grid.

    The brain mask is the largest 6-connected component of ``brain_prob >= 0.5`` with its
    holes filled, so that it can be reused for skull stripping; the ventricle mask is
    ``ventricle_prob >= 0.5`` inside it, keeping only its 26-connected components of at least
    ``VENTRICLE_MIN_FRACTION`` of the largest one's volume: the lateral ventricles are one or two
    large bodies, and the small islands are sulcal CSF or dark spots that would turn deep lesions
    near them periventricular.  Both are boolean arrays of the input shape.
    """
    brain = brain_prob >= 0.5
    ventricles = np.zeros_like(brain)
    if not brain.any():
        return brain, ventricles
    box = tuple(slice(s, e) for s, e in zip(*generate_spatial_bounding_box(brain[None])))
    # both masks lie inside the brain's bounding box, and everything outside it is background connected to the
    # image border, so labelling and hole filling on the box alone give the same masks at a fraction of the cost
    inner = _fill_holes(_large_components(brain[box], ndimage.generate_binary_structure(3, 1), 1.0))
    brain[box] = inner
    ventricles[box] = _large_components((ventricle_prob[box] >= 0.5) & inner, CONNECTIVITY_26, VENTRICLE_MIN_FRACTION)
    return brain, ventricles


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every background region that does not reach the array's border filled.

    What ``scipy.ndimage.binary_fill_holes`` gives (6-connected background), by one labelling of the
    background instead of its iterated dilation: about ten times faster on a brain mask.
    """
    background, _ = ndimage.label(~mask)
    faces = [background[(slice(None),) * axis + (end,)] for axis in range(mask.ndim) for end in (0, -1)]
    outside = np.zeros(int(background.max()) + 1, dtype=bool)
    outside[np.unique(np.concatenate([f.ravel() for f in faces]))] = True
    outside[0] = False
    return ~outside[background]


def _large_components(mask: np.ndarray, structure: np.ndarray, min_fraction: float) -> np.ndarray:
    """The connected components of ``mask`` with at least ``min_fraction`` of the largest one's voxels (1.0: the
    largest)."""
    labels, n = ndimage.label(mask, structure=structure)
    if n <= 1:
        return labels > 0
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    keep = sizes >= min_fraction * sizes.max()
    keep[0] = False
    return keep[labels]
