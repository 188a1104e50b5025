"""The related 3D networks (RSANet, SAU-Net, 3D SA-UNet + RSA) through the bundle, each by one override.

Each trains with ``train.json``, predicts with ``evaluate.json``, exports to TorchScript with
``ckpt_export`` and passes ``verify_net_in_out`` at full width with the bundle's metadata.
(Every 3D preset's training run: ``test_bundle_presets.py``; the 2D presets train through
``train_2d.json``: ``test_bundle_2d.py``.)
"""

from __future__ import annotations

import pytest
import torch
from bundle_helpers import (
    EVALUATE,
    INFERENCE,
    META,
    TRAIN,
    mlflow_runs,
    tiny_overrides,
    write_phantom_set,
)
from monai.bundle import ckpt_export, verify_net_in_out

from wmhseg.bundle import network_params, run_workflow
from wmhseg.networks import RELATED, get_network, list_networks

pytestmark = pytest.mark.usefixtures("one_torch_thread")

THREE_D = [name for name in list_networks() if network_params(name).get("spatial_dims") == 3]
RELATED_3D = [name for name in RELATED if name in THREE_D]
# Small widths per network (RSANet has five widths); everything else is the registered preset.
TINY = {"rsanet3d": {"channels": [8, 8, 8, 16, 16]}}
# RSANet's input contract: every size a multiple of 16 (other sizes take the zero-padding path).
PATCH = {"rsanet3d": [32, 32, 16]}


def tiny_options(preset: str) -> dict:
    return TINY.get(preset, {"channels": [8, 8, 16, 16]})


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Phantoms and one MLflow store for all the networks (creating a store costs seconds)."""
    root = tmp_path_factory.mktemp("related")
    return write_phantom_set(root / "data", n_cases=4, n_folds=2), f"sqlite:///{root / 'mlruns.db'}"


def train_preset(preset, shared, root):
    datalist, store = shared
    overrides = tiny_overrides(
        root,
        datalist,
        network_preset=preset,
        network_options=tiny_options(preset),
        epochs=1,
        run_name=preset,
        tracking_uri=store,
        experiment_name="related",
        patch_size=PATCH.get(preset, [32, 32, 8]),
    )
    run_workflow(TRAIN, "training", **overrides)
    run = [r for r in mlflow_runs(store, "related") if r.info.run_name == preset][-1]
    assert run.info.status == "FINISHED" and run.data.params["network.name"] == preset
    latest = torch.load(root / "models" / "latest.pt", weights_only=True)
    get_network(preset, **tiny_options(preset)).load_state_dict(latest["network"])
    return overrides


def test_related_networks_split_into_2d_and_3d():
    assert set(THREE_D) | {"saunet2d_guo2020", "saunet2d_lgg"} == set(list_networks())
    assert RELATED_3D == ["rsanet3d", "saunet3d_rsa", "sau_net"]


@pytest.mark.parametrize("preset", RELATED_3D)
def test_related_network_trains_evaluates_and_exports(preset, shared, tmp_path):
    overrides = train_preset(preset, shared, tmp_path)
    # Inference through the bundle: sliding-window prediction of the validation fold with models/model.pt.
    run_workflow([TRAIN, EVALUATE], "evaluating", "infer", **{**overrides, "run_name": f"eval_{preset}"})
    predictions = sorted((tmp_path / "eval" / "evaluation" / "predictions").glob("*/result.nii.gz"))
    assert len(predictions) == 2 and (tmp_path / "eval" / "evaluation" / "per_case.csv").is_file()
    # TorchScript export of the trained weights with the bundle's configs.
    exported = tmp_path / "model.ts"
    ckpt_export(
        "network_def",
        filepath=str(exported),
        ckpt_file=str(tmp_path / "models" / "model.pt"),
        meta_file=META,
        config_file=TRAIN,
        network_preset=preset,
        network_options=tiny_options(preset),
    )
    net = get_network(preset, **tiny_options(preset)).eval()
    net.load_state_dict(torch.load(tmp_path / "models" / "model.pt", weights_only=True))
    x = torch.randn(1, 1, 32, 32, 16)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(exported))(x), net(x))


@pytest.mark.parametrize("preset", RELATED_3D)
def test_related_network_io_with_the_bundle_metadata(preset):
    """Full-width networks, built by the bundle config from the one override, meet metadata.json's contract (the
    shipped model's: the inference config, six classes)."""
    verify_net_in_out("network_def", meta_file=META, config_file=INFERENCE, n=2, any=16, network_preset=preset)
