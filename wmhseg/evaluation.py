"""``wmhseg evaluate``: score predicted WMH masks with the official WMH Segmentation Challenge metrics.

Pairs every reference with its prediction, reads both with SimpleITK (as the official ``evaluation.py`` does, so
pixel types and binarisation windows are the same), refuses pairs on different voxel grids, and writes

* ``per_case.csv``: subject, scanner, DSC, HD95 (mm), AVD (%), lesion recall, lesion F1, then the voxel and lesion
  counts, both file paths and notes (why a value is NaN);
* ``per_scanner.csv``: one row per scanner with the number of cases and the mean of each metric, then an
  ``Average`` row over all cases (as the challenge leaderboard: the mean over images), plus the number of NaN
  values per metric (means skip NaN) -- the layout of Table 3 in Kuijf et al., IEEE TMI 38(11), 2019;
* ``summary.json``: the overall means, NaN counts and per-scanner means;

to ``--out`` (default ``<pred>/evaluation``), and prints both tables.

Reference sources (``--ref``):

* a folder in the challenge layout: every ``wmh.nii.gz`` below it is a case; the subject is its folder name and
  the scanner is the path from ``--ref`` to the subject's parent folder (``Utrecht``, ``Amsterdam/GE3T``,
  ``Amsterdam/Philips_VU .PETMR_01.``, ...; folders are discovered by listing, never by name);
* a datalist JSON (``{"training": [{"label": ..., "subject": ..., "scanner": ...}, ...]}``, paths relative to
  its folder): the cases of ``--datalist-key`` (default ``training``), optionally only fold ``--fold``.

Prediction lookup (``--pred``), first match wins: in the folder ``<pred>/<path of the subject below --ref>``
(challenge layout only, i.e. ``--pred`` mirrors ``--ref``), then ``<pred>/<scanner>/<subject>``, then
``<pred>/<subject>``, the files ``result.nii.gz``, ``result.nii``, ``wmh_mask.nii.gz`` (written by ``wmhseg``
inference), ``wmh_mask.nii``; then the files ``<pred>/<subject>.nii.gz`` and ``<pred>/<subject>.nii``. Unlike the
official script there is no "most similar file name" fallback: a missing prediction is an error (or skipped with
``--allow-missing``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .io import write_text_atomic
from .metrics.challenge import METRIC_LABELS, METRIC_NAMES, ChallengeScores, evaluate_volumes

__all__ = [
    "Case",
    "EvaluationError",
    "GridMismatchError",
    "challenge_cases",
    "datalist_cases",
    "find_prediction",
    "check_same_grid",
    "evaluate_case",
    "scanner_table",
    "score_pairs",
    "sorted_cases",
    "tables_text",
    "write_tables",
    "add_arguments",
    "run",
]

REFERENCE_NAME = "wmh.nii.gz"
PREDICTION_NAMES = ("result.nii.gz", "result.nii", "wmh_mask.nii.gz", "wmh_mask.nii")
# voxel grids agree when origin and spacing differ by at most this many mm and direction cosines by _DIRECTION_TOL
# (NIfTI headers hold float32, so files written by different tools differ in the last bits)
_MM_TOL = 1e-3
_DIRECTION_TOL = 1e-4


class EvaluationError(RuntimeError):
    """A problem with the inputs of the evaluation, with a message naming the files concerned."""


class GridMismatchError(EvaluationError):
    """A prediction is not on its reference's voxel grid."""


@dataclass(frozen=True)
class Case:
    """One reference to score: its subject, scanner, file, and sub-folder in the challenge layout."""

    subject: str
    scanner: str
    reference: Path
    relative_dir: Path | None = None  # <site path>/<subject> below --ref, challenge layout only


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs numerically ("2" before "10"), as challenge IDs must be sorted."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", text) if t)


def sorted_cases(cases: Iterable[Case]) -> list[Case]:
    """Cases ordered by scanner (scanners by their smallest subject ID) and then by subject ID."""
    cases = list(cases)
    first: dict[str, tuple] = {}
    for case in cases:
        key = natural_key(case.subject)
        first[case.scanner] = min(first.get(case.scanner, key), key)
    return sorted(cases, key=lambda c: (first[c.scanner], natural_key(c.scanner), natural_key(c.subject)))


