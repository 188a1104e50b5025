"""Cross-validation through the bundle: train on all folds but one, evaluate on that one, for every fold.

All runs of one invocation form a study (:mod:`.study`) in one MLflow experiment, each tagged
with its fold; the summary (per fold, pooled per scanner and overall) is rebuilt from the store
(:func:`summarise`) and logged to the study's parent run as ``summary/cv_summary.{md,csv}``.

Folds come from the datalist (``wmhseg prepare`` writes k-fold or leave-one-scanner-out
folds); ``scheme="leave-one-scanner-out"`` re-folds any datalist by scanner first.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.datalist import choose_folds, leave_one_scanner_out, read_datalist, scanner_folds, scanners
from ..io import write_text_atomic
from ..metrics.challenge import METRIC_LABELS, METRIC_NAMES
from .budget import Budget
from .bundle_run import JobResult, run_job
from .results import StudyResults, load_study
from .study import Study, open_study

__all__ = ["CrossValidation", "SCHEMES", "cross_validate", "summarise"]

logger = logging.getLogger(__name__)

SCHEMES = ("datalist", "leave-one-scanner-out")
PIPELINE = "cross_validate"
_FORMATS = {"dsc": ".3f", "hd95": ".2f", "avd": ".1f", "recall": ".3f", "f1": ".3f"}


@dataclass(frozen=True)
class CrossValidation:
    """A finished cross-validation: its study, the jobs' outcomes and the summary files."""

    study: Study
    results: tuple[JobResult, ...]
    summary_files: tuple[Path, ...]

    @property
    def failures(self) -> list[JobResult]:
        return [result for result in self.results if result.error]


def cross_validate(
    datalist: str | Path,
    budget: Budget,
    tracking_uri: str,
    work_dir: str | Path,
    preset: str = "saunet3d",
    folds: Sequence[int] | None = None,
    scheme: str = "datalist",
    experiment: str = "wmhseg-cv",
    study_id: str | None = None,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
) -> CrossValidation:
    """Train ``preset`` on every fold but K and evaluate it on fold K, for each K of ``folds`` (default all).

    Returns when every fold ran; a failing fold is logged, reported in the result, and does not stop
    the others.  ``study_id`` of an earlier, interrupted study continues it (finished folds skipped).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    datalist = Path(datalist).expanduser().resolve()
    if scheme == "leave-one-scanner-out":
        fold_scheme = scheme
        folds = choose_folds(datalist, folds, available=range(len(scanners(datalist))))
    else:
        fold_scheme = str(read_datalist(datalist).get("fold_scheme", "kfold"))
        folds = choose_folds(datalist, folds)
    study = open_study(PIPELINE, datalist, budget, experiment, tracking_uri, work_dir, study_id=study_id,
                       fold_scheme=fold_scheme, eval_split="validation", seed=seed, overrides=overrides,
                       params={"network_preset": preset, "scheme": scheme},
                       description=f"Cross-validation of `{preset}` on `{datalist}` ({scheme} folds).")  # fmt: skip
    if scheme == "leave-one-scanner-out":  # the jobs read a copy of the datalist whose folds are the scanners
        study.datalist = leave_one_scanner_out(datalist, study.folder / "datalist_loso.json")
    results = []
    for fold in folds:
        logger.info(f"cross-validation {study.id}: {preset}, fold {fold} ({folds.index(fold) + 1}/{len(folds)})")
        results.append(run_job(study.job(preset, fold)))
    files: tuple[Path, ...] = ()
    if any(result.eval_run_id for result in results):
        files = tuple(
            summarise(
                load_study(tracking_uri, experiment, study.id),
                study.folder / "summary",
                preset,
                scanner_names=scanner_folds(study.datalist) if study.fold_scheme == "leave-one-scanner-out" else None,
            )
        )
        for path in files:
            study.client.log_artifact(study.run_id, str(path), artifact_path="summary")
    failed = [result for result in results if result.error]
    study.finish(failures=len(failed))
    return CrossValidation(study, tuple(results), files)


def summarise(
    results: StudyResults, out_dir: str | Path, preset: str = "saunet3d", scanner_names: Mapping[int, str] | None = None
) -> list[Path]:
    """Write ``cv_summary.md`` and ``cv_summary.csv`` of ``preset`` in ``results`` to ``out_dir``: one row per
    fold (its mean over cases), then the pooled mean per scanner and over all cases; return the paths."""
    per_fold = results.per_fold(preset)
    if not per_fold:
        raise LookupError(f"study {results.study} has no evaluation of {preset}")
    rows = [
        {
            "group": f"fold {fold}" + (f" ({scanner_names[fold]})" if scanner_names and fold in scanner_names else ""),
            **row,
        }
        for fold, row in per_fold.items()
    ]
    pooled = results.pooled(preset)
    rows += [
        {"group": "pooled: " + ("all cases" if row["scanner"] == "Average" else row["scanner"]), **row}
        for row in pooled
    ]
    columns = ["group", "n", *METRIC_NAMES]
    header = "| " + " | ".join(["", "n", *(METRIC_LABELS[m] for m in METRIC_NAMES)]) + " |"
    lines = [
        f"**Cross-validation of `{preset}`**: study `{results.study}` on `{results.dataset}`, budget "
        f"`{results.budget}`; means over cases (NaN skipped), AVD in %.",
        "",
        header,
        "|---|" + "---:|" * (len(columns) - 1),
    ]
    lines += [
        "| "
        + " | ".join(
            [
                row["group"],
                str(row["n"]),
                *(format(row[m], _FORMATS[m]) if not math.isnan(row[m]) else "NaN" for m in METRIC_NAMES),
            ]
        )
        + " |"
        for row in rows
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows([{**row, **{m: repr(float(row[m])) for m in METRIC_NAMES}} for row in rows])
    out_dir = Path(out_dir)
    paths = [out_dir / "cv_summary.md", out_dir / "cv_summary.csv"]
    write_text_atomic(paths[0], "\n".join(lines) + "\n")
    write_text_atomic(paths[1], buffer.getvalue())
    return paths
