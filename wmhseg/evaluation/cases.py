"""The cases of an evaluation: references found in the challenge layout or a datalist, and their predictions.

Reference sources:

* a folder in the challenge layout: every ``wmh.nii.gz`` below it is a case; the subject is its folder name and
  the scanner is the path from the folder to the subject's parent folder (``Utrecht``, ``Amsterdam/GE3T``,
  ``Amsterdam/Philips_VU .PETMR_01.``, ...; folders are discovered by listing, never by name);
* a datalist JSON (``{"training": [{"label": ..., "subject": ..., "scanner": ...}, ...]}``, paths relative to
  its folder): the cases of one section, optionally of one fold.

Prediction lookup (:func:`find_prediction`), first match wins: in the folder ``<pred>/<path of the subject below
the reference folder>`` (challenge layout only, i.e. the predictions mirror the references), then
``<pred>/<scanner>/<subject>``, then ``<pred>/<subject>``, the files ``result.nii.gz``, ``result.nii``,
``wmh_mask.nii.gz`` (written by ``wmhseg`` inference), ``wmh_mask.nii``; then the files ``<pred>/<subject>.nii.gz``
and ``<pred>/<subject>.nii``. Unlike the official script there is no "most similar file name" fallback.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..data.datalist import natural_key, read_datalist, resolve_paths

__all__ = [
    "PREDICTION_NAMES",
    "REFERENCE_NAME",
    "Case",
    "EvaluationError",
    "challenge_cases",
    "datalist_cases",
    "find_prediction",
    "natural_key",
    "sorted_cases",
]

REFERENCE_NAME = "wmh.nii.gz"
PREDICTION_NAMES = ("result.nii.gz", "result.nii", "wmh_mask.nii.gz", "wmh_mask.nii")


class EvaluationError(RuntimeError):
    """A problem with the inputs of the evaluation, with a message naming the files concerned."""


@dataclass(frozen=True)
class Case:
    """One reference to score: its subject, scanner, file, and sub-folder in the challenge layout."""

    subject: str
    scanner: str
    reference: Path
    relative_dir: Path | None = None  # <site path>/<subject> below --ref, challenge layout only


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
        items = resolve_paths(read_datalist(datalist, key)[key], datalist.parent)
    except (OSError, ValueError) as err:
        raise EvaluationError(str(err)) from err
    cases = []
    for index, entry in enumerate(items):
        if fold is not None and entry.get("fold") != fold:
            continue
        if "label" not in entry:
            raise EvaluationError(f"datalist {datalist}: entry {index} of {key!r} has no 'label'")
        label = Path(entry["label"])
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
