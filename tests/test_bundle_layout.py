"""Bundle layout, metadata checks, config properties and the small pieces the configs call."""

from __future__ import annotations

import json
from pathlib import Path

import monai
import numpy as np
import pytest
import torch
from bundle_helpers import (
    CONFIGS,
    EVALUATE,
    INFERENCE,
    LOGGING,
    META,
    REPO,
    TRAIN,
    error_chain,
    tiny_overrides,
    write_phantom_set,
)
from ignite.engine import Engine
from monai.bundle import ConfigParser, ConfigWorkflow, verify_metadata, verify_net_in_out

import wmhseg
from wmhseg.bundle import (
    AtomicCheckpointSaver,
    as_bool,
    flatten_params,
    load_split,
    resolve_datalist,
    run_workflow,
)
from wmhseg.io import atomic_open
from wmhseg.networks import get_network
from wmhseg.transforms import DEFAULT_AUGMENTATION, augmentation_params

BUNDLE = REPO / "bundle"
SCHEMA = CONFIGS / "schema" / "meta_schema_20240725.json"


def test_required_files_exist():
    for name in [
        "LICENSE",
        "configs/metadata.json",
        "configs/train.json",
        "configs/evaluate.json",
        "configs/multi_gpu_train.json",
        "configs/quick.json",
        "configs/logging.conf",
        "configs/schema/meta_schema_20240725.json",
        "docs/README.md",
        "docs/data_license.txt",
    ]:
        assert (BUNDLE / name).is_file(), name


def test_metadata_versions():
    meta = json.loads(Path(META).read_text())
    assert meta["version"] in meta["changelog"]
    assert meta["required_packages_version"]["wmhseg"] == wmhseg.__version__
    assert meta["monai_version"] == monai.__version__
    assert meta["pytorch_version"] == torch.__version__.split("+")[0]
    assert meta["numpy_version"] == np.__version__
    assert set(meta["network_data_format"]["inputs"]) == {"image"}
    assert set(meta["network_data_format"]["outputs"]) == {"pred"}


