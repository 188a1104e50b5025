"""Every registered network preset trains through the same bundle with one override."""

from __future__ import annotations

import pytest
import torch
from bundle_helpers import (  # noqa: F401  (single_torch_thread is an autouse fixture)
    QUICK,
    TRAIN,
    mlflow_runs,
    run_workflow,
    single_torch_thread,
    tiny_overrides,
    write_phantom_set,
)
from monai.bundle import ConfigParser

from wmhseg.networks import get_network, list_networks


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Phantoms and one MLflow store for all presets (creating a store costs seconds)."""
    root = tmp_path_factory.mktemp("presets")
    return write_phantom_set(root / "data", n_cases=4, n_folds=2), f"sqlite:///{root / 'mlruns.db'}"


@pytest.mark.parametrize("preset", list_networks())
def test_preset_trains_through_the_bundle(preset, shared, tmp_path):
    datalist, store = shared
    overrides = tiny_overrides(tmp_path, datalist, network_preset=preset, epochs=1, run_name=preset, tracking_uri=store)
    run_workflow(TRAIN, "training", **{**overrides, "experiment_name": "presets"})
    run = [r for r in mlflow_runs(store, "presets") if r.info.run_name == preset][-1]
    assert run.info.status == "FINISHED" and run.data.params["network.name"] == preset
    latest = torch.load(tmp_path / "models" / "latest.pt", weights_only=True)
    get_network(preset, channels=[8, 8, 16, 16]).load_state_dict(latest["network"])


def test_quick_overlay_shrinks_the_run_and_keeps_the_recipe():
    parser = ConfigParser()
    parser.read_config([TRAIN, QUICK])
    assert parser["patch_size"] == [96, 96, 16] and parser["epochs"] < 10
    assert parser["lr"] == 0.001 and parser["network_preset"] == "saunet3d"
