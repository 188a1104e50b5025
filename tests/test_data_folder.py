"""Generic importer (plain folder and BIDS tree) and the datalist helpers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.data import load_decathlon_datalist

from wmhseg.data import assign_folds, import_folder, split_fold, write_datalist
from wmhseg.data.datalist import natural_key, read_datalist, resolve_paths


def _nifti(path: Path, shape=(5, 4, 3), value: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full(shape, value, dtype=np.float32), np.eye(4)), path)
    return path


@pytest.fixture()
def bids(tmp_path: Path) -> Path:
    """Three participants, one with two sessions; masks in derivatives; a sidecar names the scanner."""
    root = tmp_path / "study"
    for participant, sessions in (("sub-01", ["ses-1", "ses-2"]), ("sub-02", [None]), ("sub-03", [None])):
        for session in sessions:
            anat = root / participant / (session or "") / "anat"
            entities = "_".join(x for x in (participant, session) if x)
            _nifti(anat / f"{entities}_FLAIR.nii.gz", value=100)
            _nifti(anat / f"{entities}_T1w.nii.gz", value=50)
            if participant != "sub-03":  # sub-03 has no mask: inference only
                deriv = root / "derivatives" / "manual" / participant / (session or "") / "anat"
                _nifti(deriv / f"{entities}_FLAIR_label-WMH_mask.nii.gz")
                _nifti(deriv / f"{entities}_desc-brain_mask.nii.gz")  # a brain mask, not the WMH one
    (root / "sub-02" / "anat" / "sub-02_FLAIR.json").write_text(
        json.dumps({"Manufacturer": "Siemens", "ManufacturersModelName": "Prisma", "MagneticFieldStrength": 3})
    )
    (root / "dataset_description.json").write_text("{}")
    return root


def test_bids_tree(bids: Path, tmp_path: Path) -> None:
    path = import_folder(bids, tmp_path / "bids.json", num_folds=2, scanner="site-A")
    content = json.loads(path.read_text())
    training = {e["subject"]: e for e in content["training"]}
    assert sorted(training) == ["sub-01_ses-1", "sub-01_ses-2", "sub-02"]
    assert training["sub-02"]["label"].endswith("sub-02_FLAIR_label-WMH_mask.nii.gz")  # WMH mask preferred
    assert training["sub-02"]["scanner"] == "Siemens Prisma 3T" and training["sub-01_ses-1"]["scanner"] == "site-A"
    assert training["sub-01_ses-1"]["fold"] == training["sub-01_ses-2"]["fold"]  # sessions share a fold
    assert [e["subject"] for e in content["test"]] == ["sub-03"] and "label" not in content["test"][0]
    for entry in load_decathlon_datalist(path, data_list_key="training", base_dir=path.parent):
        assert Path(entry["image"]).is_file() and Path(entry["label"]).is_file()
        assert entry["image"].endswith("_FLAIR.nii.gz")


def test_bids_unreadable_file_is_skipped_with_its_path(bids: Path, tmp_path: Path) -> None:
    broken = bids / "sub-02" / "anat" / "sub-02_FLAIR.nii.gz"
    broken.write_bytes(b"\x1f\x8b broken")
    with pytest.warns(UserWarning, match=str(broken).replace(".", r"\.")):
        content = json.loads(import_folder(bids, tmp_path / "b.json", num_folds=2).read_text())
    assert [s["path"] for s in content["skipped"]] == [str(broken)]
    assert "sub-02" not in {e["subject"] for e in content["training"]}


def test_plain_folder_with_suffix_masks_and_a_labels_folder(tmp_path: Path) -> None:
    folder = tmp_path / "flair"
    for name in ("a", "b", "c"):
        _nifti(folder / f"{name}.nii.gz", value=10)
    _nifti(folder / "a_wmh.nii.gz")
    _nifti(folder / "b_wmh.nii.gz", shape=(5, 4, 2))  # wrong grid: skipped
    with pytest.warns(UserWarning, match="b_wmh.nii.gz: shape"):
        content = json.loads(import_folder(folder, tmp_path / "p.json", scanner="clinic").read_text())
    assert [e["subject"] for e in content["training"]] == ["a"]
    assert [e["subject"] for e in content["test"]] == ["c"]
    assert content["training"][0]["scanner"] == "clinic"

    labels = tmp_path / "masks"
    _nifti(labels / "c.nii.gz")
    content = json.loads(import_folder(folder, tmp_path / "q.json", labels=labels).read_text())
    assert [e["subject"] for e in content["training"]] == ["c"]  # a_wmh.nii.gz is not an image here either
    assert {e["subject"] for e in content["test"]} == {"a", "b"}
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no usable FLAIR"):
        import_folder(tmp_path / "empty", tmp_path / "r.json")


def test_assign_folds_balances_each_scanner_and_is_deterministic() -> None:
    items = [{"subject": f"{s}{i}", "scanner": s} for s, n in (("A", 20), ("B", 7), ("C", 13)) for i in range(n)]
    folded = assign_folds(items, num_folds=5, seed=1)
    assert folded == assign_folds(items, num_folds=5, seed=1) and folded != assign_folds(items, num_folds=5, seed=2)
    sizes = Counter(e["fold"] for e in folded)
    assert max(sizes.values()) - min(sizes.values()) <= 1
    for scanner, n in (("A", 20), ("B", 7), ("C", 13)):
        per_fold = Counter(e["fold"] for e in folded if e["scanner"] == scanner)
        assert all(per_fold[f] in (n // 5, -(-n // 5)) for f in range(5))
    train, val = split_fold(folded, 2)
    assert len(train) + len(val) == 40 and all(e["fold"] == 2 for e in val)
    with pytest.raises(ValueError, match="no item has fold 7"):
        split_fold(folded, 7)
    with pytest.raises(ValueError, match="unknown fold scheme"):
        assign_folds(items, scheme="random")


def test_write_datalist_makes_paths_relative(tmp_path: Path) -> None:
    image = _nifti(tmp_path / "data" / "x" / "FLAIR.nii.gz")
    path = write_datalist(
        tmp_path / "lists" / "d.json",
        [{"image": image, "label": image, "subject": "x", "scanner": "s", "fold": 0}],
        name="t",
    )
    entry = json.loads(path.read_text())["training"][0]
    assert entry["image"] == "../data/x/FLAIR.nii.gz" and entry["subject"] == "x"
    assert not list(path.parent.glob(".*tmp*"))


def test_one_natural_order_for_ids_folds_and_evaluation_tables() -> None:
    from wmhseg.evaluation import Case, sorted_cases

    assert sorted(["sub10", "sub2", "Sub1", "3", "20"], key=natural_key) == ["3", "20", "Sub1", "sub2", "sub10"]
    folded = assign_folds(
        [{"subject": s, "scanner": s} for s in ("scanner10", "scanner2")], scheme="leave-one-scanner-out"
    )
    assert {item["scanner"]: item["fold"] for item in folded} == {"scanner2": 0, "scanner10": 1}
    cases = sorted_cases([Case(s, "site", Path(f"{s}.nii.gz")) for s in ("sub10", "sub2", "Sub1")])
    assert [case.subject for case in cases] == ["Sub1", "sub2", "sub10"]


def test_only_file_entries_are_resolved_against_the_datalist_folder(tmp_path: Path) -> None:
    (tmp_path / "case01").mkdir()  # a folder named like the subject
    datalist = tmp_path / "d.json"
    datalist.write_text(
        json.dumps({"test": [{"image": "case01/FLAIR.nii.gz", "subject": "case01", "t1": "/abs/T1.nii"}]})
    )
    with pytest.raises(ValueError, match="has no 'training' list"):
        read_datalist(datalist)
    (item,) = resolve_paths(read_datalist(datalist, key="test")["test"], datalist.parent)
    assert item == {"image": str(tmp_path / "case01" / "FLAIR.nii.gz"), "subject": "case01", "t1": "/abs/T1.nii"}
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_datalist(tmp_path / "absent.json")


def test_plain_folder_of_itk_images(tmp_path: Path) -> None:
    import SimpleITK as sitk

    folder = tmp_path / "mha"
    folder.mkdir()
    for name in ("x.mha", "x_wmh.nrrd", "y.mha", "z.mha", "z_wmh.mha"):
        image = sitk.GetImageFromArray(np.ones((3, 4, 5), dtype=np.float32))
        if name == "z_wmh.mha":
            image.SetOrigin((0.0, 0.0, 4.0))  # a mask shifted by 4 voxels in z
        sitk.WriteImage(image, str(folder / name))
    (folder / "y.mha").write_bytes((folder / "y.mha").read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning) as caught:
        content = json.loads(import_folder(folder, tmp_path / "m.json").read_text())
    messages = " ".join(str(w.message) for w in caught)
    assert "y.mha: unreadable" in messages and "z_wmh.mha: voxel grid differs" in messages
    assert [(e["subject"], e["label"]) for e in content["training"]] == [("x", "mha/x_wmh.nrrd")]
    assert "test" not in content
