"""LGG kaggle_3m importer on a fake tree of real .tif files: split by patient, loadable paths, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from monai.data import load_decathlon_datalist
from monai.transforms import LoadImage
from PIL import Image

from wmhseg.cli import main
from wmhseg.data import lgg

# Case folders: patient TCGA_DU_5851 was scanned twice (two folders, one patient).
CASES = {
    "TCGA_CS_4941_19960909": 3,
    "TCGA_CS_4942_19970222": 2,
    "TCGA_DU_5851_19950428": 12,
    "TCGA_DU_5851_19960101": 2,
    "TCGA_EZ_7264_20010816": 2,
    "TCGA_FG_5964_20010511": 4,
    "TCGA_HT_7473_19970826": 2,
    "TCGA_HT_8105_19980826": 3,
}


def write_tree(root: Path, cases: dict[str, int] = CASES) -> Path:
    """A kaggle_3m tree of 8×8 RGB slices and binary masks; returns the kaggle_3m folder."""
    rng = np.random.default_rng(0)
    base = root / "kaggle_3m"
    for case, count in cases.items():
        folder = base / case
        folder.mkdir(parents=True)
        for index in range(1, count + 1):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{case}_{index}.tif")
            mask = (rng.random((8, 8)) > 0.7).astype(np.uint8) * 255
            Image.fromarray(mask).save(folder / f"{case}_{index}_mask.tif")
    (base / "data.csv").write_text("Patient,RNASeqCluster\n")  # present in the real download
    return base


def test_datalist_splits_by_patient_and_keeps_every_slice(tmp_path: Path) -> None:
    write_tree(tmp_path / "download")
    out = lgg.build_lgg_datalist(
        tmp_path / "download", tmp_path / "lists" / "lgg.json", num_folds=3, test_fraction=0.15
    )
    datalist = json.loads(out.read_text())
    training, test = datalist["training"], datalist["test"]
    assert len(training) + len(test) == sum(CASES.values())

    fold_of: dict[str, set] = {}
    for entry in training + test:
        fold_of.setdefault(entry["subject"], set()).add(entry.get("fold", "test"))
    assert len(fold_of) == 7  # 8 folders, 7 patients
    assert all(len(folds) == 1 for folds in fold_of.values()), fold_of
    assert sum(folds == {"test"} for folds in fold_of.values()) == 1  # round(0.15 · 7)
    assert {f for folds in fold_of.values() for f in folds} == {0, 1, 2, "test"}
    # Both scans of the same patient go to the same place.
    du = [e for e in training + test if e["subject"] == "TCGA_DU_5851"]
    assert {e["case"] for e in du} == {"TCGA_DU_5851_19950428", "TCGA_DU_5851_19960101"}
    assert {e["scanner"] for e in du} == {"DU"}
    # Slices are numbered numerically (1, 2, …, 10, 11, 12), not as strings.
    first_scan = [e["slice"] for e in du if e["case"] == "TCGA_DU_5851_19950428"]
    assert first_scan == list(range(1, 13))


def test_paths_resolve_and_load_with_monai(tmp_path: Path) -> None:
    kaggle = write_tree(tmp_path)
    out = lgg.build_lgg_datalist(kaggle, tmp_path / "lgg.json", num_folds=2, test_fraction=0.0)
    items = load_decathlon_datalist(out, data_list_key="training", base_dir=tmp_path)
    assert len(items) == sum(CASES.values())
    assert all(not Path(e["image"]).is_absolute() for e in json.loads(out.read_text())["training"])
    item = items[0]
    assert item["label"] == item["image"].replace(".tif", "_mask.tif")
    image = LoadImage(reader="PILReader", image_only=True)(item["image"])
    label = LoadImage(reader="PILReader", image_only=True)(item["label"])
    assert tuple(image.shape) == (8, 8, 3) and tuple(label.shape) == (8, 8)
    expected = np.asarray(Image.open(item["image"]))
    # PILReader returns (W, H, C), the transpose of PIL's (H, W, C) array.
    np.testing.assert_array_equal(np.asarray(image), expected.transpose(1, 0, 2))


def test_split_is_deterministic_and_depends_on_seed(tmp_path: Path) -> None:
    write_tree(tmp_path)
    patients = list(lgg.find_lgg_slices(tmp_path))
    a = lgg.split_by_patient(patients, num_folds=3, test_fraction=0.3, seed=1)
    assert a == lgg.split_by_patient(list(reversed(patients)), num_folds=3, test_fraction=0.3, seed=1)
    assert any(lgg.split_by_patient(patients, 3, 0.3, seed=s) != a for s in range(2, 6))
    counts = [sum(f == k for f in a.values()) for k in range(3)]
    assert max(counts) - min(counts) <= 1 and sum(f is None for f in a.values()) == 2
    with pytest.raises(ValueError, match="cannot fill 10 folds"):
        lgg.split_by_patient(patients, num_folds=10)


def test_bad_trees_raise_naming_the_file(tmp_path: Path) -> None:
    kaggle = write_tree(tmp_path / "a", {"TCGA_CS_4941_19960909": 2})
    missing = kaggle / "TCGA_CS_4941_19960909" / "TCGA_CS_4941_19960909_2_mask.tif"
    missing.unlink()
    with pytest.raises(ValueError, match="TCGA_CS_4941_19960909_2.tif: slice has no mask"):
        lgg.find_lgg_slices(kaggle)

    kaggle = write_tree(tmp_path / "b", {"TCGA_CS_4941_19960909": 1})
    (kaggle / "TCGA_CS_4941_19960909" / "TCGA_CS_4941_19960909_1.tif").unlink()
    with pytest.raises(ValueError, match="_1_mask.tif: mask has no image"):
        lgg.find_lgg_slices(kaggle)

    kaggle = write_tree(tmp_path / "c", {"TCGA_CS_4941_19960909": 1})
    stray = kaggle / "TCGA_CS_4941_19960909" / "TCGA_XX_0000_20000101_1.tif"
    stray.write_bytes(b"")
    with pytest.raises(ValueError, match="not a slice of case TCGA_CS_4941_19960909"):
        lgg.find_lgg_slices(kaggle)

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no kaggle_3m case folders"):
        lgg.find_lgg_slices(tmp_path / "empty")


def test_failed_import_leaves_an_existing_datalist_untouched(tmp_path: Path) -> None:
    kaggle = write_tree(tmp_path, {"TCGA_CS_4941_19960909": 1, "TCGA_CS_4942_19970222": 1})
    out = tmp_path / "lgg.json"
    lgg.build_lgg_datalist(kaggle, out, num_folds=2, test_fraction=0.0)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="cannot fill 5 folds"):
        lgg.build_lgg_datalist(kaggle, out, num_folds=5)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kaggle_3m", "lgg.json"]


def test_prepare_lgg_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``wmhseg prepare lgg`` is the command-line entry point of the importer."""
    write_tree(tmp_path)
    out = tmp_path / "lgg.json"
    assert main(["prepare", "lgg", str(tmp_path), "-o", str(out), "--folds", "2", "--seed", "3"]) == 0
    content = json.loads(out.read_text())
    assert content["split"] == {"by": "patient", "num_folds": 2, "test_fraction": 0.1, "seed": 3}
    assert f"{out}: {len(content['training'])} training, {len(content['test'])} test" in capsys.readouterr().out
    assert main(["prepare", "lgg", str(tmp_path / "nothing"), "-o", str(out)]) == 2
    assert "no kaggle_3m case folders" in capsys.readouterr().err
