"""Run summaries: ``summary.json`` per subject and ``summary.csv`` with one row per subject of a batch.

``summary.json`` is the last file written for a subject; ``"status": "ok"`` in it means
every output listed under ``"outputs"`` was written completely by the same run.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

from ..io import write_text_atomic

COHORT_COLUMNS = (
    "subject",
    "status",
    "error",
    "warnings",
    "input",
    "wmh_volume_ml",
    "lesion_count",
    "wmh_voxels",
    "periventricular_volume_ml",
    "deep_volume_ml",
    "intracranial_volume_ml",
    "wmh_percent_icv",
    "threshold",
    "min_lesion_voxels",
    "elapsed_s",
    "output_dir",
)
"""Columns of ``summary.csv``.  ``status`` is ``ok``, ``skipped`` (complete outputs of an
earlier run with the same input and settings were kept) or ``failed`` (``error`` says why);
``warnings`` lists, separated by ``"; "``, what is implausible about an input that was still processed.
The regional volumes and the intracranial volume are empty for networks without the anatomy classes."""


def write_subject_summary(summary: dict, path: str | os.PathLike) -> None:
    """Write a subject's ``summary.json`` atomically."""
    write_text_atomic(path, json.dumps(summary, indent=2, sort_keys=False) + "\n")


def read_subject_summary(path: str | os.PathLike) -> dict | None:
    """The content of a ``summary.json``, or None when it is missing or unreadable."""
    try:
        content = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def cohort_row(summary: dict, status: str | None = None) -> dict:
    """The ``summary.csv`` row of a subject from its summary dict."""
    row = {key: summary.get(key, "") for key in COHORT_COLUMNS}
    row["input"] = (
        summary.get("input", {}).get("path", "") if isinstance(summary.get("input"), dict) else summary.get("input", "")
    )
    if isinstance(row["warnings"], (list, tuple)):
        row["warnings"] = "; ".join(row["warnings"])
    if status is not None:
        row["status"] = status
    for key in ("wmh_volume_ml", "periventricular_volume_ml", "deep_volume_ml", "elapsed_s"):
        if isinstance(row[key], float):
            row[key] = f"{row[key]:.2f}" if key == "elapsed_s" else f"{row[key]:.6f}"
    for key in ("intracranial_volume_ml", "wmh_percent_icv"):
        if isinstance(row[key], float):
            row[key] = f"{row[key]:.4f}"
    return {k: "" if v is None else v for k, v in row.items()}


def write_cohort_csv(rows: Sequence[dict], path: str | os.PathLike) -> None:
    """Write ``summary.csv`` (one row per subject, :data:`COHORT_COLUMNS`) atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COHORT_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())
