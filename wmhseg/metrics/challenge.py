"""The five WMH Segmentation Challenge metrics, computed as the official evaluation computes them.

Kuijf H.J. et al., "Standardized Assessment of Automatic Segmentation of White Matter Hyperintensities and
Results of the WMH Segmentation Challenge", IEEE TMI 38(11):2556-2568, 2019; official script
hjkuijf/wmhchallenge ``evaluation.py``, whose semantics this module restates; in short, on the
reference WMH mask T (label 1) and the binarised result R (label 2 of the reference removed):

* **DSC** = 2|T∩R| / (|T| + |R|).
* **HD95** (mm): contours are the voxels removed by a 3×3 in-plane erosion (each slice on its own, the image
  border counted as foreground); exact 3D nearest-neighbour distances between the contour voxels of T and R in
  physical units; the larger of the two directed 95th percentiles (``numpy.percentile``, linear).
* **AVD** (%) = |ΣT − ΣR| / ΣT × 100.
* **Lesion recall / F1** on 3D 26-connected components: recall = (T-components touched by R) / N_T,
  precision = (R-components touching T) / N_R, each 1.0 when its denominator is 0; F1 = 2PR / (P + R), 0 if P + R = 0.

Empty sets follow the official script; where it raises instead of returning a value (HD95 with an empty
reference or an empty contour, AVD with an empty reference), these functions return NaN and the
:class:`ChallengeScores` record says why in ``notes``.

The arrays are in any consistent voxel order (nibabel/MONAI (X, Y, Z) in this package) with the *slice axis
last*: the in-plane erosion acts on the first two axes, as the official script's ``BinaryErode`` radius (1, 1, 0)
acts on ITK's x and y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.ndimage
import scipy.spatial

from .binarise import binarise_result, reference_masks
from .geometry import Geometry, voxel_matrix

__all__ = [
    "METRIC_NAMES",
    "METRIC_LABELS",
    "ChallengeScores",
    "LesionCounts",
    "inplane_contour",
    "dice",
    "hd95",
    "avd",
    "lesion_counts",
    "lesion_recall_f1",
    "challenge_scores",
    "evaluate_volumes",
]

METRIC_NAMES: tuple[str, ...] = ("dsc", "hd95", "avd", "recall", "f1")
METRIC_LABELS: dict[str, str] = {"dsc": "DSC", "hd95": "HD95 (mm)", "avd": "AVD (%)", "recall": "Recall", "f1": "F1"}

_NEIGHBOURS_26 = np.ones((3, 3, 3), dtype=bool)
# "auto" HD95 uses the KD-tree while the contour points number fewer than this fraction of the voxels in their
# bounding box: the EDT's cost grows with the box, the KD-tree's with the points (measured crossover ~1/13)
_KDTREE_POINTS_PER_BOX_VOXEL = 1 / 16


@dataclass(frozen=True)
class LesionCounts:
    """Connected-component counts behind lesion recall and precision, as the official script counts them."""

    n_reference: int  # components of T
    n_reference_detected: int  # components of T containing a voxel of R (recall numerator)
    n_result: int  # components of R
    n_result_correct: int  # components of R containing a voxel of T (precision numerator)

    @property
    def recall(self) -> float:
        return 1.0 if self.n_reference == 0 else self.n_reference_detected / self.n_reference

    @property
    def precision(self) -> float:
        return 1.0 if self.n_result == 0 else self.n_result_correct / self.n_result

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0.0 else 2.0 * (p * r) / (p + r)


@dataclass(frozen=True)
class ChallengeScores:
    """The five challenge metrics of one case, with the voxel and lesion counts behind them."""

    dsc: float
    hd95: float
    avd: float
    recall: float
    f1: float
    n_reference_voxels: int
    n_result_voxels: int
    lesions: LesionCounts
    notes: tuple[str, ...] = field(default=())  # why a metric is NaN where the official script raises

    def metrics(self) -> dict[str, float]:
        """``{"dsc": ..., "hd95": ..., "avd": ..., "recall": ..., "f1": ...}``."""
        return {name: getattr(self, name) for name in METRIC_NAMES}


def _extent(mask: np.ndarray) -> tuple[slice, ...] | None:
    """Tight bounding box of a boolean volume, or None when it is empty."""
    if mask.ndim != 3:
        raise ValueError(f"expected a 3D volume, got shape {mask.shape}")
    xy = mask.any(axis=2)
    xs, ys = np.flatnonzero(xy.any(axis=1)), np.flatnonzero(xy.any(axis=0))
    if xs.size == 0:
        return None
    zs = np.flatnonzero(mask[xs[0] : xs[-1] + 1, ys[0] : ys[-1] + 1].any(axis=(0, 1)))
    return tuple(slice(int(a[0]), int(a[-1]) + 1) for a in (xs, ys, zs))


def _union_extent(a: tuple[slice, ...] | None, b: tuple[slice, ...] | None) -> tuple[slice, ...] | None:
    if a is None or b is None:
        return a or b
    return tuple(slice(min(s.start, t.start), max(s.stop, t.stop)) for s, t in zip(a, b))


def _check_pair(wmh: np.ndarray, binary: np.ndarray) -> None:
    if wmh.shape != binary.shape:
        raise ValueError(f"reference and result shapes differ: {wmh.shape} vs {binary.shape}")
    if wmh.dtype != bool or binary.dtype != bool:
        raise TypeError(f"expected boolean masks, got {wmh.dtype} and {binary.dtype}")


def inplane_contour(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with at least one background voxel among their 8 in-plane neighbours inside the volume.

    This is ``mask - BinaryErode(mask, radius=(1, 1, 0))`` of SimpleITK with its defaults (full 3×3 square,
    border counted as foreground): each slice of the last axis is handled on its own, and touching the
    volume border does not make a voxel a contour voxel.
    """
    nx, ny = mask.shape[:2]
    padded = np.pad(mask, ((1, 1), (1, 1), (0, 0)), constant_values=True)
    interior = mask.copy()
    for dx in range(3):
        for dy in range(3):
            if dx != 1 or dy != 1:
                interior &= padded[dx : dx + nx, dy : dy + ny]
    return mask & ~interior


