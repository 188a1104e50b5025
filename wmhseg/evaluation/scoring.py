"""Scoring prediction files against reference files with the WMH challenge metrics.

Both images are read with SimpleITK, as the official ``evaluation.py`` does, so pixel types and binarisation
windows are the same; pairs on different voxel grids are refused (:class:`GridMismatchError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..metrics.challenge import METRIC_NAMES, ChallengeScores, evaluate_volumes
from .cases import Case, EvaluationError

__all__ = ["PER_CASE_COLUMNS", "GridMismatchError", "check_same_grid", "evaluate_case", "score_pairs"]

# voxel grids agree when origin and spacing differ by at most this many mm and direction cosines by _DIRECTION_TOL
# (NIfTI headers hold float32, so files written by different tools differ in the last bits)
_MM_TOL = 1e-3
_DIRECTION_TOL = 1e-4


class GridMismatchError(EvaluationError):
    """A prediction is not on its reference's voxel grid."""


def _read_information(path: Path) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise EvaluationError(f"cannot read image {path}: {str(err).strip().splitlines()[-1]}") from err
    if reader.GetDimension() != 3:
        raise EvaluationError(f"{path} is a {reader.GetDimension()}D image with size {reader.GetSize()}; expected 3D")
    return reader


def _ras_affine(info) -> np.ndarray:
    """The nibabel-style (RAS) voxel-to-world affine of an ITK (LPS) geometry."""
    direction = np.asarray(info.GetDirection(), dtype=float).reshape(3, 3)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    affine = np.eye(4)
    affine[:3, :3] = lps_to_ras @ direction @ np.diag(info.GetSpacing())
    affine[:3, 3] = lps_to_ras @ np.asarray(info.GetOrigin(), dtype=float)
    return affine


def _describe(path: Path, info) -> str:
    affine = np.array2string(_ras_affine(info), precision=4, suppress_small=True, separator=", ")
    return f"  {path}\n    shape {tuple(info.GetSize())}, affine (RAS)\n    " + affine.replace("\n", "\n    ")


def check_same_grid(reference: Path, prediction: Path) -> None:
    """Raise :class:`GridMismatchError` unless both images have the same shape, spacing, origin and direction.

    The official script only checks the size and then scores voxel (i, j, k) against voxel (i, j, k), ignoring the
    prediction's header; a prediction whose header disagrees is on another grid or in another voxel order, and its
    scores would be wrong, so it is refused here.
    """
    ref, pred = _read_information(reference), _read_information(prediction)
    same = (
        ref.GetSize() == pred.GetSize()
        and np.allclose(ref.GetSpacing(), pred.GetSpacing(), rtol=0, atol=_MM_TOL)
        and np.allclose(ref.GetOrigin(), pred.GetOrigin(), rtol=0, atol=_MM_TOL)
        and np.allclose(ref.GetDirection(), pred.GetDirection(), rtol=0, atol=_DIRECTION_TOL)
    )
    if not same:
        raise GridMismatchError(
            "prediction and reference are on different voxel grids (the prediction must be written on the "
            "reference's grid, in its voxel order):\n"
            f"reference\n{_describe(reference, ref)}\nprediction\n{_describe(prediction, pred)}"
        )


def _read_xyz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Voxel array in (X, Y, Z) order with its native pixel type, and the ITK affine [D·diag(spacing) | origin]."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise EvaluationError(f"cannot read image {path}: {str(err).strip().splitlines()[-1]}") from err
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise EvaluationError(f"{path} has {image.GetNumberOfComponentsPerPixel()} components per voxel; expected 1")
    affine = np.eye(4)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    affine[:3, :3] = direction @ np.diag(image.GetSpacing())
    affine[:3, 3] = image.GetOrigin()
    return np.transpose(sitk.GetArrayFromImage(image)), affine


def evaluate_case(reference: Path, prediction: Path) -> ChallengeScores:
    """Scores of one prediction file against one reference file (grids checked first).

    Contour points are mapped with the reference's geometry as SimpleITK reads it, as in the official script.
    """
    check_same_grid(reference, prediction)
    ref, geometry = _read_xyz(reference)
    pred, _ = _read_xyz(prediction)
    try:
        return evaluate_volumes(ref, pred, geometry)
    except (ValueError, TypeError) as err:
        raise EvaluationError(f"cannot score {prediction} against {reference}: {err}") from err


PER_CASE_COLUMNS = (
    "subject", "scanner", *METRIC_NAMES, "n_reference_voxels", "n_result_voxels", "n_reference_lesions",
    "n_result_lesions", "reference", "prediction", "notes",
)  # fmt: skip


def score_pairs(pairs: Sequence[tuple[Case, Path]]) -> list[dict]:
    """Per-case rows (``PER_CASE_COLUMNS``) of (case, prediction file) pairs.

    Every pair's voxel grids are checked before anything is scored: a :class:`GridMismatchError` lists all the
    mismatching pairs at once.
    """
    mismatches = []
    for case, prediction in pairs:
        try:
            check_same_grid(case.reference, prediction)
        except GridMismatchError as err:
            mismatches.append(str(err))
    if mismatches:
        raise GridMismatchError("\n\n".join(mismatches))
    rows = []
    for case, prediction in pairs:
        scores = evaluate_case(case.reference, prediction)
        rows.append({
            "subject": case.subject, "scanner": case.scanner, **scores.metrics(),
            "n_reference_voxels": scores.n_reference_voxels, "n_result_voxels": scores.n_result_voxels,
            "n_reference_lesions": scores.lesions.n_reference, "n_result_lesions": scores.lesions.n_result,
            "reference": str(case.reference), "prediction": str(prediction), "notes": "; ".join(scores.notes),
        })  # fmt: skip
    return rows
