"""The 2D overlay (train_2d.json): the LGG recipe, training on phantom slices and on a fake Kaggle tree, export."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from bundle_helpers import (
    CONFIGS,
    LOGGING,
    PYTHON,
    TRAIN,
    cli_args,
    mlflow_runs,
    subprocess_env,
)
from monai.bundle import ConfigParser, ConfigWorkflow, ckpt_export, verify_metadata, verify_net_in_out
from monai.losses import DiceLoss
from monai.transforms import RandAffined, RandFlipd
from PIL import Image

from wmhseg.bundle import load_split, run_workflow
from wmhseg.cli import main
from wmhseg.networks import SAUNet2D, get_network

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRAIN_2D = str(CONFIGS / "train_2d.json")
META_2D = str(CONFIGS / "metadata_2d.json")
SCHEMA = str(CONFIGS / "schema" / "meta_schema_20240725.json")
TWO_D = ("saunet2d_lgg", "saunet2d_guo2020")
TINY = {
    "saunet2d_lgg": {"channels": [8, 16, 32, 64]},
    "saunet2d_guo2020": {"channels": [8, 16, 32, 64], "block_size": 3},
}


def parsed(**overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config([TRAIN, TRAIN_2D])
    parser.read_meta(META_2D)
    parser.update(overrides)
    return parser


def test_overlay_is_the_lgg_recipe():
    parser = parsed()
    assert parser["network_preset"] == "saunet2d_lgg"
    assert (parser["lr"], parser["batch_size"], parser["patch_size"], parser["epochs"]) == (1e-4, 32, [256, 256], 50)
    net = parser.get_parsed_content("network_def")
    reference = get_network("saunet2d_lgg", in_channels=1, out_channels=1)
    assert isinstance(net, SAUNet2D)
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    assert net(torch.zeros(1, 1, 64, 64)).shape == (1, 1, 64, 64)
    assert isinstance(parser.get_parsed_content("optimizer"), torch.optim.Adam)
    loss = parser.get_parsed_content("loss")
    assert isinstance(loss, DiceLoss) and loss.batch and loss.smooth_nr == loss.smooth_dr == 100.0
    augment = parser.get_parsed_content("train#random_transforms")
    assert [type(t) for t in augment] == [RandFlipd, RandAffined]
    assert set(parser["validate#additional_metrics"]) == {"val_loss", "val_iou", "val_accuracy"}
    assert parser["validate#additional_metrics#val_accuracy#metric_name"] == "accuracy"
    assert list(parser["validate#key_metric"]) == ["val_dice"] == [parser["validate#best_checkpoint#key_metric"]]
    # The plateau scheduler keeps the learning rate constant for the whole run (the recipe has none).
    assert parser.get_parsed_content("lr_scheduler").patience == 50


def test_pixel_accuracy_metric_is_the_share_of_correct_pixels():
    handler = parsed().get_parsed_content("validate#additional_metrics#val_accuracy")
    generator = torch.Generator().manual_seed(0)
    preds = [(torch.rand(1, 16, 16, generator=generator) > 0.5).float() for _ in range(3)]
    labels = [(torch.rand(1, 16, 16, generator=generator) > 0.8).float() for _ in range(3)]
    metric = handler.metric_fn  # the handler's MONAI metric, accumulated over batches like in validation
    metric(y_pred=preds[:2], y=labels[:2])
    metric(y_pred=preds[2:], y=labels[2:])
    expected = float(torch.stack([(p == y).float().mean() for p, y in zip(preds, labels)]).mean())
    assert float(metric.aggregate()[0]) == pytest.approx(expected)


def test_metadata_2d_and_network_io():
    verify_metadata(meta_file=META_2D, filepath=SCHEMA)
    meta_2d, meta = (json.loads(Path(path).read_text()) for path in (META_2D, CONFIGS / "metadata.json"))
    for key in ("version", "monai_version", "pytorch_version", "numpy_version"):
        assert meta_2d[key] == meta[key], key
    assert meta_2d["required_packages_version"].items() >= meta["required_packages_version"].items()
    for preset in TWO_D:
        verify_net_in_out("network_def", meta_file=META_2D, config_file=[TRAIN, TRAIN_2D], n=4, network_preset=preset)
    verify_net_in_out(  # the LGG slices: 3 channels
        "network_def",
        meta_file=META_2D,
        config_file=[TRAIN, TRAIN_2D],
        n=4,
        in_channels=3,
        **{"_meta_#network_data_format#inputs#image#num_channels": 3},
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlruns.db'}"


def train_2d(root: Path, store: str, preset: str, **overrides) -> ConfigWorkflow:
    settings = {
        "bundle_root": str(root),
        "network_preset": preset,
        "network_options": TINY[preset],
        "patch_size": [64, 64],
        "batch_size": 8,
        "epochs": 1,
        "num_workers": 0,
        "tracking_uri": store,
        "experiment_name": "two_d",
        "run_name": f"{preset}_{root.name}",
        **overrides,
    }
    return run_workflow([TRAIN, TRAIN_2D], "training", meta_file=META_2D, **settings)


def finished_run(store: str, name: str):
    (run,) = [r for r in mlflow_runs(store, "two_d") if r.info.run_name == name]
    assert run.info.status == "FINISHED"
    return run


@pytest.mark.parametrize("preset", TWO_D)
def test_2d_preset_trains_on_phantom_slices_and_exports(preset, tiny_phantoms, store, tmp_path):
    """The default data path: the 3D datalist's axial slices, cut on the fly, split by subject."""
    slices = tmp_path / "slices"
    train_2d(tmp_path, store, preset, dataset_dir=str(tiny_phantoms), slice_dir=str(slices), target_spacing=[3.5, 3.5])
    run = finished_run(store, f"{preset}_{tmp_path.name}")
    assert run.data.params["network.name"] == preset and run.data.params["network.in_channels"] == "1"
    assert {"val_dice", "val_iou", "val_accuracy", "val_loss", "train_dice"} <= set(run.data.metrics)
    assert all(0.0 <= run.data.metrics[name] <= 1.0 for name in ("val_dice", "val_iou", "val_accuracy"))
    sliced = slices / "datalist.json"
    assert run.data.params["datalist.path"] == str(sliced)
    training = {e["subject"] for e in load_split(sliced, "training", 0)}
    assert training and not training & {e["subject"] for e in load_split(sliced, "validation", 0)}

    latest = tmp_path / "models" / "latest.pt"
    net = get_network(preset, in_channels=1, out_channels=1, **TINY[preset])
    net.load_state_dict(torch.load(latest, weights_only=True)["network"])
    exported = tmp_path / "model.ts"
    ckpt_export(
        "network_def",
        filepath=str(exported),
        ckpt_file=str(latest),
        key_in_ckpt="network",
        meta_file=META_2D,
        config_file=[TRAIN, TRAIN_2D],
        network_preset=preset,
        network_options=TINY[preset],
    )
    scripted = torch.jit.load(str(exported))
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net.eval()(x))