def dice(wmh: np.ndarray, binary: np.ndarray) -> float:
    """Dice similarity coefficient of two boolean masks; NaN when both are empty, 0 when exactly one is."""
    _check_pair(wmh, binary)
    total = np.count_nonzero(wmh) + np.count_nonzero(binary)
    if total == 0:
        return math.nan
    return float(2.0 * np.count_nonzero(wmh & binary) / total)


def _directed_distances(from_points: np.ndarray, to_points: np.ndarray) -> np.ndarray:
    return scipy.spatial.cKDTree(to_points).query(from_points, k=1, eps=0, p=2)[0]


def hd95(wmh: np.ndarray, binary: np.ndarray, geometry: Geometry, method: str = "auto") -> float:
    """95th-percentile Hausdorff distance in mm between the in-plane contours of two boolean masks.

    Args:
        wmh: reference mask T.
        binary: result mask R.
        geometry: the reference's voxel spacing, or its affine / MetaTensor (see
            :func:`~wmhseg.metrics.geometry.voxel_matrix`). With an affine, contour points are mapped with its
            full 3×3 part, exactly as the official script maps indices to physical points.
        method: ``"kdtree"`` (nearest contour point by KD-tree on physical points, as the official script),
            ``"edt"`` (exact Euclidean distance transform with ``sampling`` = voxel spacing on the contours'
            bounding box; it treats the axes as orthogonal, so it matches the official values up to the rounding
            of a non-diagonal direction matrix) or ``"auto"``: the EDT when the geometry is axis-aligned and the
            contours are dense in their bounding box, else the KD-tree.

    Returns:
        HD95; NaN when R is empty (as the official script), and NaN where the official script raises:
        T empty, or a mask whose every voxel lies in a completely filled slice (no contour).
    """
    _check_pair(wmh, binary)
    matrix = voxel_matrix(geometry)
    box_t, box_r = _extent(wmh), _extent(binary)
    if box_r is None or box_t is None:
        return math.nan
    box = _union_extent(box_t, box_r)
    # grow the box by one voxel in-plane (where the volume allows) so the erosion sees the true neighbours
    box = tuple(
        slice(max(s.start - 1, 0), min(s.stop + 1, n)) if axis < 2 else s
        for axis, (s, n) in enumerate(zip(box, wmh.shape))
    )
    contour_t = inplane_contour(wmh[box])
    contour_r = inplane_contour(binary[box])
    n_t, n_r = np.count_nonzero(contour_t), np.count_nonzero(contour_r)
    if n_t == 0 or n_r == 0:
        return math.nan
    if method == "auto":
        axis_aligned = np.count_nonzero(matrix - np.diag(np.diag(matrix))) == 0
        dense = (n_t + n_r) >= _KDTREE_POINTS_PER_BOX_VOXEL * contour_t.size
        method = "edt" if axis_aligned and dense else "kdtree"
    if method == "kdtree":
        points_t = np.argwhere(contour_t) @ matrix.T
        points_r = np.argwhere(contour_r) @ matrix.T
        t_to_r = _directed_distances(points_t, points_r)
        r_to_t = _directed_distances(points_r, points_t)
    elif method == "edt":
        sampling = np.linalg.norm(matrix, axis=0)
        edt = scipy.ndimage.distance_transform_edt
        t_to_r = edt(~contour_r, sampling=sampling)[contour_t]
        r_to_t = edt(~contour_t, sampling=sampling)[contour_r]
    else:
        raise ValueError(f"method must be 'auto', 'kdtree' or 'edt', got {method!r}")
    return float(max(np.percentile(t_to_r, 95), np.percentile(r_to_t, 95)))


