"""Training and evaluation through the bundle configs on real NIfTI phantoms, tracked in a real MLflow store."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from bundle_helpers import (
    EVALUATE,
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
from mlflow import MlflowClient

from wmhseg.bundle import run_workflow
from wmhseg.cli import main
from wmhseg.metrics import METRIC_NAMES
from wmhseg.networks import get_network

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRACKED_PARAMS = [
    "network_preset",
    "network.channels",
    "network.use_sam",
    "network.use_aspp",
    "patch_size",
    "batch_size",
    "lr",
    "epochs",
    "augmentation.flip.prob",
    "augmentation.flip.axes",
    "augmentation.elastic.sigma_range",
    "augmentation.ghosting.prob",
    "augmentation.quadratic_bias.prob",
    "pos_ratio",
    "seed",
    "target_spacing",
    "normalisation",
    "loss._target_",
    "datalist.name",
    "datalist.sha256",
    "versions.monai",
    "versions.torch",
    "versions.wmhseg",
    "max_epochs",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny 2-epoch training run; returns (output root, datalist)."""
    root = tmp_path_factory.mktemp("trained")
    datalist = write_phantom_set(root / "data")
    overrides = tiny_overrides(root, datalist, run_name="tiny", **{"augmentation#ghosting#prob": 0.3})
    run_workflow(TRAIN, "training", **overrides)
    return root, datalist


def test_training_writes_best_and_latest_checkpoints(trained):
    root, _ = trained
    best = torch.load(root / "models" / "model.pt", weights_only=True)
    get_network("saunet3d", channels=[8, 8, 16, 16]).load_state_dict(best)  # a bare state dict of the network
    latest = torch.load(root / "models" / "latest.pt", weights_only=True)
    assert set(latest) == {"network", "optimizer", "lr_scheduler", "trainer", "best_checkpoint"}
    assert latest["trainer"]["iteration"] == 4 and latest["trainer"]["epoch_length"] == 2  # 2 epochs done
    assert latest["lr_scheduler"]["mode"] == "min" and latest["lr_scheduler"]["factor"] == 0.1
    assert latest["best_checkpoint"]["best"] is not None


def test_training_run_is_tracked(trained):
    root, datalist = trained
    runs = mlflow_runs(sqlite_uri(root), "test")
    assert [run.info.run_name for run in runs] == ["tiny"]
    run = runs[0]
    assert run.info.status == "FINISHED"
    params = run.data.params
    missing = [name for name in TRACKED_PARAMS if name not in params]
    assert not missing
    assert params["network.channels"] == "[8, 8, 16, 16]" and params["patch_size"] == "[32, 32, 8]"
    assert params["datalist.sha256"] == hashlib.sha256(datalist.read_bytes()).hexdigest()
    # the whole augmentation dict, flattened, with the one overridden entry
    assert params["augmentation.ghosting.prob"] == "0.3" and params["augmentation.flip.prob"] == "0.5"
    assert params["augmentation.rotate.range_deg"] == "[3.0, 3.0, 10.0]" and params["normalisation"] == "zscore_brain"
    client = MlflowClient(sqlite_uri(root))
    loss = client.get_metric_history(run.info.run_id, "train_loss")
    assert sorted(m.step for m in loss) == [1, 2, 3, 4]  # per iteration
    assert len(client.get_metric_history(run.info.run_id, "lr_group_0")) == 4
    challenge = ("val_wmh_dice", "val_wmh_hd95", "val_wmh_avd", "val_wmh_lesion_recall", "val_wmh_lesion_f1")
    for name in ("val_loss", "train_wmh_dice", *challenge):
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, name)) == [1, 2], name
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.pt", "metrics.csv", "config"} <= top
    (config,) = client.list_artifacts(run.info.run_id, "config")
    executed = json.loads(Path(client.download_artifacts(run.info.run_id, config.path, str(root))).read_text())
    assert executed["network_options"] == {"channels": [8, 8, 16, 16]} and executed["run_name"] == "tiny"
    with open(client.download_artifacts(run.info.run_id, "metrics.csv", str(root))) as stream:
        rows = list(csv.DictReader(stream))
    assert [row["epoch"] for row in rows] == ["1", "2"] and "val_wmh_dice" in rows[0]