def test_verify_metadata_offline_accepts_ours_and_rejects_a_broken_copy(tmp_path):
    verify_metadata(meta_file=META, filepath=str(SCHEMA))  # the vendored schema exists: no download
    broken = json.loads(Path(META).read_text())
    del broken["network_data_format"]
    (tmp_path / "metadata.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="network_data_format"):
        verify_metadata(meta_file=str(tmp_path / "metadata.json"), filepath=str(SCHEMA))


def test_verify_net_in_out():
    """The metadata describes the shipped model, which the inference config builds (six classes)."""
    verify_net_in_out(net_id="network_def", meta_file=META, config_file=INFERENCE, n=2, any=8)


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    return write_phantom_set(tmp_path_factory.mktemp("phantoms"))


def test_check_properties_train_and_evaluate(phantoms, tmp_path):
    train = ConfigWorkflow(
        config_file=TRAIN,
        meta_file=META,
        logging_file=LOGGING,
        workflow_type="train",
        **tiny_overrides(tmp_path, phantoms),
    )
    train.initialize()
    assert train.check_properties() == []
    evaluate = ConfigWorkflow(
        config_file=[TRAIN, EVALUATE],
        meta_file=META,
        logging_file=LOGGING,
        workflow_type="infer",
        **tiny_overrides(tmp_path, phantoms),
    )
    evaluate.initialize()
    assert evaluate.check_properties() == []


def test_run_workflow_refuses_a_config_without_the_required_properties(tmp_path):
    config = tmp_path / "configs" / "train.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"device": "cpu", "ran": "$[]", "run": ["$@ran.append(1)"]}))
    with pytest.raises(ValueError, match=r"is not a train workflow: missing .*bundle_root"):
        run_workflow(str(config), meta_file=META, logging_file=False)
    assert run_workflow(str(config), workflow_type=None, meta_file=META, logging_file=False).parser.get_parsed_content(
        "ran"
    ) == [1]  # no type, no required properties: it runs


def test_recipe_defaults_are_top_level_ids():
    config = ConfigParser.load_config_file(TRAIN)
    recipe = {
        "network_preset": "saunet3d",
        "lr": 0.001,
        "lr_factor": 0.1,
        "lr_patience": 3,
        "batch_size": 4,
        "epochs": 70,
        "fold": 0,
        "seed": 0,
        "resume": False,
        "dataset_dir": None,
    }
    for key, value in recipe.items():
        assert config[key] == value, key
    assert config["patch_size"][2] == 32
    # every entry a config id (--augmentation#ghosting#prob 0.3) whose values live in DEFAULT_AUGMENTATION alone
    assert list(config["augmentation"]) == list(DEFAULT_AUGMENTATION)
    assert augmentation_params(config["augmentation"]) == DEFAULT_AUGMENTATION
    assert config["loss"]["_target_"] == "DiceCELoss"
    assert config["optimizer"]["_target_"] == "torch.optim.Adam"
    assert config["lr_scheduler"]["_target_"].endswith("ReduceLROnPlateau")


@pytest.mark.parametrize("config_file", [TRAIN, str(CONFIGS / "inference.json")])
def test_network_def_is_a_component_whose_arguments_are_ids(config_file):
    """As in model-zoo: ``--network_def#out_channels 2`` sets one argument, ``--network_options`` several."""
    parser = ConfigParser()
    parser.read_config(config_file)
    assert parser["network_def"]["_target_"] == "wmhseg.networks.get_network"
    parser["network_options"] = {"channels": [8, 8, 16, 16], "out_channels": 4}
    parser["network_def#out_channels"] = 2  # as --network_def#out_channels 2 on the command line
    network = parser.get_parsed_content("network_def")
    expected = get_network("saunet3d", channels=[8, 8, 16, 16], out_channels=2).state_dict()
    assert {k: v.shape for k, v in network.state_dict().items()} == {k: v.shape for k, v in expected.items()}
    with torch.no_grad():
        assert network(torch.zeros(1, 1, 32, 32, 8)).shape == (1, 2, 32, 32, 8)


def test_no_provisional_pieces_left():
    for name in ("train.json", "evaluate.json", "quick.json", "multi_gpu_train.json", "reference_loss.json"):
        assert "PROVISIONAL" not in (CONFIGS / name).read_text(), name
    for module in (REPO / "wmhseg" / "bundle").glob("*.py"):
        assert "PROVISIONAL" not in module.read_text(), module.name


def _types(transforms) -> list[str]:
    return [
        type(t).__name__ + (f"({type(t.transform).__name__})" if hasattr(t, "transform") else "") for t in transforms
    ]


def test_transforms_are_the_wmhseg_builders_and_follow_the_augmentation_ids():
    parser = ConfigParser()
    parser.read_config(TRAIN)
    parser["augmentation#elastic#prob"] = 0.0  # as --augmentation#elastic#prob 0 on the command line
    parser["augmentation#rotate#prob"] = 0.7
    deterministic = _types(parser.get_parsed_content("train#deterministic_transforms"))
    assert deterministic == _types(parser.get_parsed_content("validate#preprocessing").transforms)
    assert deterministic[:4] == ["LoadImaged", "EnsureChannelFirstd", "Orientationd", "Spacingd"]
    assert {"SpatialPadd", "NormalizeFLAIRd", "EnsureLabelClassesd"} <= set(deterministic)
    random = parser.get_parsed_content("train#random_transforms")
    names = _types(random)
    assert names[:2] == ["ApplyToRawIntensityd(SpatialPadd)", "RandCropByLabelClassesd"]
    assert "Rand3DElasticd" not in names and "ApplyToRawIntensityd(RandTorchIOd)" in names
    assert next(t for t in random if type(t).__name__ == "RandRotated").prob == 0.7
    assert "Rand3DElasticd" in _types(_parsed(TRAIN, "train#random_transforms"))  # on by default


def _parsed(config_file, id_: str, **overrides):
    parser = ConfigParser()
    parser.read_config(config_file)
    for key, value in overrides.items():
        parser[key] = value
    return parser.get_parsed_content(id_)


def test_rectangular_patches_need_the_quarter_turns_off():
    with pytest.raises(Exception) as raised:
        _parsed(TRAIN, "train#random_transforms", patch_size=[96, 64, 16])
    assert any("need a square in-plane patch" in message for message in error_chain(raised.value))
    names = _types(
        _parsed(
            TRAIN,
            "train#random_transforms",
            patch_size=[96, 64, 16],
            **{"augmentation#rotate90#prob": 0.0, "augmentation#transpose#prob": 0.0},
        )
    )
    assert "RandRotate90d" not in names and "RandTransposeAxesd" not in names


def test_bundle_root_is_the_working_folder_as_in_model_zoo(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # outputs go below the folder the command runs in ...
    workflow = ConfigWorkflow(config_file=TRAIN, meta_file=META, logging_file=False, workflow_type="train")
    workflow.initialize()
    assert workflow.bundle_root == "." and workflow.parser.get_parsed_content("model_path") == "./models/model.pt"
    assert (
        Path(workflow.parser.get_parsed_content("tracking_uri").removeprefix("sqlite:///"))
        == tmp_path / "eval" / "mlruns.db"
    )
    moved = ConfigWorkflow(
        config_file=TRAIN, meta_file=META, logging_file=False, workflow_type="train", bundle_root=str(BUNDLE)
    )  # ... or below --bundle_root
    moved.initialize()
    assert moved.parser.get_parsed_content("model_path") == str(BUNDLE / "models" / "model.pt")
    inference = ConfigParser()
    inference.read_config(str(CONFIGS / "inference.json"))
    assert inference.get_parsed_content("ckpt_file") == "./models/model.pt"


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, True),
        (False, False),
        ("true", True),
        ("False", False),
        ("1", True),
        ("no", False),
        (0, False),
        (None, False),
    ],
)
def test_as_bool(value, expected):
    assert as_bool(value) is expected


