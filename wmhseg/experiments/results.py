"""Read a study's results back from the MLflow store: its evaluation runs and their per-case tables.

Nothing here needs the study's files on disk: runs are found by their tags and the per-case
challenge scores are downloaded from each evaluation run's ``per_case.csv`` artifact.
Per network preset, the cases of all its evaluated folds are pooled and summarised per
scanner and overall (the challenge's mean over images), as :func:`wmhseg.evaluation.scanner_table`
does for one evaluation.
"""

from __future__ import annotations

import csv
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient

from ..evaluation import scanner_table
from ..metrics.challenge import METRIC_NAMES
from .store import search_runs

__all__ = ["Evaluation", "PER_CASE_ARTIFACT", "StudyResults", "latest_study", "load_study", "read_per_case"]

PER_CASE_ARTIFACT = "per_case.csv"
"""The per-case challenge scores of an evaluation run, logged by the bundle's evaluation."""


def read_per_case(path: str | Path) -> list[dict]:
    """Rows of a ``per_case.csv`` as written by :func:`wmhseg.evaluation.write_tables`, metrics as floats."""
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        for name in METRIC_NAMES:
            row[name] = float(row[name]) if row.get(name) not in (None, "") else math.nan
    return rows


@dataclass(frozen=True)
class Evaluation:
    """One finished evaluation run: which preset and fold, and its per-case rows."""

    run_id: str
    preset: str
    fold: int
    train_run_id: str | None
    rows: tuple[dict, ...]


@dataclass(frozen=True)
class StudyResults:
    """The evaluations of one study, newest run kept per (preset, fold)."""

    study: str
    experiment: str
    tracking_uri: str
    study_run_id: str | None
    dataset: str
    budget: str
    eval_split: str
    evaluations: tuple[Evaluation, ...]

    @property
    def presets(self) -> list[str]:
        return sorted({e.preset for e in self.evaluations})

    def of(self, preset: str) -> list[Evaluation]:
        return sorted((e for e in self.evaluations if e.preset == preset), key=lambda e: e.fold)

    def pooled(self, preset: str) -> list[dict]:
        """Per-scanner means of ``preset`` over the cases of all its folds, then the ``Average`` row (see
        :func:`wmhseg.evaluation.scanner_table`); empty when the preset was not evaluated."""
        rows = [row for evaluation in self.of(preset) for row in evaluation.rows]
        return scanner_table(rows) if rows else []

    def per_fold(self, preset: str) -> dict[int, dict]:
        """Fold -> the ``Average`` row of that fold's evaluation."""
        return {e.fold: scanner_table(list(e.rows))[-1] for e in self.of(preset)}


def latest_study(client: MlflowClient, experiment: str, pipeline: str | None = None) -> str:
    """Id of the newest study in ``experiment`` (of ``pipeline`` when given); ``LookupError`` if none."""
    tags = {"wmhseg.role": "study", **({"wmhseg.pipeline": pipeline} if pipeline else {})}
    runs = search_runs(client, experiment, tags=tags)
    if not runs:
        raise LookupError(f"no {pipeline or ''} study in MLflow experiment {experiment!r} at {client.tracking_uri}")
    return runs[0].data.tags["wmhseg.study"]


def load_study(
    tracking_uri: str, experiment: str, study: str | None = None, pipeline: str | None = None
) -> StudyResults:
    """The finished evaluations of ``study`` (default: the newest study of ``pipeline``) from the store."""
    client = MlflowClient(tracking_uri)
    study = study or latest_study(client, experiment, pipeline)
    parents = search_runs(client, experiment, tags={"wmhseg.study": study, "wmhseg.role": "study"})
    runs = search_runs(client, experiment, status="FINISHED", tags={"wmhseg.study": study, "wmhseg.role": "evaluation"})
    if not runs:
        raise LookupError(f"study {study!r} has no finished evaluation in experiment {experiment!r} at {tracking_uri}")
    newest: dict[tuple[str, int], object] = {}
    for run in runs:  # newest first: keep the first per (preset, fold)
        key = (run.data.tags["wmhseg.network_preset"], int(run.data.tags["wmhseg.fold"]))
        newest.setdefault(key, run)
    evaluations = []
    with tempfile.TemporaryDirectory() as scratch:
        for (preset, fold), run in sorted(newest.items()):
            local = client.download_artifacts(run.info.run_id, PER_CASE_ARTIFACT, scratch)
            evaluations.append(
                Evaluation(
                    run.info.run_id,
                    preset,
                    fold,
                    run.data.tags.get("wmhseg.train_run_id"),
                    tuple(read_per_case(Path(local))),
                )
            )
    tags = (parents[0] if parents else runs[0]).data.tags
    return StudyResults(
        study=study,
        experiment=experiment,
        tracking_uri=tracking_uri,
        study_run_id=parents[0].info.run_id if parents else None,
        dataset=tags.get("wmhseg.dataset", ""),
        budget=tags.get("wmhseg.budget", ""),
        eval_split=tags.get("wmhseg.eval_split", ""),
        evaluations=tuple(evaluations),
    )
