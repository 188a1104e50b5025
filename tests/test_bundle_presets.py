"""Every registered 3D network preset trains through the same bundle with one override.

2D presets (``spatial_dims`` 2, e.g. the 2D SA-UNets) take other inputs and are not trained by ``train.json``.
"""

from __future__ import annotations

import pytest
import torch
from bundle_helpers import (
    QUICK,
    TRAIN,
    mlflow_runs,
    tiny_overrides,
    write_phantom_set,
)
from monai.bundle import ConfigParser

from wmhseg.bundle import network_params, run_workflow
from wmhseg.networks import get_network, list_networks

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PRESETS_3D = [name for name in list_networks() if network_params(name).get("spatial_dims") == 3]


def _tiny_channels(preset: str) -> list[int]:
    """Small widths, as many as the preset's default ``channels`` (4 levels, or 4 and a bottleneck)."""
    return [8, 8, 16, 16, 16][: len(network_params(preset)["channels"])]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Phantoms and one MLflow store for all presets (creating a store costs seconds)."""
    root = tmp_path_factory.mktemp("presets")
    return write_phantom_set(root / "data", n_cases=4, n_folds=2), f"sqlite:///{root / 'mlruns.db'}"


@pytest.mark.parametrize("preset", PRESETS_3D)
def test_preset_trains_through_the_bundle(preset, shared, tmp_path):
    datalist, store = shared
    channels = _tiny_channels(preset)
    overrides = tiny_overrides(
        tmp_path,
        datalist,
        network_preset=preset,
        epochs=1,
        run_name=preset,
        tracking_uri=store,
        network_options={"channels": channels},
    )
    run_workflow(TRAIN, "training", **{**overrides, "experiment_name": "presets"})
    run = [r for r in mlflow_runs(store, "presets") if r.info.run_name == preset][-1]
    assert run.info.status == "FINISHED" and run.data.params["network.name"] == preset
    latest = torch.load(tmp_path / "models" / "latest.pt", weights_only=True)
    get_network(preset, channels=channels).load_state_dict(latest["network"])


def test_quick_overlay_shrinks_the_run_and_keeps_the_recipe():
    parser = ConfigParser()
    parser.read_config([TRAIN, QUICK])
    assert parser["patch_size"] == [96, 96, 16] and parser["epochs"] < 10
    assert parser["lr"] == 0.001 and parser["network_preset"] == "saunet3d"
