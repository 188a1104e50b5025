"""Tracking to a real ``mlflow server`` (chosen by ``MLFLOW_TRACKING_URI``), read back through its REST API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from bundle_helpers import (
    PYTHON,
    TRAIN,
    subprocess_env,
    tiny_overrides,
    write_phantom_set,
)

from wmhseg.bundle import run_workflow

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """A local MLflow server with a SQLite store and proxied artifacts; yields its URL."""
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [
            PYTHON, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination", str(tmp_path / "server_artifacts"),
        ],
        env=subprocess_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _get(url: str, path: str, **query: str) -> dict:
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(query)}", timeout=30) as response:
        return json.load(response)


def _post(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_training_logs_to_a_tracking_server(mlflow_server, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    datalist = write_phantom_set(tmp_path / "data")
    run_workflow(TRAIN, "training", **tiny_overrides(tmp_path / "out", datalist, run_name="served"))
    assert not (tmp_path / "out" / "eval" / "mlruns.db").exists()  # the environment variable won

    experiment = _get(mlflow_server, "experiments/get-by-name", experiment_name="test")["experiment"]
    (run,) = _post(mlflow_server, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert run["info"]["run_name"] == "served" and run["info"]["status"] == "FINISHED"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["network_preset"] == "saunet3d" and params["patch_size"] == "[32, 32, 8]"
    assert len(params["datalist.sha256"]) == 64 and params["versions.mlflow"]
    run_id = run["info"]["run_id"]
    history = _get(mlflow_server, "metrics/get-history", run_id=run_id, metric_key="val_wmh_dice")["metrics"]
    assert sorted(m["step"] for m in history) == [1, 2]
    assert len(_get(mlflow_server, "metrics/get-history", run_id=run_id, metric_key="train_loss")["metrics"]) == 4
    files = {f["path"] for f in _get(mlflow_server, "artifacts/list", run_id=run_id)["files"]}
    assert {"config", "metrics.csv", "model.pt"} <= files
