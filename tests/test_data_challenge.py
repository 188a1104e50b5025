"""WMH challenge importer on a fake release tree built here (odd PETMR folder name, broken files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.data import load_decathlon_datalist

from wmhseg.data import import_wmh_challenge
from wmhseg.data.wmh_challenge import find_subjects

ROOT = Path(__file__).resolve().parents[1]
PETMR = "Philips_VU .PETMR_01."
TRAINING = {"Utrecht": [0, 2, 4, 6, 11], "Singapore": [50, 52, 57, 59, 68], "Amsterdam/GE3T": [100, 101, 102, 126, 137]}
TEST = {"Utrecht": [1], "Amsterdam/GE1T5": [150], f"Amsterdam/{PETMR}": [161]}


def _nifti(path: Path, shape=(6, 5, 4), value: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.full(shape, value, dtype=np.float32)
    data[0, 0, 0] = 0
    nib.save(nib.Nifti1Image(data, np.diag([0.96, 0.95, 3.0, 1.0])), path)


def _subject(folder: Path, t1: bool = True) -> None:
    _nifti(folder / "pre" / "FLAIR.nii.gz", value=100.0)
    _nifti(folder / "wmh.nii.gz", value=1.0)
    if t1:
        _nifti(folder / "pre" / "T1.nii.gz", value=50.0)
    _nifti(folder / "orig" / "FLAIR.nii.gz")


@pytest.fixture()
def release(tmp_path: Path) -> Path:
    """A release with training/ and test/, five subjects per training site, and four broken subjects."""
    root = tmp_path / "WMH release"
    for split, sites in (("training", TRAINING), ("test", TEST)):
        for site, ids in sites.items():
            for i in ids:
                _subject(root / split / site / str(i), t1=i != 4)
    (root / "additional_annotations" / "observer_o3" / "training" / "Utrecht" / "0").mkdir(parents=True)
    broken = root / "training" / "Utrecht"
    _subject(broken / "8")
    (broken / "8" / "wmh.nii.gz").unlink()  # missing reference
    _subject(broken / "9")
    noise = np.random.default_rng(0).uniform(0, 100, (40, 40, 12)).astype(np.float32)  # incompressible
    nib.save(nib.Nifti1Image(noise, np.eye(4)), broken / "9" / "pre" / "FLAIR.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((40, 40, 12), np.float32), np.eye(4)), broken / "9" / "wmh.nii.gz")
    raw = (broken / "9" / "pre" / "FLAIR.nii.gz").read_bytes()
    (broken / "9" / "pre" / "FLAIR.nii.gz").write_bytes(raw[: len(raw) * 2 // 3])  # truncated archive
    _subject(broken / "10")
    _nifti(broken / "10" / "wmh.nii.gz", shape=(6, 5, 3))  # reference on another grid
    _subject(root / "training" / "Amsterdam" / "GE3T" / "144")
    flipped = nib.load(root / "training" / "Amsterdam" / "GE3T" / "144" / "wmh.nii.gz")
    nib.save(
        nib.Nifti1Image(np.asarray(flipped.dataobj), np.diag([-0.96, 0.95, 3.0, 1.0])),
        root / "training" / "Amsterdam" / "GE3T" / "144" / "wmh.nii.gz",
    )  # same shape, mirrored header
    _subject(root / "training" / "Singapore" / "53")
    (root / "training" / "Singapore" / "53" / "pre" / "T1.nii.gz").write_bytes(b"not a nifti")  # broken T1 only
    return root


def test_discovers_sites_by_listing_including_the_petmr_folder(release: Path) -> None:
    subjects = find_subjects(release)
    scanners = Counter((s.split, s.scanner) for s in subjects)
    assert scanners[("test", "PETMR")] == 1 and scanners[("test", "GE1T5")] == 1
    assert scanners[("training", "GE3T")] == 6 and scanners[("training", "Singapore")] == 6
    petmr = next(s for s in subjects if s.scanner == "PETMR")
    assert petmr.folder.parent.name == PETMR and petmr.subject == "161"
    utrecht = [s.subject for s in subjects if s.split == "training" and s.scanner == "Utrecht"]
    assert utrecht == ["0", "2", "4", "6", "8", "9", "10", "11"]  # numeric, not lexical, order


def test_datalist_entries_paths_and_skips(release: Path, tmp_path: Path) -> None:
    output = tmp_path / "lists" / "wmh.json"
    with pytest.warns(UserWarning) as caught:
        path = import_wmh_challenge(release, output, num_folds=5, seed=3)
    messages = "\n".join(str(w.message) for w in caught)
    for broken, reason in (
        ("Utrecht/8/wmh.nii.gz", "missing"),
        ("Utrecht/9/pre/FLAIR.nii.gz", "unreadable"),
        ("Utrecht/10/wmh.nii.gz", "shape (6, 5, 3) differs"),
        ("GE3T/144/wmh.nii.gz", "voxel grid differs"),
        ("Singapore/53/pre/T1.nii.gz", "T1 left out"),
    ):
        line = next(m for m in messages.splitlines() if broken in m)
        assert reason in line
    content = json.loads(path.read_text())
    assert {s["subject"] for s in content["skipped"]} == {"8", "9", "10", "144"}
    training = content["training"]
    assert len(training) == 16 and len(content["test"]) == 3
    assert all(not Path(e["image"]).is_absolute() for e in training)
    by_id = {e["subject"]: e for e in training}
    assert "t1" not in by_id["4"] and "t1" not in by_id["53"] and by_id["0"]["t1"].endswith("0/pre/T1.nii.gz")
    assert "fold" not in content["test"][0]
    resolved = load_decathlon_datalist(path, data_list_key="training", base_dir=path.parent)
    for entry in resolved:
        assert Path(entry["image"]).is_file() and Path(entry["label"]).is_file()
        assert entry["image"].endswith(os.path.join("pre", "FLAIR.nii.gz"))
    petmr = next(
        e for e in load_decathlon_datalist(path, data_list_key="test", base_dir=path.parent) if e["scanner"] == "PETMR"
    )
    assert Path(petmr["image"]).is_file() and PETMR in petmr["image"]


def test_kfold_is_balanced_across_scanners(release: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        content = json.loads(import_wmh_challenge(release, tmp_path / "k.json", num_folds=5).read_text())
    training = content["training"]
    sizes = Counter(e["fold"] for e in training)
    assert sorted(sizes) == [0, 1, 2, 3, 4] and max(sizes.values()) - min(sizes.values()) <= 1
    for scanner in {e["scanner"] for e in training}:
        per_fold = Counter(e["fold"] for e in training if e["scanner"] == scanner)
        n = sum(per_fold.values())
        assert all(per_fold[f] in (n // 5, -(-n // 5)) for f in range(5)), (scanner, per_fold)
    with pytest.warns(UserWarning):
        again = json.loads(import_wmh_challenge(release, tmp_path / "k2.json", num_folds=5).read_text())
    assert [e["fold"] for e in again["training"]] == [e["fold"] for e in training]  # deterministic for the seed


def test_leave_one_scanner_out(release: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        content = json.loads(
            import_wmh_challenge(release, tmp_path / "loso.json", scheme="leave-one-scanner-out").read_text()
        )
    folds = {e["scanner"]: set() for e in content["training"]}
    for e in content["training"]:
        folds[e["scanner"]].add(e["fold"])
    assert folds == {"GE3T": {0}, "Singapore": {1}, "Utrecht": {2}}
    assert content["num_folds"] == 3 and content["fold_scheme"] == "leave-one-scanner-out"


def test_single_site_folder_and_empty_folder(release: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="GE3T/144/wmh.nii.gz"):
        path = import_wmh_challenge(release / "training" / "Amsterdam" / "GE3T", tmp_path / "ge3t.json", num_folds=2)
    entries = json.loads(path.read_text())["training"]
    assert {e["scanner"] for e in entries} == {"GE3T"} and len(entries) == 5
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no usable WMH challenge subject"):
        import_wmh_challenge(tmp_path / "empty", tmp_path / "none.json")
    assert not (tmp_path / "none.json").exists()


def test_command_line(release: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    help_run = subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / "prepare.py"), "challenge", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert help_run.returncode == 0 and "--leave-one-scanner-out" in help_run.stdout
    output = tmp_path / "cli.json"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "pipelines" / "prepare.py"),
            "challenge",
            str(release),
            "-o",
            str(output),
            "--folds",
            "4",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "16 training, 3 test; 4 subject(s) skipped" in run.stdout
    assert "Utrecht/9/pre/FLAIR.nii.gz" in run.stderr
    assert json.loads(output.read_text())["num_folds"] == 4
    missing = subprocess.run(
        [
            sys.executable,
            str(ROOT / "pipelines" / "prepare.py"),
            "challenge",
            str(tmp_path / "nope"),
            "-o",
            str(tmp_path / "x.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_wmhseg_console_command_dispatches_prepare(release: Path, tmp_path: Path, capsys) -> None:
    from wmhseg.cli import main

    with pytest.warns(UserWarning):
        assert (
            main(
                [
                    "prepare",
                    "challenge",
                    str(release),
                    "-o",
                    str(tmp_path / "c.json"),
                    "--leave-one-scanner-out",
                    "--no-t1",
                ]
            )
            == 0
        )
    content = json.loads((tmp_path / "c.json").read_text())
    assert content["num_folds"] == 3 and all("t1" not in e for e in content["training"])


def test_quick_mode_misses_truncation_but_full_read_catches_it(release: Path, tmp_path: Path) -> None:
    flair = release / "training" / "Utrecht" / "9" / "pre" / "FLAIR.nii.gz"
    assert nib.load(flair).shape == (40, 40, 12)  # the header still parses
    with pytest.raises((EOFError, OSError)):  # gzip: the stream ends early
        np.asarray(nib.load(flair).dataobj)
    with pytest.warns(UserWarning):
        quick = json.loads(import_wmh_challenge(release, tmp_path / "q.json", full_read=False).read_text())
    assert "9" in {e["subject"] for e in quick["training"]}
