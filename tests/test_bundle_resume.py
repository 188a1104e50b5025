"""Kill a bundle training run mid-way and resume it with ``--resume true``, through the real command line.

The bundle's configs are copied to ``<tmp>/bundle/configs`` so that outputs default to
``<tmp>/bundle/models`` and ``<tmp>/bundle/eval``: the first launch runs from ``<tmp>``
(the layout of the repository root), the resumed one from inside ``<tmp>/bundle``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter

import pytest
import torch
from bundle_helpers import (
    CONFIGS,
    PYTHON,
    TRAIN,
    cli_args,
    error_chain,
    mlflow_runs,
    run_workflow,
    sqlite_uri,
    subprocess_env,
    tiny_overrides,
    write_phantom_set,
)
from mlflow import MlflowClient

EPOCHS = 5
ITERATIONS_PER_EPOCH = 2  # 4 training cases, batch 2


def _epochs_done(latest) -> int:
    state = torch.load(latest, weights_only=True)
    return state["trainer"]["iteration"] // ITERATIONS_PER_EPOCH


def test_killed_run_resumes_where_it_stopped(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(CONFIGS, bundle / "configs")
    datalist = write_phantom_set(tmp_path / "data")
    overrides = tiny_overrides(tmp_path, datalist, epochs=EPOCHS, run_name="interrupted")
    del overrides["bundle_root"]  # found from the config file's location
    args = ["-m", "monai.bundle", "run", "training", *cli_args(overrides)]
    latest = bundle / "models" / "latest.pt"

    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(
            [PYTHON, *args, "--config_file", "bundle/configs/train.json"],
            cwd=tmp_path,
            env=subprocess_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            if latest.is_file() and _epochs_done(latest) >= 2:
                first.kill()
                break
            time.sleep(0.05)
        first.wait(timeout=60)
    killed_at = _epochs_done(latest)
    assert 2 <= killed_at < EPOCHS

    resumed = subprocess.run(
        [PYTHON, *args, "--config_file", "configs/train.json", "--resume", "true"],
        cwd=bundle,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

    state = torch.load(latest, weights_only=True)
    assert state["trainer"]["iteration"] == EPOCHS * ITERATIONS_PER_EPOCH
    # Adam's step counts and the plateau scheduler's epoch carried on instead of restarting
    assert {float(p["step"]) for p in state["optimizer"]["state"].values()} == {EPOCHS * ITERATIONS_PER_EPOCH}
    assert state["lr_scheduler"]["last_epoch"] == EPOCHS

    (run,) = mlflow_runs(sqlite_uri(bundle), "test")  # one run, continued
    assert run.info.run_name == "interrupted" and run.info.status == "FINISHED"
    assert run.data.tags["wmhseg.resumes"] == "1"
    client = MlflowClient(sqlite_uri(bundle))
    epochs = Counter(m.step for m in client.get_metric_history(run.info.run_id, "val_wmh_dice"))
    assert set(epochs) == set(range(1, EPOCHS + 1))
    assert all(epochs[epoch] == 1 for epoch in range(1, killed_at + 1))  # nothing before the kill was redone
    iterations = Counter(m.step for m in client.get_metric_history(run.info.run_id, "train_loss"))
    assert set(iterations) == set(range(1, EPOCHS * ITERATIONS_PER_EPOCH + 1))
    assert all(iterations[i] == 1 for i in range(1, killed_at * ITERATIONS_PER_EPOCH + 1))


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    datalist = write_phantom_set(tmp_path / "data", n_cases=3)
    with pytest.raises(Exception) as raised:
        run_workflow(TRAIN, "training", **tiny_overrides(tmp_path, datalist, resume="true"))
    assert any("no checkpoint at" in message and "latest.pt" in message for message in error_chain(raised.value))
