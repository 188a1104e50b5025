"""A study: the trainings and evaluations of one pipeline invocation, grouped in MLflow.

A study has an id (``YYYYmmdd-HHMMSS`` unless given), a parent MLflow run (role ``study``)
that holds its settings and, at the end, its summary tables, and one :class:`Job` per
(network preset, fold).  Every run of a study carries the tags

* ``wmhseg.study``, ``wmhseg.pipeline``, ``wmhseg.role`` (``study``, ``train`` or ``evaluation``);
* ``wmhseg.network_preset``, ``wmhseg.fold``, ``wmhseg.fold_scheme``, ``wmhseg.eval_split``;
* ``wmhseg.dataset`` (the datalist's name), ``wmhseg.budget``;
* ``wmhseg.git_commit`` and MLflow's ``mlflow.source.git.commit`` (when run from a git checkout);
* ``mlflow.parentRunId`` (so the UI nests the runs under the study) and a one-paragraph
  ``mlflow.note.content`` description;

so MLflow's run table reads as "which network, which fold, which data, which code", and
tables can be rebuilt from the store alone.  Files go to ``<work_dir>/<study id>/``.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Param, RunStatus

from ..data.datalist import datalist_name, default_eval_split
from ..io import write_text_atomic
from ..networks import network_preset
from .budget import Budget
from .store import DESCRIPTION_TAG, experiment_id, git_commit, search_runs

__all__ = ["Job", "Study", "open_study"]

ROLES = ("study", "train", "evaluation")
_MAY_CHANGE = ("folds", "variants")
"""Study parameters that may differ when a study is continued (more folds, more variants)."""


@dataclass
class Study:
    """Settings shared by every job of one pipeline invocation (see the module docstring).

    Args:
        id: the study id, a tag on every run.
        pipeline: which pipeline runs it (``cross_validate``, ``reproduce_tables``, ...).
        datalist: the datalist JSON the jobs train and evaluate on.
        budget: size of every training.
        experiment: MLflow experiment.
        tracking_uri: MLflow store.
        work_dir: parent folder of the study's folder.
        fold_scheme: ``kfold`` or ``leave-one-scanner-out`` (a tag; the datalist's folds decide).
        eval_split: ``validation``, ``test`` or ``all`` (``auto`` is resolved on creation).
        seed: the bundle's ``seed``.
        overrides: further top-level bundle overrides, applied after the budget's.
        dataset: name of the data set (default: the datalist's name).
        git_commit: commit of the checkout running the study (``-dirty`` with uncommitted changes), if any.
        run_id: the study's parent MLflow run.
    """

    id: str
    pipeline: str
    datalist: Path
    budget: Budget
    experiment: str
    tracking_uri: str
    work_dir: Path
    fold_scheme: str = "kfold"
    eval_split: str = "validation"
    seed: int = 0
    overrides: Mapping[str, Any] = field(default_factory=dict)
    dataset: str = ""
    git_commit: str | None = None
    run_id: str | None = None

    @property
    def folder(self) -> Path:
        """``<work_dir>/<id>``: checkpoints, predictions and tables of the study."""
        return self.work_dir / self.id

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.tracking_uri)

    def tags(self, role: str) -> dict[str, str | None]:
        """Tags every run of the study carries."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        commit = self.git_commit
        return {
            "wmhseg.study": self.id,
            "wmhseg.pipeline": self.pipeline,
            "wmhseg.role": role,
            "wmhseg.dataset": self.dataset,
            "wmhseg.datalist": str(self.datalist),
            "wmhseg.budget": self.budget.name,
            "wmhseg.fold_scheme": self.fold_scheme,
            "wmhseg.eval_split": self.eval_split,
            "wmhseg.git_commit": commit,
            "mlflow.source.git.commit": commit.removesuffix("-dirty") if commit else None,
        }

    def job(self, preset: str, fold: int) -> Job:
        return Job(self, preset, int(fold))

    def finished_evaluation(self, preset: str, fold: int) -> str | None:
        """Run id of a FINISHED evaluation of ``preset`` on ``fold`` in this study, if there is one."""
        runs = search_runs(self.client, self.experiment, status="FINISHED", tags={
            "wmhseg.study": self.id, "wmhseg.role": "evaluation", "wmhseg.network_preset": preset,
            "wmhseg.fold": str(fold)})  # fmt: skip
        return runs[0].info.run_id if runs else None

    def finish(self, failures: int = 0) -> None:
        """End the study's parent run: FINISHED, or FAILED when ``failures`` jobs failed."""
        if self.run_id is not None:
            status = RunStatus.FAILED if failures else RunStatus.FINISHED
            self.client.set_terminated(self.run_id, RunStatus.to_string(status))


@dataclass(frozen=True)
class Job:
    """The training of one network preset on the other folds and its evaluation on ``fold``'s split."""

    study: Study
    preset: str
    fold: int

    @property
    def folder(self) -> Path:
        """``<study folder>/<preset>/fold<k>``: ``models/`` (checkpoints) and ``eval/`` (predictions, tables)."""
        return self.study.folder / self.preset / f"fold{self.fold}"

    @property
    def ckpt_dir(self) -> Path:
        return self.folder / "models"

    @property
    def output_dir(self) -> Path:
        return self.folder / "eval"

    def run_name(self, role: str) -> str:
        return f"{self.preset}-fold{self.fold}-{role}-{self.study.id}"

    def overrides(self, role: str) -> dict[str, Any]:
        """Top-level overrides of ``train.json`` (and ``evaluate.json`` for the evaluation)."""
        study = self.study
        overrides: dict[str, Any] = {
            "datalist": str(study.datalist),
            "fold": self.fold,
            "seed": study.seed,
            "network_preset": self.preset,
            **study.budget.overrides(),
            "ckpt_dir": str(self.ckpt_dir),
            "output_dir": str(self.output_dir),
            "tracking_uri": study.tracking_uri,
            "experiment_name": study.experiment,
            "run_name": self.run_name(role),
        }
        if role == "evaluation":
            overrides["eval_split"] = study.eval_split
        overrides.update(study.overrides)
        return overrides

    def tags(self, role: str, **extra: Any) -> dict[str, Any]:
        tags = {
            **self.study.tags(role),
            "wmhseg.network_preset": self.preset,
            "wmhseg.fold": str(self.fold),
            "mlflow.parentRunId": self.study.run_id,
            DESCRIPTION_TAG: self.description(role),
        }
        tags.update(extra)
        return tags

    def description(self, role: str) -> str:
        study = self.study
        network = network_preset(self.preset).description
        if role == "train":
            what = (
                f"Training of `{self.preset}` ({network}) on every fold but {self.fold}, validated on fold {self.fold}"
            )
        else:
            split = {"validation": f"held-out fold {self.fold}", "test": "the test list", "all": "every training case"}
            what = (
                f"Evaluation of `{self.preset}` ({network}) trained without fold {self.fold}, on "
                f"{split[study.eval_split]}, with the WMH challenge metrics"
            )
        return (
            f"{what}. Data set `{study.dataset}` ({study.datalist}); budget {study.budget.describe()}; "
            f"{study.pipeline} study `{study.id}`."
        )


def _new_study_id() -> str:
    """``YYYYmmdd-HHMMSS-xxxx``: sortable by start time, unique for studies started in the same second."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def open_study(
    pipeline: str,
    datalist: str | Path,
    budget: Budget,
    experiment: str,
    tracking_uri: str,
    work_dir: str | Path,
    study_id: str | None = None,
    fold_scheme: str = "kfold",
    eval_split: str = "auto",
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    description: str = "",
) -> Study:
    """Start a study (a new parent run), or reopen study ``study_id`` when it exists in ``experiment``.

    Reopening continues an interrupted study: jobs with a finished evaluation are skipped by
    the pipelines; it must have the settings the study started with (``ValueError`` otherwise, naming the
    differences), except the folds and variants.  ``params`` are logged on a new study's parent run, with the budget.
    """
    datalist = Path(datalist).expanduser().resolve()
    split = default_eval_split(datalist) if eval_split == "auto" else eval_split
    study = Study(
        id=study_id or _new_study_id(), pipeline=pipeline, datalist=datalist, budget=budget, experiment=experiment,
        tracking_uri=tracking_uri, work_dir=Path(work_dir).expanduser().resolve(), fold_scheme=fold_scheme,
        eval_split=split, seed=seed, overrides=dict(overrides or {}), dataset=datalist_name(datalist),
        git_commit=git_commit(),
    )  # fmt: skip
    logged = {
        **budget.as_params(),
        "datalist": str(datalist),
        "eval_split": split,
        "seed": str(seed),
        "overrides": json.dumps(dict(overrides or {}), default=str),
    }
    logged.update(
        {
            key: json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
            for key, value in (params or {}).items()
        }
    )
    logged = {key: value[:6000] for key, value in logged.items()}
    client = study.client
    existing = search_runs(client, experiment, tags={"wmhseg.study": study.id, "wmhseg.role": "study"})
    if existing:
        before = existing[0].data.params
        changed = [
            f"{key}: {before.get(key)!r}, now {logged[key]!r}"
            for key in sorted(logged)
            if before.get(key) != logged[key] and key not in _MAY_CHANGE
        ]
        if changed:
            raise ValueError(
                f"study {study.id} was run with other settings ({'; '.join(changed)}): continue it with "
                "the same data, budget and overrides, or start a new study"
            )
        study.run_id = existing[0].info.run_id
        client.update_run(study.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        return study
    exp_id = experiment_id(client, experiment, create=True)
    tags = {**study.tags("study"), DESCRIPTION_TAG: description or f"{pipeline} study {study.id} on `{study.dataset}`."}
    run = client.create_run(exp_id, run_name=f"{pipeline}-{study.id}", tags={k: str(v) for k, v in tags.items() if v})
    study.run_id = run.info.run_id
    client.log_batch(study.run_id, params=[Param(key, value) for key, value in logged.items()])
    study.folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        study.folder / "study.json",
        json.dumps(
            {
                **{k: str(v) for k, v in dataclasses.asdict(study).items() if k not in ("budget", "overrides")},
                "budget": dataclasses.asdict(budget),
                "overrides": dict(overrides or {}),
            },
            indent=2,
            default=str,
        )
        + "\n",
    )
    return study
