"""Score a bundle evaluation with the WMH challenge metrics and log the results to its MLflow run.

The bundle's ``evaluating`` workflow writes one ``<subject>/result.nii.gz`` per case on the
case's own grid.  :func:`score_evaluation` scores those with :mod:`wmhseg.evaluation` (the
official challenge metrics: DSC, HD95, AVD, lesion recall and F1) and logs to the
evaluation run:

* artifacts ``tables/per_case.csv``, ``tables/per_scanner.csv``, ``tables/summary.json``;
* metrics ``challenge_<metric>`` (means over the cases, NaN skipped);
* artifacts ``qc/<subject>.png``: reference and prediction outlined on the FLAIR, for the
  first ``qc_cases`` cases;
* tag ``wmhseg.scored = true``, which the table builders require.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric

from .. import evaluation
from ..bundle import load_split
from ..metrics.challenge import METRIC_NAMES
from .qc import render_comparison

__all__ = ["METRIC_PREFIX", "TABLES_ARTIFACT", "read_per_case", "score_evaluation"]

METRIC_PREFIX = "challenge_"
TABLES_ARTIFACT = "tables"
"""Artifact folder of the challenge tables of an evaluation run."""


class ScoringError(RuntimeError):
    """The predictions of an evaluation could not be scored."""


def _datalist_section(split: str, fold: int) -> tuple[str, int | None]:
    return {"validation": ("training", fold), "test": ("test", None), "all": ("training", None)}[split]


def read_per_case(path: str | Path) -> list[dict]:
    """Rows of a ``per_case.csv`` written by :mod:`wmhseg.evaluation`, metrics as floats (NaN kept)."""
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        for name in METRIC_NAMES:
            row[name] = float(row[name]) if row.get(name) not in (None, "") else math.nan
    return rows


def score_evaluation(client: MlflowClient, run_id: str, datalist: Path, split: str, fold: int,
                     prediction_dir: Path, tables_dir: Path, qc_cases: int = 4) -> dict[str, float]:
    """Score the predictions in ``prediction_dir``, log everything to run ``run_id``; return the mean metrics."""
    key, section_fold = _datalist_section(split, fold)
    args = argparse.Namespace(pred=prediction_dir, ref=datalist, out=tables_dir, datalist_key=key, fold=section_fold,
                              allow_missing=False, quiet=True)
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        status = evaluation.run(args)
    if status != 0:
        raise ScoringError(f"scoring {prediction_dir} against {datalist} ({split}) failed: {errors.getvalue().strip()}")
    summary = json.loads((tables_dir / "summary.json").read_text())
    means = {name: value for name, value in summary["means"].items() if value is not None}
    client.log_artifacts(run_id, str(tables_dir), artifact_path=TABLES_ARTIFACT)
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(f"{METRIC_PREFIX}{name}", float(value), now, 0)
                                      for name, value in means.items()])

    if qc_cases > 0:
        rows = {row["subject"]: row for row in read_per_case(tables_dir / "per_case.csv")}
        qc_dir = tables_dir.parent / "qc"
        for item in load_split(datalist, split, fold)[:qc_cases]:
            row = rows[str(item["subject"])]
            flair = nib.load(item["image"])
            reference = np.asanyarray(nib.load(item["label"]).dataobj)
            prediction = np.asanyarray(nib.load(row["prediction"]).dataobj)
            title = (f"{row['subject']} ({row['scanner']}): DSC {row['dsc']:.3f}, AVD {row['avd']:.1f} %, "
                     f"F1 {row['f1']:.3f}")
            reference = np.where(reference == 2, 0, reference)  # label 2 (other pathology) is not WMH
            render_comparison(np.asanyarray(flair.dataobj), reference, prediction, flair.affine,
                              qc_dir / f"{row['subject']}.png", title)
        client.log_artifacts(run_id, str(qc_dir), artifact_path="qc")
    client.set_tag(run_id, "wmhseg.scored", "true")
    return means
