"""Reference path: the official WMH Segmentation Challenge evaluation, step by step on SimpleITK images.

This module re-states the semantics of the organisers' ``evaluation.py`` (hjkuijf/wmhchallenge, last metric
fix 2018-05-02; Kuijf et al., IEEE TMI 38(11), 2019) with the same SimpleITK and scipy operations, so that the
fast numpy/scipy implementation in :mod:`wmhseg.metrics.challenge` can be checked against it:

* masks: ``BinaryThreshold`` on the reference (label 1 = WMH, label 2 = ignore), ``Mask`` on the result, then
  ``BinaryThreshold`` of the result with the integer or float window chosen from the pixel type name;
* HD95: ``BinaryErode`` with radius (1, 1, 0), contour = mask - eroded mask, physical points from the
  reference with ``TransformIndexToPhysicalPoint``, ``scipy.spatial.KDTree`` nearest-neighbour distances and the
  larger of the two directed ``numpy.percentile(..., 95)``;
* lesions: ``ConnectedComponentImageFilter`` with ``FullyConnected`` on, distinct-label counts taken as
  ``len(numpy.unique(...)) - 1`` exactly as the script does.

Where the official script raises (empty reference for HD95 or AVD, an int8 result), so does this module: the tests
use that to confirm that the fast path returns NaN precisely where the official evaluation has no value.
It is slow (a Python loop over contour points) and meant for tests and benchmarks only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.spatial
import scipy.spatial.distance
import SimpleITK as sitk

__all__ = [
    "image_from_array",
    "official_masks",
    "official_dsc",
    "official_hd95",
    "official_avd",
    "official_lesion_recall_f1",
    "official_scores",
]


def image_from_array(
    array_xyz: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    direction: np.ndarray | Sequence[float] | None = None,
) -> sitk.Image:
    """SimpleITK image of a volume given in (X, Y, Z) voxel order (nibabel/MONAI order), keeping its dtype.

    SimpleITK arrays are (z, y, x), hence the transpose. ``direction`` is a 3×3 matrix (row-major), ITK convention.
    """
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(array_xyz)))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(o) for o in origin])
    if direction is not None:
        image.SetDirection([float(v) for v in np.asarray(direction, dtype=float).ravel()])
    return image


def official_masks(reference: sitk.Image, result: sitk.Image) -> tuple[sitk.Image, sitk.Image]:
    """The reference WMH mask T and the binarised, label-2-masked result R, as the official script builds them."""
    if reference.GetSize() != result.GetSize():
        raise ValueError(f"size mismatch: reference {reference.GetSize()} vs result {result.GetSize()}")
    result = sitk.Image(result)
    result.CopyInformation(reference)  # the result's own header is ignored
    wmh = sitk.BinaryThreshold(reference, 0.5, 1.5, 1, 0)
    keep = sitk.BinaryThreshold(reference, 1.5, 2.5, 0, 1)
    masked = sitk.Mask(result, keep)
    if "integer" in masked.GetPixelIDTypeAsString():
        binary = sitk.BinaryThreshold(masked, 1, 1000, 1, 0)
    else:
        binary = sitk.BinaryThreshold(masked, 0.5, 1000, 1, 0)
    return wmh, binary


def _voxel_sum(image: sitk.Image) -> float:
    stats = sitk.StatisticsImageFilter()
    stats.Execute(image)
    return stats.GetSum()


def official_dsc(wmh: sitk.Image, binary: sitk.Image) -> float:
    """1 - scipy's Dice dissimilarity of the flattened masks (NaN when both are empty)."""
    t = sitk.GetArrayFromImage(wmh).ravel()
    r = sitk.GetArrayFromImage(binary).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - float(scipy.spatial.distance.dice(t, r))


def _contour_points(mask: sitk.Image, geometry: sitk.Image) -> list[tuple[float, ...]]:
    contour = sitk.Subtract(mask, sitk.BinaryErode(mask, (1, 1, 0)))
    zyx = np.nonzero(sitk.GetArrayFromImage(contour))
    xyz = np.stack(zyx[::-1], axis=1)
    return [geometry.TransformIndexToPhysicalPoint([int(i) for i in index]) for index in xyz]


def official_hd95(wmh: sitk.Image, binary: sitk.Image) -> float:
    """95th-percentile Hausdorff distance in mm; NaN for an empty result; raises when a contour set is empty."""
    if _voxel_sum(binary) == 0:
        return float("nan")
    t_points = _contour_points(wmh, wmh)
    r_points = _contour_points(binary, wmh)
    t_to_r = scipy.spatial.KDTree(r_points, leafsize=100).query(t_points, k=1, eps=0, p=2)[0]
    r_to_t = scipy.spatial.KDTree(t_points, leafsize=100).query(r_points, k=1, eps=0, p=2)[0]
    return float(max(np.percentile(t_to_r, 95), np.percentile(r_to_t, 95)))


def official_avd(wmh: sitk.Image, binary: sitk.Image) -> float:
    """Absolute volume difference in percent of the reference; raises ZeroDivisionError for an empty reference."""
    n_t = _voxel_sum(wmh)
    n_r = _voxel_sum(binary)
    return float(abs(n_t - n_r)) / float(n_t) * 100


def _distinct_minus_one(image: sitk.Image) -> int:
    return len(np.unique(sitk.GetArrayFromImage(image))) - 1


def official_lesion_recall_f1(wmh: sitk.Image, binary: sitk.Image) -> tuple[float, float]:
    """Lesion-wise recall and F1 on 26-connected components, with the 2018 numerators and empty-set guards."""
    components = sitk.ConnectedComponentImageFilter()
    components.SetFullyConnected(True)

    wmh_labels = components.Execute(wmh)
    n_wmh = _distinct_minus_one(wmh_labels)
    detected = _distinct_minus_one(sitk.Multiply(wmh_labels, sitk.Cast(binary, sitk.sitkUInt32)))
    recall = 1.0 if n_wmh == 0 else float(detected) / n_wmh

    result_labels = components.Execute(binary)
    n_result = _distinct_minus_one(result_labels)
    hits = _distinct_minus_one(sitk.Multiply(result_labels, sitk.Cast(wmh, sitk.sitkUInt32)))
    precision = 1.0 if n_result == 0 else float(hits) / n_result

    f1 = 0.0 if precision + recall == 0.0 else 2.0 * (precision * recall) / (precision + recall)
    return recall, f1


def official_scores(reference: sitk.Image, result: sitk.Image) -> dict[str, float]:
    """All five challenge metrics; any exception of the official evaluation propagates."""
    wmh, binary = official_masks(reference, result)
    recall, f1 = official_lesion_recall_f1(wmh, binary)
    return {
        "dsc": official_dsc(wmh, binary),
        "hd95": official_hd95(wmh, binary),
        "avd": official_avd(wmh, binary),
        "recall": recall,
        "f1": f1,
    }
