"""The MLflow store that experiments write to and tables are rebuilt from.

By default it is the bundle's own store, ``bundle/eval/mlruns.db`` (SQLite, artifacts in
``bundle/eval/mlruns/``), the one ``python -m monai.bundle run training`` uses; an
explicit URI wins, then ``MLFLOW_TRACKING_URI``.  Browse it with::

    mlflow ui --backend-store-uri sqlite:///<absolute path>/bundle/eval/mlruns.db --host 127.0.0.1 --port 5000

Runs are found by their tags (``wmhseg.study``, ``wmhseg.role``, ``wmhseg.network_preset``,
``wmhseg.fold``, ...), never by in-memory results, so every table can be rebuilt from the
store alone.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Run, RunTag

from ..inference.bundle import default_bundle_dir

__all__ = [
    "DESCRIPTION_TAG",
    "TAG_PREFIX",
    "default_tracking_uri",
    "experiment_id",
    "find_run",
    "git_commit",
    "resolve_tracking_uri",
    "search_runs",
    "set_tags",
    "tracking_environment",
]

TAG_PREFIX = "wmhseg."
DESCRIPTION_TAG = "mlflow.note.content"
"""The tag MLflow's UI shows as a run's description."""


def default_tracking_uri() -> str:
    """``sqlite:///<bundle>/eval/mlruns.db``: the bundle's default store."""
    return f"sqlite:///{(default_bundle_dir() / 'eval' / 'mlruns.db').resolve()}"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri`` if given, else ``$MLFLOW_TRACKING_URI``, else :func:`default_tracking_uri`.

    A plain path to a ``.db`` file becomes a ``sqlite:///`` URI.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    if "://" not in uri:
        path = Path(uri).expanduser().resolve()
        if path.suffix != ".db":
            raise ValueError(f"tracking URI {uri!r}: give a URI (sqlite:///..., http://...) or a path to a .db file")
        uri = f"sqlite:///{path}"
    return uri


@contextlib.contextmanager
def tracking_environment(uri: str) -> Iterator[None]:
    """Set ``MLFLOW_TRACKING_URI`` to ``uri`` while the block runs (the bundle's tracker reads it first)."""
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous


def _artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store go to ``mlruns/`` beside the database, as the bundle's tracker puts them."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / "mlruns").resolve().as_uri()
    return None


def experiment_id(client: MlflowClient, name: str, create: bool = False) -> str | None:
    """Id of the active experiment ``name``; created when ``create`` (else None when absent)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        if not create:
            return None
        return client.create_experiment(name, artifact_location=_artifact_location(client.tracking_uri))
    if experiment.lifecycle_stage != "active":
        raise ValueError(f"MLflow experiment {name!r} is deleted; restore it or pick another name.")
    return experiment.experiment_id


def _quote(value: str) -> str:
    if "'" in value:
        raise ValueError(f"tag or name values with a single quote cannot be searched: {value!r}")
    return f"'{value}'"


def search_runs(
    client: MlflowClient,
    experiment: str,
    tags: Mapping[str, str] | None = None,
    run_name: str | None = None,
    status: str | None = None,
) -> list[Run]:
    """Runs of ``experiment`` carrying every tag in ``tags`` (and ``run_name`` / ``status``), newest first."""
    exp_id = experiment_id(client, experiment)
    if exp_id is None:
        return []
    clauses = [f"tags.`{key}` = {_quote(str(value))}" for key, value in (tags or {}).items()]
    if run_name is not None:
        clauses.append(f"attributes.run_name = {_quote(run_name)}")
    if status is not None:
        clauses.append(f"attributes.status = {_quote(status)}")
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [exp_id],
            filter_string=" and ".join(clauses),
            order_by=["attributes.start_time DESC"],
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def find_run(client: MlflowClient, experiment: str, run_name: str) -> Run:
    """The newest run of ``experiment`` named ``run_name``; ``LookupError`` if there is none."""
    runs = search_runs(client, experiment, run_name=run_name)
    if not runs:
        raise LookupError(f"no MLflow run named {run_name!r} in experiment {experiment!r} at {client.tracking_uri}")
    return runs[0]


def set_tags(client: MlflowClient, run_id: str, tags: Mapping[str, object]) -> None:
    """Set every tag of ``tags`` (values as strings; None values skipped) on run ``run_id``, in one request."""
    client.log_batch(run_id, tags=[RunTag(key, str(value)) for key, value in tags.items() if value is not None])


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The commit of the git checkout holding ``path`` (default: this package), with ``-dirty`` when it has
    uncommitted changes; None outside a checkout or without git."""
    folder = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = status.returncode == 0 and bool(status.stdout.strip())
    return commit.stdout.strip() + ("-dirty" if dirty else "")