def avd(wmh: np.ndarray, binary: np.ndarray) -> float:
    """Absolute volume difference in percent of the reference volume; NaN for an empty reference."""
    _check_pair(wmh, binary)
    n_t, n_r = np.count_nonzero(wmh), np.count_nonzero(binary)
    if n_t == 0:
        return math.nan
    return float(abs(n_t - n_r)) / float(n_t) * 100


def _components(mask: np.ndarray) -> tuple[np.ndarray, tuple[slice, ...] | None, int]:
    """26-connected component labels of ``mask`` on its bounding box, the box, and the component count."""
    box = _extent(mask)
    if box is None:
        return np.zeros((0, 0, 0), dtype=np.int32), None, 0
    labels, n = scipy.ndimage.label(mask[box], structure=_NEIGHBOURS_26)
    return labels, box, int(n)


def _components_hit(labels: np.ndarray, box: tuple[slice, ...] | None, n: int, other: np.ndarray) -> int:
    """Number of distinct components (of ``labels`` on ``box``) containing at least one voxel of ``other``."""
    if box is None:
        return 0
    hit = np.zeros(n + 1, dtype=bool)
    hit[labels[other[box]]] = True
    return int(np.count_nonzero(hit[1:]))


def lesion_counts(wmh: np.ndarray, binary: np.ndarray) -> LesionCounts:
    """Component counts of T and R (3D, 26-connected) and the official recall and precision numerators.

    The official script counts distinct values as ``len(numpy.unique(labels)) - 1``, assuming a background 0 is
    present; in the degenerate case of a volume with no background voxel at all (mask or overlap covering the
    whole image) that count is one less, and this is reproduced.
    """
    _check_pair(wmh, binary)
    size = wmh.size
    n_t, n_r = np.count_nonzero(wmh), np.count_nonzero(binary)
    n_overlap = np.count_nonzero(wmh & binary)
    labels_t, box_t, comps_t = _components(wmh)
    labels_r, box_r, comps_r = _components(binary)

    def official(count: int, n_foreground: int) -> int:
        return count if n_foreground < size else count - 1

    return LesionCounts(
        n_reference=official(comps_t, n_t),
        n_reference_detected=official(_components_hit(labels_t, box_t, comps_t, binary), n_overlap),
        n_result=official(comps_r, n_r),
        n_result_correct=official(_components_hit(labels_r, box_r, comps_r, wmh), n_overlap),
    )


def lesion_recall_f1(wmh: np.ndarray, binary: np.ndarray) -> tuple[float, float]:
    """Lesion-wise recall ("lesion detection") and lesion-wise F1 of the official evaluation."""
    counts = lesion_counts(wmh, binary)
    return counts.recall, counts.f1


def challenge_scores(wmh: np.ndarray, binary: np.ndarray, geometry: Geometry) -> ChallengeScores:
    """All five metrics from the boolean masks T and R (already masked and binarised)."""
    _check_pair(wmh, binary)
    counts = lesion_counts(wmh, binary)
    n_t, n_r = int(np.count_nonzero(wmh)), int(np.count_nonzero(binary))
    value_hd95 = hd95(wmh, binary, geometry)
    notes = []
    if n_t == 0:
        notes.append("empty reference: the official script raises for AVD (division by zero); AVD is NaN")
        if n_r > 0:
            notes.append("empty reference: the official script raises for HD95 (no reference contour); HD95 is NaN")
    elif n_r > 0 and math.isnan(value_hd95):
        notes.append("a mask fills whole slices and has no contour: the official script raises for HD95; HD95 is NaN")
    return ChallengeScores(
        dsc=dice(wmh, binary),
        hd95=value_hd95,
        avd=avd(wmh, binary),
        recall=counts.recall,
        f1=counts.f1,
        n_reference_voxels=n_t,
        n_result_voxels=n_r,
        lesions=counts,
        notes=tuple(notes),
    )


def evaluate_volumes(reference: np.ndarray, result: np.ndarray, geometry: Geometry) -> ChallengeScores:
    """Score a result volume against a reference label volume exactly as the official evaluation does.

    Args:
        reference: label volume (0 background, 1 WMH, 2 other pathology), integer or float.
        result: prediction volume on the same voxel grid, in the same voxel order. Binarised by dtype with the
            official windows (integers 1..1000, uint8 1..232, floats 0.5..1000); int8 is rejected.
        geometry: the reference's voxel spacing, affine or MetaTensor (see
            :func:`~wmhseg.metrics.geometry.voxel_matrix`); an affine maps contour points exactly as the
            official script does, spacings treat the axes as orthogonal.
    """
    reference, result = np.asarray(reference), np.asarray(result)
    if reference.shape != result.shape:
        raise ValueError(f"reference and result shapes differ: {reference.shape} vs {result.shape}")
    wmh, ignore = reference_masks(reference)
    return challenge_scores(wmh, binarise_result(result, ignore), geometry)
