"""MLflow tracking of bundle runs, on by default, resumable, and FAILED when a run dies.

MONAI's ``--tracking mlflow`` patch (the ``tracking`` settings of ``monai.bundle.ConfigWorkflow``,
which add ``monai.handlers.MLFlowHandler``) logs loss, learning rate and engine metrics, but it
reuses any still-active run of the experiment, leaves evaluation runs open, logs neither
the hyperparameters nor the data set, and cannot continue an interrupted run.  :class:`MLflowTracker` is one Ignite handler that
the bundle configs list in their handler lists, so that every ``python -m monai.bundle run``
logs without extra flags:

* a new run per launch (named ``run_name``, else ``<prefix>_<timestamp>``), or, when
  resuming, the run recorded in ``run_file`` by the interrupted launch, set back to RUNNING;
  runs of the experiment left RUNNING by a process that died (``kill -9``) are ended KILLED
  (see :mod:`wmhseg.bundle.resume`);
* parameters: those of the executed config (:func:`wmhseg.bundle.params.config_params`: its
  top-level values, the network's arguments, the loss and optimizer), the flattened ``params``
  mapping on top, the data set (name, sha256 of the datalist file, sizes) and package versions;
* per iteration: the loss and each optimizer group's learning rate;
* per epoch: the engine's metrics and, for a trainer, the validator's metrics at the
  trainer's epoch, also written to a ``metrics.csv`` history;
* artifacts: the executed config at start, and at the end ``metrics.csv`` and the given
  ``artifacts`` (e.g. the best checkpoint, metric tables);
* final status FINISHED on completion, FAILED on an exception (KILLED on Ctrl-C); the
  exception is re-raised.

The tracking URI is ``MLFLOW_TRACKING_URI`` when set, otherwise ``tracking_uri``; for a
SQLite store, artifacts go to ``mlruns/`` next to the database file.  Only rank 0 of a
distributed run logs.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus
from monai.bundle import ConfigParser

from ..data.datalist import datalist_summary
from ..io import atomic_open
from .distributed import is_rank0
from .params import config_params, flatten_params, package_versions
from .resume import process_alive, process_token, read_run_record, write_run_record

logger = logging.getLogger(__name__)


def _scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The scalar entries of an Ignite metrics dict, as floats."""
    scalars = {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            scalars[key] = float(value)
    return scalars


def _loss_output(output: Any) -> Any:
    """The loss of a MONAI trainer's (decollated) output."""
    if isinstance(output, list) and output:
        output = output[0]
    if isinstance(output, Mapping):
        output = output.get("loss")
    return output


class MLflowTracker:
    """Ignite handler logging a bundle run to MLflow (see the module docstring).

    Args:
        tracking_uri: MLflow tracking URI, overridden by ``MLFLOW_TRACKING_URI``.
        output_dir: folder for the run's local files (``runs/<run name>/``).
        experiment_name: MLflow experiment, created if absent.
        run_name: name of a new run; default ``<run_name_prefix>_<YYYYmmdd_HHMMSS>``.
        run_name_prefix: prefix of the default run name.
        params: parameters computed for logging, on top of the config's (nested mappings allowed,
            flattened with dots).
        datalist: path of the datalist JSON; its name, sha256 and sizes are logged.
        config: the parser of the executed config (``$wmhseg.bundle.config_parser()``): the merged
            config is logged as ``config/config_<time>.json`` and its values as parameters.
        artifacts: files or folders logged when the run ends (missing ones are skipped).
        validator: the validation engine of a trainer; its metrics are logged at the
            trainer's epoch and written to ``metrics.csv``.
        run_file: JSON file recording the run id (the launch record of :mod:`wmhseg.bundle.resume`),
            read back when ``resume`` is true.
        resume: continue the run recorded in ``run_file`` instead of starting one.
        iteration_log: log loss and learning rates every this many iterations (0: never).
        output_transform: maps ``engine.state.output`` to the loss.
        tags: extra run tags.
    """

    def __init__(
        self,
        tracking_uri: str,
        output_dir: str,
        experiment_name: str = "wmhseg",
        run_name: str | None = None,
        run_name_prefix: str = "run",
        params: Mapping[str, Any] | None = None,
        datalist: str | None = None,
        config: ConfigParser | None = None,
        artifacts: Sequence[str] = (),
        validator: Engine | None = None,
        run_file: str | None = None,
        resume: bool = False,
        iteration_log: int = 1,
        output_transform: Callable[[Any], Any] = _loss_output,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or tracking_uri
        self.output_dir = Path(output_dir)
        self.experiment_name = experiment_name
        self.run_name = str(run_name) if run_name else f"{run_name_prefix}_{time.strftime('%Y%m%d_%H%M%S')}"
        self.params = dict(params or {})
        self.datalist = datalist
        self.config = config
        self.artifacts = [str(a) for a in artifacts]
        self.validator = validator
        self.run_file = Path(run_file) if run_file else None
        self.resume = resume
        self.iteration_log = int(iteration_log)
        self.output_transform = output_transform
        self.tags = dict(tags or {})
        self.enabled = is_rank0()
        self.client: MlflowClient | None = None
        self.run_id: str | None = None
        self.run_dir: Path | None = None
        self._history: list[dict[str, Any]] = []

    # ---------------------------------------------------------------- wiring
    def attach(self, engine: Engine) -> None:
        if not self.enabled:
            return
        engine.add_event_handler(Events.STARTED, self.start)
        if self.iteration_log > 0:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.iteration_log), self.log_iteration)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.log_epoch)
        if self.validator is not None:
            self.validator.add_event_handler(Events.EPOCH_COMPLETED, self.log_validation, engine)
        engine.add_event_handler(Events.COMPLETED, self.finish)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self.fail)

    # ---------------------------------------------------------------- run lifecycle
    def _artifact_location(self) -> str | None:
        if self.tracking_uri.startswith("sqlite:///"):
            return (Path(self.tracking_uri[len("sqlite:///") :]).parent / "mlruns").resolve().as_uri()
        return None

    def _experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            return self.client.create_experiment(self.experiment_name, artifact_location=self._artifact_location())
        if experiment.lifecycle_stage != "active":
            raise ValueError(f"MLflow experiment {self.experiment_name!r} is deleted; restore it or pick another name.")
        return experiment.experiment_id

    def _previous_run_id(self) -> str | None:
        record = read_run_record(self.run_file) if self.resume else None
        if not record or not record.get("run_id"):
            return None
        if record.get("tracking_uri") != self.tracking_uri:
            logger.warning(
                f"{self.run_file} records a run in {record.get('tracking_uri')}, not {self.tracking_uri}: "
                "starting a new run."
            )
            return None
        return record["run_id"]

    def _end_orphans(self, experiment_id: str, keep: str | None) -> None:
        """End as KILLED the RUNNING runs of the experiment whose process died without ending them."""
        for run in self.client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'"):
            token = run.data.tags.get("wmhseg.process")
            if run.info.run_id == keep or token is None or process_alive(token) is not False:
                continue
            self.client.set_tag(
                run.info.run_id,
                "wmhseg.end_reason",
                f"its process ({token}) died without ending the run; ended by run {self.run_name}",
            )
            self.client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
            logger.warning(
                f"MLflow: run {run.info.run_name} ({run.info.run_id}) was left RUNNING by a process that "
                "died; ended it as KILLED"
            )

    def start(self, engine: Engine) -> None:
        """Create (or, when resuming, reopen) the run and log parameters and the config."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        experiment_id = self._experiment_id()
        previous = self._previous_run_id()
        self._end_orphans(experiment_id, keep=previous)
        if previous is not None:
            run = self.client.get_run(previous)
            self.run_id, self.run_name = previous, run.info.run_name
            self.client.update_run(self.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
            resumes = int(run.data.tags.get("wmhseg.resumes", "0")) + 1
            self.client.set_tag(self.run_id, "wmhseg.resumes", str(resumes))
            self.client.set_tag(self.run_id, "wmhseg.process", process_token())
            logger.info(f"MLflow: resuming run {self.run_name} ({self.run_id}) in {self.tracking_uri}")
        else:
            tags = {**self.tags, "wmhseg.process": process_token()}
            run = self.client.create_run(experiment_id, run_name=self.run_name, tags=tags)
            self.run_id = run.info.run_id
            logger.info(f"MLflow: run {self.run_name} ({self.run_id}) in {self.tracking_uri}")
        self.run_dir = self.output_dir / "runs" / self.run_name
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.run_file is not None:
            record = {"run_id": self.run_id, "run_name": self.run_name, "tracking_uri": self.tracking_uri}
            write_run_record(self.run_file, {**(read_run_record(self.run_file) or {}), **record})
        self._load_history()
        self._log_params(engine)
        if self.config is not None:
            path = self.run_dir / f"config_{time.strftime('%Y%m%d_%H%M%S')}.json"
            with atomic_open(path) as stream:
                json.dump(copy.deepcopy(self.config.get()), stream, indent=2, default=str)
            self.client.log_artifact(self.run_id, str(path), artifact_path="config")

    def _log_params(self, engine: Engine) -> None:
        params = {**(config_params(self.config) if self.config is not None else {}), **self.params}
        params["max_epochs"] = engine.state.max_epochs
        params["epoch_length"] = engine.state.epoch_length
        if self.datalist is not None:
            params["datalist"] = datalist_summary(self.datalist)
        params["versions"] = package_versions()
        flat = flatten_params(params)
        logged = self.client.get_run(self.run_id).data.params
        changed = {key: value for key, value in flat.items() if key in logged and logged[key] != value}
        for key, value in changed.items():
            logger.warning(f"MLflow: parameter {key} was {logged[key]!r}, now {value!r}; recorded as tag resumed.{key}")
            self.client.set_tag(self.run_id, f"resumed.{key}", value)
        new = [Param(key, value) for key, value in flat.items() if key not in logged]
        for begin in range(0, len(new), 100):
            self.client.log_batch(self.run_id, params=new[begin : begin + 100])

    def _log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if metrics:
            now = int(time.time() * 1000)
            self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])

    def _end(self, status: RunStatus) -> None:
        if self.run_id is None:
            return
        for path in [*self.artifacts, str(self._csv_path())]:
            if Path(path).is_file():
                self.client.log_artifact(self.run_id, path)
            elif Path(path).is_dir():
                self.client.log_artifacts(self.run_id, path, artifact_path=Path(path).name)
        self.client.set_terminated(self.run_id, RunStatus.to_string(status))
        logger.info(f"MLflow: run {self.run_name} ended {RunStatus.to_string(status)}")
        self.run_id = None

    def finish(self, engine: Engine) -> None:
        """Log the end-of-run artifacts and end the run FINISHED."""
        self._end(RunStatus.FINISHED)

    def fail(self, engine: Engine, error: BaseException) -> None:
        """End the run FAILED (KILLED on Ctrl-C) with the artifacts so far, then re-raise ``error``."""
        try:
            self._end(RunStatus.KILLED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED)
        except Exception as tracking_error:  # the original error matters more than a tracking one
            logger.error(f"MLflow: could not mark run as failed: {tracking_error}")
        raise error

    # ---------------------------------------------------------------- logging
    def log_iteration(self, engine: Engine) -> None:
        """Loss and learning rates of the iteration, at the global iteration step."""
        metrics = {}
        loss = self.output_transform(engine.state.output)
        if loss is not None:
            metrics["train_loss"] = float(loss.item() if isinstance(loss, torch.Tensor) else loss)
        optimizer = getattr(engine, "optimizer", None)
        if optimizer is not None:
            for index, group in enumerate(optimizer.param_groups):
                metrics[f"lr_group_{index}"] = float(group["lr"])
        self._log_metrics(metrics, engine.state.iteration)

    def log_epoch(self, engine: Engine) -> None:
        """The engine's own epoch metrics (training metrics of a trainer, results of an evaluator)."""
        metrics = _scalar_metrics(engine.state.metrics)
        self._log_metrics(metrics, engine.state.epoch)
        if self.validator is None and metrics:
            self._record({"epoch": engine.state.epoch, **metrics})

    def log_validation(self, validator: Engine, trainer: Engine) -> None:
        """The validator's metrics at the trainer's epoch, also appended to ``metrics.csv``."""
        metrics = _scalar_metrics(validator.state.metrics)
        self._log_metrics(metrics, trainer.state.epoch)
        train = _scalar_metrics(trainer.state.metrics)
        self._record({"epoch": trainer.state.epoch, **train, **metrics})

    # ---------------------------------------------------------------- metrics.csv
    def _csv_path(self) -> Path:
        return (self.run_dir or self.output_dir) / "metrics.csv"

    def _load_history(self) -> None:
        path = self._csv_path()
        self._history = []
        if path.is_file():
            with path.open(newline="") as stream:
                self._history = list(csv.DictReader(stream))

    def _record(self, row: dict[str, Any]) -> None:
        epoch = str(row["epoch"])
        self._history = [old for old in self._history if str(old["epoch"]) != epoch] + [row]
        columns: list[str] = []
        for old in self._history:
            columns += [key for key in old if key not in columns]

        with atomic_open(self._csv_path(), newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(self._history)
