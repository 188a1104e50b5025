"""Kill a bundle training run mid-way and resume it with ``--resume true``, through the real command line.

The bundle's configs are copied to ``<tmp>/bundle/configs`` and the outputs go to
``<tmp>/bundle/models`` and ``<tmp>/bundle/eval``: the first launch runs from ``<tmp>`` with
``--bundle_root bundle`` (the layout of the repository root), the resumed one from inside
``<tmp>/bundle``, whose ``bundle_root`` is ``"."`` (as in model-zoo).
Kills are ``SIGKILL`` of real training processes; the MLflow store is a real SQLite one.
"""

from __future__ import annotations

import os
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
    sqlite_uri,
    subprocess_env,
    tiny_overrides,
    write_phantom_set,
)
from ignite.engine import Engine
from mlflow import MlflowClient

from wmhseg.bundle import MLflowTracker, run_workflow
from wmhseg.bundle.resume import process_alive, process_token, read_run_record

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
    del overrides["bundle_root"]  # the working folder, or --bundle_root
    args = ["-m", "monai.bundle", "run", "training", *cli_args(overrides)]
    latest = bundle / "models" / "latest.pt"

    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(
            [PYTHON, *args, "--config_file", "bundle/configs/train.json", "--bundle_root", "bundle"],
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


def _kill_when(overrides: dict, log_path, condition) -> None:
    """Launch a training in a subprocess and SIGKILL it as soon as ``condition()`` holds."""
    args = [PYTHON, "-m", "monai.bundle", "run", "training", "--config_file", TRAIN, *cli_args(overrides)]
    with open(log_path, "w") as log:
        process = subprocess.Popen(args, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while not condition():
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.kill()
        process.wait(timeout=60)


@pytest.mark.usefixtures("one_torch_thread")
def test_killed_before_the_first_checkpoint_restarts_cleanly(tmp_path):
    bundle = tmp_path / "bundle"
    datalist = write_phantom_set(tmp_path / "data")
    latest, run_file = bundle / "models" / "latest.pt", bundle / "models" / "mlflow_run.json"

    def overrides(run_name: str, **extra) -> dict:
        return tiny_overrides(bundle, datalist, run_name=run_name, **extra)

    def recorded_run() -> str | None:
        return (read_run_record(run_file) or {}).get("run_id")

    # 1. killed as soon as its MLflow run exists: no checkpoint yet
    _kill_when(overrides("b"), tmp_path / "b.log", lambda: recorded_run() is not None)
    assert not latest.exists()
    # 2. --resume true has nothing to continue from: it starts at epoch 1 in a new run, and ends the dead one
    run_workflow(TRAIN, "training", **overrides("c", resume="true"))
    c_run, c_checkpoint = recorded_run(), latest.stat()
    # 3. a new training killed before its first checkpoint: latest.pt is still c's
    _kill_when(overrides("d"), tmp_path / "d.log", lambda: recorded_run() not in (None, c_run))
    assert latest.stat().st_ino == c_checkpoint.st_ino and latest.stat().st_mtime_ns == c_checkpoint.st_mtime_ns
    # 4. --resume true must not continue c's checkpoint in d's run: it restarts at epoch 1 in a new run
    run_workflow(TRAIN, "training", **overrides("e", resume="true"))

    runs = {run.info.run_name: run for run in mlflow_runs(sqlite_uri(bundle), "test")}
    assert {name: run.info.status for name, run in runs.items()} == {
        "b": "KILLED",
        "c": "FINISHED",
        "d": "KILLED",
        "e": "FINISHED",
    }
    assert "died without ending the run; ended by run c" in runs["b"].data.tags["wmhseg.end_reason"]
    assert "ended by run e" in runs["d"].data.tags["wmhseg.end_reason"]
    client = MlflowClient(sqlite_uri(bundle))
    for name in ("c", "e"):  # both trained from epoch 1, once each
        run_id = runs[name].info.run_id
        assert sorted(m.step for m in client.get_metric_history(run_id, "val_wmh_dice")) == [1, 2]
        assert sorted(m.step for m in client.get_metric_history(run_id, "train_loss")) == [1, 2, 3, 4]
        assert "wmhseg.resumes" not in runs[name].data.tags
    assert torch.load(latest, weights_only=True)["trainer"]["iteration"] == 2 * ITERATIONS_PER_EPOCH
    assert recorded_run() == runs["e"].info.run_id


def test_runs_left_running_by_dead_processes_are_ended_killed(tmp_path):
    child = subprocess.Popen(["sleep", "60"])
    dead = process_token(child.pid)
    assert process_alive(dead) is True
    child.kill()
    child.wait(timeout=10)
    alive = process_token()
    host, boot, pid, start = alive.split("/")
    elsewhere = f"{host}-elsewhere/{boot}/{pid}/{start}"
    assert process_alive(dead) is False and process_alive(alive) is True and process_alive(elsewhere) is None
    assert process_alive(f"{host}/{boot}/{os.getpid()}/{int(start) + 1}") is False  # the pid reused by another process

    store = sqlite_uri(tmp_path)
    client = MlflowClient(store)
    experiment = client.create_experiment("orphans")
    tokens = {"dead": dead, "alive": alive, "elsewhere": elsewhere, "untracked": None}
    ids = {
        name: client.create_run(experiment, run_name=name, tags={"wmhseg.process": token} if token else {}).info.run_id
        for name, token in tokens.items()
    }
    engine = Engine(lambda engine, batch: None)
    tracker = MLflowTracker(store, str(tmp_path / "eval"), experiment_name="orphans", run_name="next")
    tracker.start(engine)  # a new run, no resume: only the run of the dead process is ended
    tracker.finish(engine)
    status = {name: client.get_run(run_id).info.status for name, run_id in ids.items()}
    assert status == {"dead": "KILLED", "alive": "RUNNING", "elsewhere": "RUNNING", "untracked": "RUNNING"}
    assert client.get_run(ids["dead"]).data.tags["wmhseg.end_reason"].startswith(f"its process ({dead}) died")


def test_which_checkpoint_a_resume_continues_from(tmp_path):
    """The decisions of ``record_launch`` on real files, for each state a kill can leave (see wmhseg.bundle.resume)."""
    from wmhseg.bundle import atomic_torch_save, record_launch
    from wmhseg.bundle.resume import write_run_record

    latest, run_file = tmp_path / "models" / "latest.pt", tmp_path / "models" / "mlflow_run.json"
    with pytest.raises(FileNotFoundError, match="nothing to resume; start the training without --resume"):
        record_launch(latest, run_file, "true")  # never launched here
    assert record_launch(latest, run_file, "false") is None  # launch A
    write_run_record(run_file, {**read_run_record(run_file), "run_id": "A"})  # its tracker started
    assert record_launch(latest, run_file, "true") is None  # A was killed before its first checkpoint: restart (B)
    write_run_record(run_file, {**read_run_record(run_file), "run_id": "B"})
    atomic_torch_save({"epoch": 1}, latest)  # B's first checkpoint
    assert record_launch(latest, run_file, "true") == str(latest)  # B killed after it: resume B
    assert read_run_record(run_file)["run_id"] == "B"
    assert record_launch(latest, run_file, "true") == str(latest)  # that resume killed at once: resume B again
    assert record_launch(latest, run_file, False) is None  # a new training C, in the same folder
    write_run_record(run_file, {**read_run_record(run_file), "run_id": "C"})
    assert record_launch(latest, run_file, True) is None  # C killed before its first checkpoint: B's is not C's
    atomic_torch_save({"epoch": 1}, latest)  # the restarted training's first checkpoint
    assert record_launch(latest, run_file, True) == str(latest)
    run_file.unlink()  # a checkpoint without a record (tracking off): resumed as before
    assert record_launch(latest, run_file, True) == str(latest)
