"""Two-process DistributedDataParallel training with gloo on CPU through ``torchrun``."""

from __future__ import annotations

import subprocess

import torch
from bundle_helpers import (
    MULTI_GPU,
    PYTHON,
    TRAIN,
    cli_args,
    mlflow_runs,
    sqlite_uri,
    subprocess_env,
    tiny_overrides,
    write_phantom_set,
)
from mlflow import MlflowClient


def test_two_process_gloo_training_with_fewer_validation_cases_than_ranks(tmp_path):
    # 6 folds of 1 case: 5 training cases, 1 validation case for 2 ranks
    datalist = write_phantom_set(tmp_path / "data", n_cases=6, n_folds=6)
    overrides = tiny_overrides(tmp_path, datalist, run_name="ddp")
    command = [
        PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "monai.bundle", "run", "training", "--config_file", repr([TRAIN, MULTI_GPU]), *cli_args(overrides),
    ]  # fmt: skip
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    runs = mlflow_runs(sqlite_uri(tmp_path), "test")
    assert [(run.info.run_name, run.info.status) for run in runs] == [("ddp", "FINISHED")]  # rank 0 only
    run = runs[0]
    assert run.data.params["world_size"] == "2"
    client = MlflowClient(sqlite_uri(tmp_path))
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_wmh_dice")) == [1, 2]
    # 5 cases padded to 3 per rank, batch 2: 2 iterations per epoch on each rank
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "train_loss")) == [1, 2, 3, 4]
    latest = torch.load(tmp_path / "models" / "latest.pt", weights_only=True)
    assert latest["trainer"]["iteration"] == 4
    assert not any(key.startswith("module.") for key in latest["network"])  # saved unwrapped from DDP
    assert (tmp_path / "models" / "model.pt").is_file()
