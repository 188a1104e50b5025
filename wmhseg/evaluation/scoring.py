"""Scoring prediction files against reference files with the WMH challenge metrics.

Both images are read with SimpleITK, as the official ``evaluation.py`` does, so pixel types and binarisation
windows are the same; pairs on different voxel grids (:func:`wmhseg.io.same_grid` of their headers) are refused
(:class:`GridMismatchError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..io import ImageFileError, NativeImage, itk_affine, read_native, same_grid
from ..metrics.challenge import METRIC_NAMES, ChallengeScores, evaluate_volumes
from .cases import Case, EvaluationError

__all__ = ["PER_CASE_COLUMNS", "GridMismatchError", "check_same_grid", "evaluate_case", "score_pairs"]


class GridMismatchError(EvaluationError):
    """A prediction is not on its reference's voxel grid."""


def _read_header(path: Path) -> NativeImage:
    try:
        return read_native(path, load_data=False)
    except ImageFileError as err:
        raise EvaluationError(str(err)) from err


def _describe(image: NativeImage) -> str:
    affine = np.array2string(image.affine, precision=4, suppress_small=True, separator=", ")
    return f"  {image.path}\n    shape {image.shape}, affine (RAS)\n    " + affine.replace("\n", "\n    ")


def check_same_grid(reference: Path, prediction: Path) -> None:
    """Raise :class:`GridMismatchError` unless both images are on one voxel grid (:func:`wmhseg.io.same_grid`).

    The official script only checks the size and then scores voxel (i, j, k) against voxel (i, j, k), ignoring the
    prediction's header; a prediction whose header disagrees is on another grid or in another voxel order, and its
    scores would be wrong, so it is refused here.
    """
    ref, pred = _read_header(reference), _read_header(prediction)
    if not same_grid(ref.shape, ref.affine, pred.shape, pred.affine):
        raise GridMismatchError(
            "prediction and reference are on different voxel grids (the prediction must be written on the "
            "reference's grid, in its voxel order):\n"
            f"reference\n{_describe(ref)}\nprediction\n{_describe(pred)}"
        )


def _read_xyz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Voxel array in (X, Y, Z) order with its native pixel type, and the ITK affine [D·diag(spacing) | origin]."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise EvaluationError(f"cannot read image {path}: {str(err).strip().splitlines()[-1]}") from err
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise EvaluationError(f"{path} has {image.GetNumberOfComponentsPerPixel()} components per voxel; expected 1")
    return np.transpose(sitk.GetArrayFromImage(image)), itk_affine(image)


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