def test_evaluation_writes_native_grid_predictions_and_challenge_tables(trained, tmp_path):
    root, datalist = trained
    run_workflow(
        [TRAIN, EVALUATE], "evaluating", "infer", **tiny_overrides(root, datalist, run_name="eval", eval_split="all")
    )
    evaluation = root / "eval" / "evaluation"
    for case in json.loads(datalist.read_text())["training"]:
        source = nib.load(datalist.parent / case["image"])
        result = nib.load(evaluation / "predictions" / case["subject"] / "result.nii.gz")
        assert result.shape == source.shape
        np.testing.assert_allclose(result.affine, source.affine, atol=1e-5)
        assert result.get_data_dtype() == np.uint8
        assert set(np.unique(np.asarray(result.dataobj))) <= {0, 1}

    def read(path):
        with open(path) as stream:
            return list(csv.DictReader(stream))

    per_case, per_scanner = read(evaluation / "per_case.csv"), read(evaluation / "per_scanner.csv")
    assert [row["subject"] for row in per_case] == [f"case{i:02d}" for i in (0, 2, 4, 1, 3, 5)]  # by scanner
    assert [row["scanner"] for row in per_scanner] == ["scanner0", "scanner1", "Average"]
    # the same tables as `wmhseg evaluate` on the written predictions and the original labels
    assert main(["evaluate", "--pred", str(evaluation / "predictions"), "--ref", str(datalist),
                 "--out", str(tmp_path), "--quiet"]) == 0  # fmt: skip
    columns = ["subject", "scanner", *METRIC_NAMES, "n_reference_voxels", "n_result_voxels"]
    assert [[r[c] for c in columns] for r in per_case] == [
        [r[c] for c in columns] for r in read(tmp_path / "per_case.csv")
    ]
    assert per_scanner == read(tmp_path / "per_scanner.csv")
    assert json.loads((evaluation / "summary.json").read_text()) == json.loads((tmp_path / "summary.json").read_text())

    run = mlflow_runs(sqlite_uri(root), "test")[-1]
    assert run.info.run_name == "eval" and run.info.status == "FINISHED"
    for name in METRIC_NAMES:
        assert run.data.metrics[f"eval_{name}"] == pytest.approx(float(per_scanner[-1][name]), nan_ok=True)
    assert run.data.params["eval_split"] == "all"
    artifacts = {a.path for a in MlflowClient(sqlite_uri(root)).list_artifacts(run.info.run_id)}
    assert {"per_case.csv", "per_scanner.csv", "summary.json", "config"} <= artifacts


def test_a_failing_run_ends_failed(trained, tmp_path):
    store = sqlite_uri(trained[0])  # reuse the module's MLflow store: creating one costs seconds
    datalist = write_phantom_set(tmp_path / "data", n_cases=3)
    (datalist.parent / "case01" / "FLAIR.nii.gz").write_bytes(b"not a nifti file")
    overrides = tiny_overrides(tmp_path, datalist, run_name="broken", cache_rate=0.0, tracking_uri=store)
    with pytest.raises(Exception) as raised:
        run_workflow(TRAIN, "training", **{**overrides, "experiment_name": "failing"})
    assert any("case01" in message for message in error_chain(raised.value))  # the reader names the broken file
    (run,) = mlflow_runs(store, "failing")
    assert run.info.run_name == "broken" and run.info.status == "FAILED"


def test_loss_decreases_on_phantoms(trained, tmp_path):
    store = sqlite_uri(trained[0])
    datalist = write_phantom_set(tmp_path / "data", seed=1)
    overrides = tiny_overrides(tmp_path, datalist, epochs=4, lr=0.003, run_name="fit", tracking_uri=store)
    run_workflow(TRAIN, "training", **{**overrides, "experiment_name": "fit"})
    (run,) = mlflow_runs(store, "fit")
    losses = sorted(MlflowClient(store).get_metric_history(run.info.run_id, "train_loss"), key=lambda m: m.step)
    first, last = np.mean([m.value for m in losses[:2]]), np.mean([m.value for m in losses[-2:]])
    assert last < 0.95 * first


def test_evaluation_without_a_checkpoint_names_the_missing_file(trained, tmp_path):
    overrides = tiny_overrides(tmp_path, trained[1], tracking_uri=sqlite_uri(trained[0]))
    with pytest.raises(Exception) as raised:
        run_workflow([TRAIN, EVALUATE], "evaluating", "infer", **{**overrides, "experiment_name": "no_checkpoint"})
    assert any(m.startswith("FileNotFoundError") and "model.pt" in m for m in error_chain(raised.value))
    assert mlflow_runs(sqlite_uri(trained[0]), "no_checkpoint") == []  # no run left open


def test_one_network_argument_from_the_command_line(tmp_path):
    """``--network_def#out_channels 6``, as model-zoo bundles take it: the saved network has six outputs, and the
    run's MLflow parameters say so (they come from the executed config)."""
    datalist = write_phantom_set(tmp_path / "data", n_cases=3)
    overrides = tiny_overrides(tmp_path, datalist, run_name="six", epochs=1, num_classes=6)
    command = [PYTHON, "-m", "monai.bundle", "run", "training", "--config_file", TRAIN, *cli_args(overrides),
               "--network_def#out_channels", "6"]  # fmt: skip
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.load(tmp_path / "models" / "model.pt", weights_only=True)["head.weight"].shape[0] == 6
    (run,) = mlflow_runs(sqlite_uri(tmp_path), "test")
    params = run.data.params
    assert params["network.out_channels"] == "6" and params["network.channels"] == "[8, 8, 16, 16]"
    assert params["num_classes"] == "6" and params["pos_ratio"] == str(2 / 3) and params["optimizer.lr"] == "0.001"
