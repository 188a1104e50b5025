"""Evaluation outputs of the bundle: one ``<subject>/result.nii.gz`` per case, and metric tables.

Predictions are written in the challenge's layout (``<predictions>/<subject>/result.nii.gz``)
so that any evaluation script reading that layout can score them.

:class:`CaseMetricTables` is PROVISIONAL: it computes Dice and absolute volume difference
(AVD, %) per case with label 2 as "don't care", and will be replaced by the challenge
metrics and tables of ``wmhseg.metrics``.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from ignite.engine import Engine, Events
from monai.data import FolderLayoutBase

from .files import atomic_open

RESULT_NAME = "result.nii.gz"


class SubjectFolderLayout(FolderLayoutBase):
    """File names ``output_dir/<subject>/result.nii.gz`` for MONAI ``SaveImaged``.

    Pass the object as ``folder_layout`` and its :meth:`name_formatter` as
    ``output_name_formatter``: the formatter finds the subject of an image from the
    datalist ``items`` by the image's file name.
    """

    def __init__(self, output_dir: str, items: Sequence[Mapping[str, Any]], filename: str = RESULT_NAME) -> None:
        self.output_dir = Path(output_dir)
        self.result_name = filename
        self.subjects = {str(Path(item["image"]).resolve()): str(item["subject"]) for item in items}
        if len(set(self.subjects.values())) != len(self.subjects):
            raise ValueError("SubjectFolderLayout: subjects in the evaluation datalist are not unique.")

    def name_formatter(self, meta: Mapping[str, Any], saver: Any = None) -> dict[str, str]:
        image = str(Path(str(meta["filename_or_obj"])).resolve())
        if image not in self.subjects:
            raise KeyError(f"{image} is not in the evaluation datalist.")
        return {"subject": self.subjects[image]}

    def path(self, subject: str) -> Path:
        return self.output_dir / subject / self.result_name

    def filename(self, subject: str = "subject", **kwargs: Any) -> Path:
        path = self.path(subject)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def _case_metrics(prediction: np.ndarray, reference: np.ndarray, voxel_ml: float) -> dict[str, float]:
    """Dice and AVD (%) of WMH (label 1), ignoring the reference's label-2 voxels."""
    care = reference != 2
    truth = (reference == 1) & care
    result = (prediction != 0) & care
    overlap = np.count_nonzero(truth & result)
    n_truth, n_result = np.count_nonzero(truth), np.count_nonzero(result)
    dice = 2.0 * overlap / (n_truth + n_result) if n_truth + n_result else math.nan
    avd = 100.0 * abs(n_result - n_truth) / n_truth if n_truth else math.nan
    return {"dice": dice, "avd": avd, "volume_ref_ml": n_truth * voxel_ml, "volume_pred_ml": n_result * voxel_ml}


def _mean(values: Sequence[float]) -> float:
    """Mean of the non-NaN values; NaN when there are none."""
    finite = [value for value in values if not math.isnan(value)]
    return float(np.mean(finite)) if finite else math.nan


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_open(path, newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


class CaseMetricTables:
    """PROVISIONAL per-case and per-scanner tables of the saved predictions.

    At the evaluator's epoch end, reads each case's prediction from ``layout`` and its
    reference label from the datalist, both on the reference's voxel grid, and writes
    ``per_case.csv`` and ``per_scanner.csv`` (means per scanner and over all cases) to
    ``output_dir``; the means over all cases go into ``engine.state.metrics`` as
    ``eval_<metric>``.  Raises ``ValueError`` if a prediction's shape differs from its
    reference's.
    """

    def __init__(self, layout: SubjectFolderLayout, items: Sequence[Mapping[str, Any]], output_dir: str) -> None:
        self.layout = layout
        self.items = list(items)
        self.output_dir = Path(output_dir)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        cases = []
        for item in self.items:
            path = self.layout.path(str(item["subject"]))
            reference = nib.load(item["label"])
            prediction = np.asanyarray(nib.load(path).dataobj)
            if prediction.shape != reference.shape:
                raise ValueError(f"{path}: shape {prediction.shape} differs from reference {item['label']} {reference.shape}.")
            voxel_ml = float(np.prod(reference.header.get_zooms()[:3])) / 1000.0
            metrics = _case_metrics(prediction, np.rint(np.asanyarray(reference.dataobj)).astype(np.int64), voxel_ml)
            cases.append({"subject": item["subject"], "scanner": item["scanner"], **metrics})
        names = [key for key in cases[0] if key not in ("subject", "scanner")]
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for case in cases:
            groups[str(case["scanner"])].append(case)
        groups["all"] = cases
        summary = [
            {"scanner": scanner, "n": len(rows), **{name: _mean([row[name] for row in rows]) for name in names}}
            for scanner, rows in groups.items()
        ]
        self.output_dir.mkdir(parents=True, exist_ok=True)
        _write_csv(self.output_dir / "per_case.csv", cases)
        _write_csv(self.output_dir / "per_scanner.csv", summary)
        engine.state.metrics.update({f"eval_{name}": summary[-1][name] for name in names})
