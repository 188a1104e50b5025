"""Surviving a killed training: which checkpoint a ``--resume true`` continues from, and orphaned MLflow runs.

A training writes ``latest.pt`` at every epoch end (:class:`~wmhseg.bundle.AtomicCheckpointSaver`,
atomically) and keeps a record of its launch in the run file (``models/mlflow_run.json``):
:func:`record_launch` writes it first, before any data is loaded, noting which
``latest.pt`` was already there (a checkpoint of an earlier run); the
:class:`~wmhseg.bundle.MLflowTracker` then adds its MLflow run id.  With
``--resume true``, :func:`record_launch` therefore knows what the last launch left:

* a ``latest.pt`` that it wrote (or resumed from): training continues from it, in the
  same MLflow run, losing at most the epoch that was in progress;
* no ``latest.pt``, or only the earlier run's (it was killed before its first
  checkpoint): training restarts from epoch 1 in a new MLflow run;
* nothing at all (no record, no checkpoint): an error, there is nothing to resume.

A process killed with ``kill -9`` cannot end its MLflow run, which would stay RUNNING.
Each run made by the tracker carries the tag ``wmhseg.process`` (:func:`process_token`);
the next tracker to start in the same experiment ends the runs whose process is gone
(:func:`process_alive`) as KILLED.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from ..io import write_text_atomic
from .distributed import is_rank0
from .options import as_bool

logger = logging.getLogger(__name__)

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def read_run_record(path: str | os.PathLike | None) -> dict[str, Any] | None:
    """The run file's record, or None when there is none (or it is unreadable)."""
    if path is None:
        return None
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_run_record(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Write the run file atomically."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")


def _identity(path: Path) -> list[int] | None:
    """Inode, size and modification time of a file (a checkpoint replaced by ``os.replace`` gets new ones)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns]


def record_launch(latest_path: str | os.PathLike, run_file: str | os.PathLike, resume: Any = False) -> str | None:
    """Record a training launch in ``run_file`` and return the checkpoint it resumes from.

    Called by ``train.json`` before anything else of the training (see the module
    docstring).  Only rank 0 writes the record; every rank takes the same decision.

    Args:
        latest_path: the checkpoint written at every epoch end (``latest.pt``).
        run_file: the launch record (``mlflow_run.json``).
        resume: the ``--resume`` flag (a bool or its command-line string).

    Returns:
        ``latest_path`` when the training continues from it, None when it starts at epoch 1
        (no resume, or the last launch was killed before its first checkpoint).

    Raises:
        FileNotFoundError: ``resume`` is set but no training was ever launched here.
    """
    latest, run_file = Path(latest_path), Path(run_file)
    record = read_run_record(run_file)
    resume_from = None
    if as_bool(resume, "resume"):
        if latest.is_file() and (record is None or record.get("earlier_checkpoint") != _identity(latest)):
            resume_from = str(latest)
        elif record is None:
            raise FileNotFoundError(
                f"no checkpoint at {latest} and no training recorded in {run_file}: "
                "nothing to resume; start the training without --resume."
            )
        else:
            logger.warning(
                f"the last training launched in {latest.parent} was stopped before its first checkpoint: "
                "restarting from epoch 1, in a new MLflow run."
            )
    if is_rank0():
        launched = time.strftime("%Y-%m-%dT%H:%M:%S")
        if resume_from is not None:  # the same run goes on: keep its id, the checkpoint is now its own
            new = {**(record or {}), "launched": launched, "earlier_checkpoint": None}
        else:
            new = {"launched": launched, "earlier_checkpoint": _identity(latest)}
        write_run_record(run_file, new)
    return resume_from


def _start_time(pid: int) -> str | None:
    """Start time of process ``pid`` (clock ticks after boot) from ``/proc``; None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (command name)"
    return None if fields[0] in ("Z", "X") else fields[19]


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def process_token(pid: int | None = None) -> str:
    """``host/boot id/pid/start time`` of process ``pid`` (default: this one), which tells it apart from a later
    process that gets the same pid."""
    pid = os.getpid() if pid is None else int(pid)
    return f"{socket.gethostname()}/{_boot_id()}/{pid}/{_start_time(pid) or ''}"


def process_alive(token: str) -> bool | None:
    """Whether the process of a :func:`process_token` still runs; None when that cannot be known (another host)."""
    try:
        host, boot, pid_text, start = token.split("/")
        pid = int(pid_text)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    if boot and boot != _boot_id():
        return False
    if start:
        return _start_time(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