def test_as_bool_rejects_other_values():
    with pytest.raises(ValueError, match="resume"):
        as_bool("maybe", "resume")


def test_load_split_folds_paths_and_errors(tmp_path):
    datalist = write_phantom_set(tmp_path / "data", n_cases=6, n_folds=3)
    training = load_split(datalist, "training", fold=1)
    validation = load_split(datalist, "validation", fold=1)
    assert [item["subject"] for item in validation] == ["case01", "case04"]
    assert len(training) == 4 and not {i["subject"] for i in training} & {i["subject"] for i in validation}
    assert all(Path(item["image"]).is_absolute() and Path(item["image"]).is_file() for item in training)
    # a subject named like an existing folder stays a subject, not a path
    assert validation[0]["subject"] == "case01" and (datalist.parent / "case01").is_dir()
    assert len(load_split(datalist, "all")) == 6
    with pytest.raises(ValueError, match="fold 7 not present"):
        load_split(datalist, "validation", fold=7)
    with pytest.raises(ValueError, match="'test' split"):
        load_split(datalist, "test")
    (datalist.parent / "case02" / "FLAIR.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="case02"):
        load_split(datalist, "all")


def test_resolve_datalist_accepts_folder_or_file(tmp_path):
    datalist = write_phantom_set(tmp_path / "data", n_cases=3)
    assert resolve_datalist(datalist.parent) == str(datalist)
    assert resolve_datalist(datalist) == str(datalist)
    with pytest.raises(FileNotFoundError, match="no datalist"):
        resolve_datalist(tmp_path)


def test_atomic_open_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as stream:
            stream.write("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with atomic_open(target) as stream:
        stream.write("new")
    assert target.read_text() == "new"


def test_best_checkpoint_saves_only_on_improvement_and_never_on_nan(tmp_path):
    network = torch.nn.Linear(2, 1)
    saver = AtomicCheckpointSaver(str(tmp_path), {"model": network}, "model.pt", key_metric="dice")
    engine = Engine(lambda engine, batch: None)
    saved = []
    for epoch, dice in enumerate([float("nan"), 0.5, 0.4, 0.6], start=1):
        engine.state.epoch, engine.state.metrics = epoch, {"dice": dice}
        before = (tmp_path / "model.pt").stat().st_mtime_ns if (tmp_path / "model.pt").exists() else None
        saver(engine)
        after = (tmp_path / "model.pt").stat().st_mtime_ns if (tmp_path / "model.pt").exists() else None
        saved.append(after is not None and after != before)
    assert saved == [False, True, False, True]
    assert saver.state_dict() == {"best": 0.6, "best_epoch": 4}
    assert set(torch.load(tmp_path / "model.pt", weights_only=True)) == {"weight", "bias"}  # bare state dict


def test_flatten_params():
    flat = flatten_params({"a": {"b": 1, "_desc_": "text"}, "c": [1, 2], "d": None})
    assert flat == {"a.b": "1", "c": "[1, 2]", "d": "None"}
