"""The synthetic-training overlay (train.json + synthetic.json) on toy label maps: a real workflow, a real
MLflow store, the six-class model saved, and a second run that starts from the saved weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from bundle_helpers import CONFIGS, META, TRAIN, mlflow_runs, sqlite_uri

from wmhseg.bundle import run_workflow

SYNTHETIC = str(CONFIGS / "synthetic.json")


def _overrides(root, label_maps, **extra):
    overrides = {
        "bundle_root": str(root),
        "label_maps_dir": str(label_maps),
        "validation_label_maps": 1,
        "validation_subjects": 1,
        "validation_dir": str(root / "validation"),
        "synthesis": {"max_work_shape": [96, 112, 96]},
        "network_options": {"out_channels": 6, "channels": [8, 8, 16, 16]},
        "patch_size": [32, 32, 8],
        "val_roi_size": [64, 64, 16],
        "batch_size": 2,
        "pool_size": 2,
        "patches_per_volume": 2,
        "num_workers": 0,
        "epochs": 1,
        "epoch_length": 2,
        "experiment_name": "synthetic-test",
    }
    overrides.update(extra)
    return overrides


def test_synthetic_training_saves_a_six_class_model(tmp_path, toy_label_maps, one_torch_thread):
    root = tmp_path / "bundle"
    workflow = run_workflow([TRAIN, SYNTHETIC], "training", **_overrides(root, toy_label_maps))
    state = torch.load(root / "models" / "model.pt", map_location="cpu", weights_only=True)
    assert state["head.weight"].shape[0] == 6
    assert not any(k.startswith("network.") for k in state)  # the precision wrapper is not in the state dict
    (run,) = mlflow_runs(sqlite_uri(root), "synthetic-test")
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["num_classes"] == "6"
    assert json.loads(params["label_maps"]) == ["toy_seg_00.nii.gz", "toy_seg_01.nii.gz"]
    assert json.loads(params["validation_label_maps"]) == ["toy_seg_02.nii.gz"]
    assert "val_wmh_dice" in run.data.metrics
    pooled = run.data.metrics["val_wmh_pooled_dice"]  # the selection metric of the overlay
    assert 0.0 <= pooled <= 1.0 or pooled != pooled  # NaN when neither reference nor prediction has WMH
    assert workflow.parser.get_parsed_content("hyperparameters")["precision"] in ("bf16", "fp32")

    # a new run (new folder) that starts from those weights: its "initialize" step loads them
    from monai.bundle import ConfigWorkflow

    second = ConfigWorkflow(
        config_file=[TRAIN, SYNTHETIC],
        meta_file=META,
        workflow_type="train",
        run_id="training",
        **_overrides(tmp_path / "second", toy_label_maps, init_checkpoint=str(root / "models" / "model.pt")),
    )
    second.initialize()
    loaded = second.parser.get_parsed_content("network_def").state_dict()
    assert all(torch.equal(loaded[k].cpu(), state[k]) for k in state)


def test_pooled_dice_counts_every_validation_voxel_once(tmp_path):
    """The overlay's selection metric is 2·ΣI / (ΣA + ΣB) over the cases, label 2 'don't care'."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([TRAIN, SYNTHETIC])
    handler = parser.get_parsed_content("validate#additional_metrics#val_wmh_pooled_dice")
    rng = np.random.default_rng(0)
    output, inter, sizes = [], 0, 0
    for case in range(3):
        label = rng.choice([0, 1, 2], size=(1, 12, 10, 6), p=[0.8, 0.15, 0.05])
        pred = rng.choice([0, 1, 3], size=(1, 12, 10, 6), p=[0.7, 0.2, 0.1])
        if case == 2:
            label[label == 1] = 0  # a lesion-free case: only its false positives count
        output.append({"pred": torch.as_tensor(pred), "label": torch.as_tensor(label)})
        wmh, result = label == 1, (pred == 1) & (label != 2)
        inter, sizes = inter + int((wmh & result).sum()), sizes + int(wmh.sum() + result.sum())
    handler.metric_fn(*handler._output_transform(output))
    assert float(handler.metric_fn.aggregate()[0]) == pytest.approx(2 * inter / sizes)
