"""Run the MONAI bundle's ``training`` and ``evaluating`` workflows for one job, in this process.

Each workflow is exactly ``python -m monai.bundle run training|evaluating`` with the job's
top-level overrides (:meth:`Job.overrides`), run in this process by :func:`wmhseg.bundle.run_workflow`
so that a study of many short runs does not pay the interpreter start-up each time.  The
bundle's own MLflow tracker logs each run (an evaluation with its challenge metric tables);
afterwards the run is found by its name and tagged (:meth:`Job.tags`), and an evaluation gets
QC images (:mod:`.evaluation_qc`).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlflow.entities import Run

from ..bundle.workflow import run_workflow
from ..inference.bundle import default_bundle_dir
from .evaluation_qc import log_evaluation_qc
from .store import find_run, set_tags, tracking_environment
from .study import Job

__all__ = ["JobResult", "run_job"]

logger = logging.getLogger(__name__)

TRAIN_CONFIGS = ("train.json",)
EVALUATE_CONFIGS = ("train.json", "evaluate.json")


def _run_bundle(
    config_names: Sequence[str], workflow_type: str, overrides: Mapping[str, Any], tracking_uri: str
) -> None:
    """Run the bundle workflow of ``config_names`` (merged in order) with ``overrides``; raise on failure."""
    configs = default_bundle_dir() / "configs"
    missing = [name for name in config_names if not (configs / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"bundle configs {missing} not found in {configs}; set WMHSEG_BUNDLE to the bundle folder"
        )
    with tracking_environment(tracking_uri):
        try:
            run_workflow([str(configs / name) for name in config_names], workflow_type=workflow_type, **overrides)
        finally:
            gc.collect()  # free the job's workflow (datasets, caches) before the next job starts


@dataclass(frozen=True)
class JobResult:
    """Outcome of one job: its run ids, or the error that stopped it."""

    preset: str
    fold: int
    train_run_id: str | None = None
    eval_run_id: str | None = None
    skipped: bool = False
    error: str | None = None


def _tagged_run(job: Job, role: str, **extra: Any) -> Run | None:
    """The run ``role`` of ``job``, tagged; None when the workflow failed before creating it."""
    client = job.study.client
    try:
        run = find_run(client, job.study.experiment, job.run_name(role))
    except LookupError:
        return None
    set_tags(client, run.info.run_id, job.tags(role, **extra))
    return run


def _train(job: Job) -> str:
    try:
        _run_bundle(TRAIN_CONFIGS, "train", job.overrides("train"), job.study.tracking_uri)
    finally:  # tag the run whatever happened, so that a failed one is findable in the UI
        run = _tagged_run(job, "train")
    if run is None or run.info.status != "FINISHED" or not (job.ckpt_dir / "model.pt").is_file():
        status = "no run" if run is None else run.info.status
        raise RuntimeError(f"training {job.run_name('train')} ended with {status} and no {job.ckpt_dir / 'model.pt'}")
    return run.info.run_id


def _evaluate(job: Job, train_run_id: str) -> str:
    try:
        _run_bundle(EVALUATE_CONFIGS, "eval", job.overrides("evaluation"), job.study.tracking_uri)
    finally:
        run = _tagged_run(job, "evaluation", **{"wmhseg.train_run_id": train_run_id})
    if run is None or run.info.status != "FINISHED":
        status = "no run" if run is None else run.info.status
        raise RuntimeError(f"evaluation {job.run_name('evaluation')} ended with {status}")
    log_evaluation_qc(
        job.study.client,
        run.info.run_id,
        job.study.datalist,
        job.study.eval_split,
        job.fold,
        eval_dir=job.output_dir / "evaluation",
        qc_cases=job.study.budget.qc_cases,
    )
    return run.info.run_id


def _cause(error: BaseException) -> BaseException:
    """The innermost cause of ``error``: the config parser wraps errors raised inside its expressions."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def run_job(job: Job, resume: bool = True) -> JobResult:
    """Train ``job.preset`` on every fold but ``job.fold``, evaluate it, tag both runs, log QC images.

    With ``resume``, a job whose evaluation already finished in the study is skipped.
    Errors are caught and returned in :attr:`JobResult.error` (the runs are left FAILED by the
    bundle's tracker), so that one failing variant does not stop a study.
    """
    if resume:
        done = job.study.finished_evaluation(job.preset, job.fold)
        if done is not None:
            logger.info(f"{job.preset} fold {job.fold}: evaluated before in study {job.study.id} (run {done}); skipped")
            return JobResult(job.preset, job.fold, eval_run_id=done, skipped=True)
    train_run_id = None
    try:
        train_run_id = _train(job)
        eval_run_id = _evaluate(job, train_run_id)
    except Exception as err:  # one failing job must not stop the study
        logger.exception(f"{job.preset} fold {job.fold} failed")
        cause = _cause(err)
        return JobResult(job.preset, job.fold, train_run_id, error=f"{type(cause).__name__}: {cause}")
    return JobResult(job.preset, job.fold, train_run_id, eval_run_id)
