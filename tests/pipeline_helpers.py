"""Running the ``pipelines/*.py`` recipes in tests: as subprocesses, or in this process as ``__main__``."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pipeline_env(**extra: str) -> dict[str, str]:
    """Environment of a pipeline subprocess: this checkout importable, one thread, no inherited MLflow store."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(extra)
    return env


def run_pipeline(script: str, *args, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python pipelines/<script> args...`` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, str(REPO / "pipelines" / script), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=pipeline_env(),
        timeout=timeout,
    )


def run_main(script: str, *args) -> int:
    """Run ``pipelines/<script>`` in this process as ``__main__`` with ``args``; its exit status
    (``--help`` exits through ``SystemExit``, which is re-raised)."""
    argv = sys.argv
    sys.argv = [script, *map(str, args)]
    try:
        runpy.run_path(str(REPO / "pipelines" / script), run_name="__main__")
    except SystemExit as stop:
        if "--help" in args:
            raise
        return int(stop.code or 0)
    finally:
        sys.argv = argv
    return 0