def challenge_cases(ref_dir: Path) -> list[Case]:
    """Every ``wmh.nii.gz`` below ``ref_dir`` (found by listing, so any folder name works), in ID order."""
    ref_dir = Path(ref_dir)
    cases = []
    for folder, dirs, files in os.walk(ref_dir):
        dirs.sort()
        if REFERENCE_NAME not in files:
            continue
        subject_dir = Path(folder)
        relative = subject_dir.relative_to(ref_dir)
        if relative == Path("."):  # --ref is one subject's folder
            scanner = subject_dir.resolve().parent.name
        elif relative.parent == Path("."):  # --ref is one site's folder
            scanner = ref_dir.resolve().name
        else:
            scanner = relative.parent.as_posix()
        cases.append(Case(subject_dir.resolve().name, scanner, subject_dir / REFERENCE_NAME, relative))
    if not cases:
        raise EvaluationError(f"no reference found: no file named {REFERENCE_NAME} below {ref_dir}")
    return sorted_cases(cases)


def datalist_cases(datalist: Path, key: str = "training", fold: int | None = None) -> list[Case]:
    """The labelled cases of one section of a datalist JSON (paths relative to its folder)."""
    datalist = Path(datalist)
    try:
        content = json.loads(datalist.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise EvaluationError(f"cannot read datalist {datalist}: {err}") from err
    if key not in content or not isinstance(content[key], list):
        raise EvaluationError(f"datalist {datalist} has no list {key!r} (keys: {sorted(content)})")
    cases = []
    for index, entry in enumerate(content[key]):
        if fold is not None and entry.get("fold") != fold:
            continue
        if "label" not in entry:
            raise EvaluationError(f"datalist {datalist}: entry {index} of {key!r} has no 'label'")
        label = Path(entry["label"])
        label = label if label.is_absolute() else datalist.parent / label
        subject = str(entry.get("subject") or Path(entry.get("image", label)).name.split(".")[0])
        cases.append(Case(subject, str(entry.get("scanner", "unknown")), label))
    if not cases:
        which = f" with fold {fold}" if fold is not None else ""
        raise EvaluationError(f"datalist {datalist}: no entries in {key!r}{which}")
    subjects = [c.subject for c in cases]
    duplicates = sorted({s for s in subjects if subjects.count(s) > 1})
    if duplicates:
        raise EvaluationError(f"datalist {datalist}: subjects are not unique in {key!r}: {duplicates}")
    return sorted_cases(cases)


def find_prediction(pred_dir: Path, case: Case) -> Path | None:
    """The prediction file of a case, by the documented lookup order, or None."""
    pred_dir = Path(pred_dir)
    folders = [pred_dir / case.relative_dir] if case.relative_dir not in (None, Path(".")) else []
    folders += [pred_dir / case.scanner / case.subject, pred_dir / case.subject]
    for folder in folders:
        for name in PREDICTION_NAMES:
            if (folder / name).is_file():
                return folder / name
    for suffix in (".nii.gz", ".nii"):
        candidate = pred_dir / f"{case.subject}{suffix}"
        if candidate.is_file():
            return candidate
    return None


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


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def scanner_table(rows: Sequence[dict]) -> list[dict]:
    """Per-scanner means (NaN skipped) and NaN counts of the five metrics, then the ``Average`` over all cases."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["scanner"], []).append(row)
    table = []
    for scanner, members in [*groups.items(), ("Average", list(rows))]:
        entry: dict = {"scanner": scanner, "n": len(members)}
        for name in METRIC_NAMES:
            entry[name] = _nanmean([m[name] for m in members])
        for name in METRIC_NAMES:
            entry[f"{name}_nan"] = sum(math.isnan(m[name]) for m in members)
        table.append(entry)
    return table


def _nan_to_none(value):
    """JSON-safe copy: NaN becomes null."""
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _csv_text(rows: Sequence[dict], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def _format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """Plain-text table; columns are (key, header, format)."""
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append([format(row[key], fmt) for key, _, fmt in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


LOOKUP_HELP = (
    "Reference: a folder (every wmh.nii.gz below it; scanner = path of the site folder) or a datalist JSON. "
    "Prediction of a subject, first match: the folder <pred>/<path below --ref>/, <pred>/<scanner>/<subject>/ or "
    "<pred>/<subject>/ holding "
    + ", ".join(PREDICTION_NAMES)
    + "; then <pred>/<subject>.nii.gz or .nii. Outputs: per_case.csv, per_scanner.csv, summary.json "
    "(NaN written as nan in CSV and null in JSON; means skip NaN and the *_nan columns count them)."
)
_METRIC_FORMATS = {"dsc": ".3f", "hd95": ".2f", "avd": ".2f", "recall": ".3f", "f1": ".3f"}
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


TABLE_FILES = ("per_case.csv", "per_scanner.csv", "summary.json")


def write_tables(rows: Sequence[dict], out: Path) -> list[dict]:
    """Write ``per_case.csv``, ``per_scanner.csv`` and ``summary.json`` (``TABLE_FILES``) of per-case rows to
    ``out``, each atomically; return the per-scanner table (:func:`scanner_table`, ``Average`` last)."""
    out = Path(out)
    table = scanner_table(rows)
    nan_columns = [f"{m}_nan" for m in METRIC_NAMES]
    write_text_atomic(out / "per_case.csv", _csv_text(rows, PER_CASE_COLUMNS))
    write_text_atomic(out / "per_scanner.csv", _csv_text(table, ["scanner", "n", *METRIC_NAMES, *nan_columns]))
    average = table[-1]
    summary = {
        "n_cases": len(rows),
        "means": {m: average[m] for m in METRIC_NAMES},
        "nan_counts": {m: average[f"{m}_nan"] for m in METRIC_NAMES},
        "per_scanner": {t["scanner"]: {k: v for k, v in t.items() if k != "scanner"} for t in table[:-1]},
        "units": {"dsc": "fraction", "hd95": "mm", "avd": "percent", "recall": "fraction", "f1": "fraction"},
        "nan_policy": "means skip NaN values; *_nan / nan_counts give how many there were",
    }
    write_text_atomic(out / "summary.json", json.dumps(_nan_to_none(summary), indent=2, allow_nan=False) + "\n")
    return table


def tables_text(rows: Sequence[dict], table: Sequence[dict], per_case: bool = True) -> str:
    """The per-case table (unless ``per_case`` is False) and the per-scanner table as plain text, with a note
    on NaN values."""
    metric_columns = [(m, METRIC_LABELS[m], _METRIC_FORMATS[m]) for m in METRIC_NAMES]
    parts = []
    if per_case:
        parts.append(_format_table(rows, [("subject", "subject", ""), ("scanner", "scanner", ""), *metric_columns]))
        parts.append("")
    parts.append(_format_table(table, [("scanner", "scanner", ""), ("n", "n", "d"), *metric_columns]))
    average = table[-1]
    n_nan = {m: average[f"{m}_nan"] for m in METRIC_NAMES if average[f"{m}_nan"]}
    if n_nan:
        parts.append("NaN values (skipped in the means): " + ", ".join(f"{METRIC_LABELS[m]} {n}" for m, n in n_nan.items()))
    return "\n".join(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pred", required=True, type=Path, help="folder of predicted masks (see lookup order)")
    parser.add_argument(
        "--ref", required=True, type=Path,
        help="challenge-layout folder (<site>/<id>/wmh.nii.gz, found by listing) or a datalist JSON",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <pred>/evaluation)")
    parser.add_argument("--datalist-key", default="training", help="datalist section to evaluate (default: training)")
    parser.add_argument("--fold", type=int, default=None, help="evaluate only datalist entries of this fold")
    parser.add_argument(
        "--allow-missing", action="store_true", help="skip references without a prediction instead of failing"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the per-scanner table")
    parser.epilog = LOOKUP_HELP


def _collect_cases(args: argparse.Namespace) -> list[Case]:
    if args.ref.is_dir():
        return challenge_cases(args.ref)
    if args.ref.is_file():
        return datalist_cases(args.ref, key=args.datalist_key, fold=args.fold)
    raise EvaluationError(f"--ref {args.ref} is neither a folder nor a datalist file")


def _pair(args: argparse.Namespace, cases: Sequence[Case]) -> list[tuple[Case, Path]]:
    if not args.pred.is_dir():
        raise EvaluationError(f"--pred {args.pred} is not a folder")
    pairs, missing, used = [], [], {}
    for case in cases:
        prediction = find_prediction(args.pred, case)
        if prediction is None:
            missing.append(case)
            continue
        if prediction in used:
            raise EvaluationError(
                f"{prediction} would be used for two references ({used[prediction]} and {case.reference}): "
                "put predictions in <pred>/<site path>/<subject>/ when subject IDs repeat across sites"
            )
        used[prediction] = case.reference
        pairs.append((case, prediction))
    if missing:
        listing = "\n".join(f"  {c.scanner}/{c.subject}: {c.reference}" for c in missing)
        message = f"no prediction in {args.pred} for {len(missing)} of {len(cases)} references:\n{listing}"
        if not args.allow_missing or not pairs:
            names = ", ".join((*PREDICTION_NAMES, "<subject>.nii.gz"))
            raise EvaluationError(f"{message}\n(names looked for: {names})")
        print(f"warning: {message}\nthese are skipped (--allow-missing)", file=sys.stderr)
    return pairs


def run(args: argparse.Namespace) -> int:
    try:
        rows = score_pairs(_pair(args, _collect_cases(args)))
    except EvaluationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    out = args.out if args.out is not None else args.pred / "evaluation"
    table = write_tables(rows, out)
    print(tables_text(rows, table, per_case=not args.quiet))
    print(f"\nwritten: {', '.join(str(out / name) for name in TABLE_FILES)}")
    return 0
