"""Reproduce the 3D SA-UNet paper's Tables 1-3: train and evaluate every variant, then build the tables.

:func:`reproduce_tables` trains each of the six Table 1 variants and the Table 2 baselines
(:data:`VARIANTS`) through the bundle on the chosen fold(s), scores each with the challenge
metrics, and then :func:`make_tables` rebuilds Tables 1, 2 and 3 from the MLflow store alone
(markdown, CSV and bar plots in ``out_dir``, also logged to the study's parent run under
``tables/``).  On the WMH challenge data with a labelled ``test`` list, the evaluation is on
the test set as in the paper (fold K only picks the checkpoint); otherwise on the held-out fold.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from ..data.datalist import choose_folds
from ..networks import TABLE1, TABLE2
from .budget import Budget
from .bundle_run import JobResult, run_job
from .plots import plot_tables
from .results import load_study
from .study import Study, open_study
from .tables import PaperTable, build_tables, write_tables

__all__ = ["PIPELINE", "Reproduction", "Tables", "VARIANTS", "make_tables", "reproduce_tables"]

logger = logging.getLogger(__name__)

PIPELINE = "reproduce_tables"
VARIANTS = tuple(dict.fromkeys(TABLE1 + TABLE2))
"""The trained presets: Table 1's six rows, then the Table 2 baselines (3D SA-UNet once)."""


@dataclass(frozen=True)
class Tables:
    """Tables 1-3 of a study and the files written for them."""

    study: str
    tables: tuple[PaperTable, ...]
    files: tuple[Path, ...]


@dataclass(frozen=True)
class Reproduction:
    study: Study
    results: tuple[JobResult, ...]
    tables: Tables | None

    @property
    def failures(self) -> list[JobResult]:
        return [result for result in self.results if result.error]


def make_tables(
    tracking_uri: str, experiment: str, study: str | None, out_dir: str | Path | None = None, work_dir: str | Path = "."
) -> Tables:
    """Build Tables 1-3 of ``study`` (default: the newest reproduction study) from the MLflow store.

    Writes ``table{1,2,3}.{md,csv}``, ``tables.md``, ``tables.png`` (Tables 1 and 2, ours against
    the paper) and ``table3.png`` to ``out_dir`` (default ``<work_dir>/<study>/tables``) and logs them to the
    study's parent run under ``tables/``.
    """
    results = load_study(tracking_uri, experiment, study, pipeline=PIPELINE)
    out_dir = Path(out_dir) if out_dir is not None else Path(work_dir) / results.study / "tables"
    tables = build_tables(results)
    files = write_tables(tables, out_dir)
    title = f"study {results.study} on {results.dataset} (budget {results.budget})"
    plot_tables(tables[:2], out_dir / "tables.png", title=f"Tables 1-2, {title}")
    plot_tables(tables[2:], out_dir / "table3.png", title=f"Table 3, {title}")
    files += [out_dir / "tables.png", out_dir / "table3.png"]
    if results.study_run_id is not None:
        client = MlflowClient(tracking_uri)
        for path in files:
            client.log_artifact(results.study_run_id, str(path), artifact_path="tables")
    return Tables(results.study, tuple(tables), tuple(files))


def reproduce_tables(
    datalist: str | Path,
    budget: Budget,
    tracking_uri: str,
    work_dir: str | Path,
    folds: Sequence[int] | None = (0,),
    variants: Sequence[str] = VARIANTS,
    experiment: str = "wmhseg-paper",
    eval_split: str = "auto",
    study_id: str | None = None,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
) -> Reproduction:
    """Train and evaluate ``variants`` on ``folds`` (None: every fold), then build the tables.

    ``eval_split="auto"`` evaluates on the datalist's labelled ``test`` list when it has one, else on
    the held-out fold.  A failing variant is reported and the others go on; the tables then show it
    as not evaluated.  ``study_id`` of an interrupted study continues it.
    """
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variants {unknown}; the tables' presets are {list(VARIANTS)}")
    folds = choose_folds(datalist, folds)
    study = open_study(PIPELINE, datalist, budget, experiment, tracking_uri, work_dir, study_id=study_id,
                       eval_split=eval_split, seed=seed, overrides=overrides,
                       params={"variants": list(variants), "folds": list(folds)},
                       description=f"Reproduction of the 3D SA-UNet paper's Tables 1-3 (variants: "
                                   f"{', '.join(variants)}).")  # fmt: skip
    results = []
    total = len(variants) * len(folds)
    for preset in variants:
        for fold in folds:
            logger.info(f"reproduction {study.id}: {preset}, fold {fold} ({len(results) + 1}/{total})")
            results.append(run_job(study.job(preset, fold)))
    tables = None
    if any(result.eval_run_id for result in results):
        tables = make_tables(tracking_uri, experiment, study.id, out_dir or study.folder / "tables")
    study.finish(failures=sum(1 for result in results if result.error))
    return Reproduction(study, tuple(results), tables)