def write_kaggle_tree(root: Path, patients: int = 4, slices: int = 4) -> Path:
    """kaggle_3m with ``patients`` cases of 32×32 RGB slices, each with a bright disc and its 0/255 mask."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    for p in range(patients):
        case = f"TCGA_CS_{4941 + p}_1996090{p}"
        folder = root / "kaggle_3m" / case
        folder.mkdir(parents=True)
        for index in range(1, slices + 1):
            cy, cx, r = rng.integers(10, 22), rng.integers(10, 22), rng.integers(4, 8)
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
            rgb = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
            rgb[disc] = rng.integers(180, 255, (int(disc.sum()), 3))
            Image.fromarray(rgb).save(folder / f"{case}_{index}.tif")
            Image.fromarray(disc.astype(np.uint8) * 255).save(folder / f"{case}_{index}_mask.tif")
    return root / "kaggle_3m"


def test_lgg_tree_trains_with_the_documented_command(store, tmp_path):
    """``wmhseg prepare lgg`` then ``python -m monai.bundle run`` with --datalist and --in_channels 3, in a subprocess."""
    kaggle = write_kaggle_tree(tmp_path / "download")
    datalist = tmp_path / "lgg.json"
    assert main(["prepare", "lgg", str(kaggle), "-o", str(datalist), "--folds", "3", "--test-fraction", "0.25"]) == 0
    content = json.loads(datalist.read_text())
    assert len({e["subject"] for e in content["test"]}) == 1
    validation = {e["subject"] for e in load_split(datalist, "validation", 0)}
    assert validation and not validation & {e["subject"] for e in load_split(datalist, "training", 0)}

    overrides = {
        "bundle_root": str(tmp_path),
        "datalist": str(datalist),
        "in_channels": 3,
        "network_options": TINY["saunet2d_lgg"],
        "patch_size": [32, 32],
        "batch_size": 8,
        "epochs": 2,
        "num_workers": 0,
        "tracking_uri": store,
        "experiment_name": "two_d",
        "run_name": "lgg_cli",
    }
    command = [
        PYTHON,
        "-m",
        "monai.bundle",
        "run",
        "training",
        "--config_file",
        repr([TRAIN, TRAIN_2D]),
        "--meta_file",
        META_2D,
        "--logging_file",
        LOGGING,
        *cli_args(overrides),
    ]
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = finished_run(store, "lgg_cli")
    assert run.data.params["network.in_channels"] == "3" and run.data.params["datalist.n_training"] == "12"
    assert run.data.params["patch_size"] == "[32, 32]"
    net = get_network("saunet2d_lgg", in_channels=3, out_channels=1, **TINY["saunet2d_lgg"])
    # every validation slice has a disc, so val_dice is a number and the best checkpoint exists
    net.load_state_dict(torch.load(tmp_path / "models" / "model.pt", weights_only=True))
