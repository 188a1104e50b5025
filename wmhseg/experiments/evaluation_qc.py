"""QC images of a bundle evaluation, logged to its MLflow run.

The bundle's ``evaluating`` workflow (``bundle/configs/evaluate.json``) saves one
``<subject>/result.nii.gz`` per case on the case's own grid, scores them with the WMH
challenge metrics (DSC, HD95, AVD, lesion recall and F1, as ``wmhseg evaluate`` does), writes
``per_case.csv``, ``per_scanner.csv`` and ``summary.json`` to ``<output_dir>/evaluation`` and
logs them to its run with the means as ``eval_<metric>``.  :func:`log_evaluation_qc` adds
``qc/<subject>.png`` for the first cases: the FLAIR with the reference (green) and the
prediction (red) outlined.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from mlflow import MlflowClient

from ..bundle import load_split
from ..reporting.qc import render_comparison
from .results import read_per_case

__all__ = ["log_evaluation_qc"]


def log_evaluation_qc(
    client: MlflowClient, run_id: str, datalist: Path, split: str, fold: int, eval_dir: Path, qc_cases: int
) -> list[Path]:
    """Draw the first ``qc_cases`` cases of the evaluation in ``eval_dir`` and log them to run ``run_id``.

    Raises ``FileNotFoundError`` when the evaluation wrote no ``per_case.csv`` (it did not finish).
    """
    tables = eval_dir / "per_case.csv"
    if not tables.is_file():
        raise FileNotFoundError(f"the bundle's evaluation wrote no challenge tables: {tables} is missing")
    if qc_cases <= 0:
        return []
    rows = {row["subject"]: row for row in read_per_case(tables)}
    images = []
    for item in load_split(datalist, split, fold)[:qc_cases]:
        row = rows[str(item["subject"])]
        flair = nib.load(item["image"])
        reference = np.asanyarray(nib.load(item["label"]).dataobj)
        reference = np.where(reference == 2, 0, reference)  # label 2 (other pathology) is not WMH
        prediction = np.asanyarray(nib.load(row["prediction"]).dataobj)
        title = f"{row['subject']} ({row['scanner']}): DSC {row['dsc']:.3f}, AVD {row['avd']:.1f} %, F1 {row['f1']:.3f}"
        path = eval_dir.parent / "qc" / f"{row['subject']}.png"
        render_comparison(np.asanyarray(flair.dataobj), reference, prediction, flair.affine, path, title)
        client.log_artifact(run_id, str(path), artifact_path="qc")
        images.append(path)
    return images
