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
import sys
from collections.abc import Sequence
from pathlib import Path

from ..evaluation import (
    PREDICTION_NAMES,
    TABLE_FILES,
    Case,
    EvaluationError,
    challenge_cases,
    datalist_cases,
    find_prediction,
    score_pairs,
    tables_text,
    write_tables,
)

LOOKUP_HELP = (
    "Reference: a folder (every wmh.nii.gz below it; scanner = path of the site folder) or a datalist JSON. "
    "Prediction of a subject, first match: the folder <pred>/<path below --ref>/, <pred>/<scanner>/<subject>/ or "
    "<pred>/<subject>/ holding "
    + ", ".join(PREDICTION_NAMES)
    + "; then <pred>/<subject>.nii.gz or .nii. Outputs: per_case.csv, per_scanner.csv, summary.json "
    "(NaN written as nan in CSV and null in JSON; means skip NaN and the *_nan columns count them)."
)


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
