"""``wmhseg evaluate``: pairing, grid checks and the per-case / per-scanner tables, on real NIfTI files."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import scipy.ndimage

from wmhseg.cli import main
from wmhseg.metrics import METRIC_NAMES, evaluate_volumes

ROOT = Path(__file__).resolve().parents[1]
PETMR = "Philips_VU .PETMR_01."  # a space and a trailing dot, as in the challenge release


def affine(spacing, flip_x=False):
    a = np.diag([*spacing, 1.0])
    a[:3, 3] = [-50.0, -60.0, -20.0]
    if flip_x:
        a[0, 0] = -a[0, 0]
    return a


def case_arrays(seed: int, shape=(24, 20, 6)):
    rng = np.random.default_rng(seed)
    ref = (scipy.ndimage.uniform_filter(rng.random(shape), 3) > 0.56).astype(np.float32)
    ref[rng.random(shape) < 0.04] = 2
    pred = np.roll(ref == 1, int(rng.integers(1, 3)), axis=int(rng.integers(0, 2))).astype(np.uint8)
    return ref, pred


def save(path: Path, array: np.ndarray, aff: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, aff), str(path))
    return path


def expected_scores(ref_path: Path, pred_path: Path) -> dict:
    ref_img = nib.load(ref_path)
    pred = np.asanyarray(nib.load(pred_path).dataobj)
    return evaluate_volumes(np.asanyarray(ref_img.dataobj), pred, ref_img.affine).metrics()


@pytest.fixture
def challenge(tmp_path):
    """References in the challenge layout and predictions under every supported name."""
    ref_dir, pred_dir = tmp_path / "test", tmp_path / "pred"
    layout = [  # (site path, subject, prediction path relative to pred_dir, spacing, prediction dtype)
        ("Utrecht", "10", "Utrecht/10/result.nii.gz", (0.96, 0.95, 3.0), np.uint8),
        ("Utrecht", "2", "Utrecht/2/result.nii", (0.96, 0.95, 3.0), np.float32),
        ("Utrecht", "0", "0/wmh_mask.nii.gz", (0.96, 0.95, 3.0), np.int16),
        ("Singapore", "50", "50.nii.gz", (1.0, 1.0, 3.0), np.uint8),
        (f"Amsterdam/{PETMR}", "161", f"Amsterdam/{PETMR}/161/result.nii.gz", (0.98, 1.2, 3.0), np.uint8),
    ]
    pairs = {}
    for index, (site, subject, pred_rel, spacing, dtype) in enumerate(layout):
        ref, pred = case_arrays(index)
        if subject == "50":
            pred[:] = 0  # empty prediction: HD95 NaN
        ref_path = save(ref_dir / site / subject / "wmh.nii.gz", ref, affine(spacing))
        pred_path = save(pred_dir / pred_rel, pred.astype(dtype), affine(spacing))
        pairs[(site, subject)] = (ref_path, pred_path)
    (ref_dir / "Utrecht" / "2" / "pre").mkdir()  # other folders are ignored
    return ref_dir, pred_dir, pairs


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_challenge_layout_tables(challenge, tmp_path, capsys):
    ref_dir, pred_dir, pairs = challenge
    out = tmp_path / "report"
    assert main(["evaluate", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    rows = read_csv(out / "per_case.csv")
    assert [(r["scanner"], r["subject"]) for r in rows] == [
        ("Utrecht", "0"), ("Utrecht", "2"), ("Utrecht", "10"), ("Singapore", "50"), (f"Amsterdam/{PETMR}", "161"),
    ]  # fmt: skip
    assert list(rows[0])[:7] == ["subject", "scanner", *METRIC_NAMES]
    expected = {}
    for row in rows:
        ref_path, pred_path = pairs[(row["scanner"], row["subject"])]
        assert Path(row["prediction"]) == pred_path
        expected[(row["scanner"], row["subject"])] = want = expected_scores(ref_path, pred_path)
        for name in METRIC_NAMES:
            got = float(row[name])
            assert (math.isnan(got) and math.isnan(want[name])) or got == pytest.approx(want[name], abs=1e-12), name
    assert math.isnan(float(rows[3]["hd95"])) and rows[3]["avd"] == "100.0"

    table = read_csv(out / "per_scanner.csv")
    assert [(t["scanner"], t["n"]) for t in table] == [
        ("Utrecht", "3"), ("Singapore", "1"), (f"Amsterdam/{PETMR}", "1"), ("Average", "5"),
    ]  # fmt: skip
    utrecht = [v for k, v in expected.items() if k[0] == "Utrecht"]
    for name in METRIC_NAMES:
        assert float(table[0][name]) == pytest.approx(np.mean([u[name] for u in utrecht]), abs=1e-12)
        assert float(table[-1][name]) == pytest.approx(np.nanmean([e[name] for e in expected.values()]), abs=1e-12)
    assert table[-1]["hd95_nan"] == "1" and table[-1]["dsc_nan"] == "0" and table[1]["hd95_nan"] == "1"

    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_cases"] == 5 and summary["nan_counts"]["hd95"] == 1
    assert summary["means"]["f1"] == pytest.approx(float(table[-1]["f1"]))
    assert summary["per_scanner"]["Singapore"]["hd95"] is None
    assert "Average" in printed and PETMR in printed and "HD95 (mm)" in printed
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_default_output_folder_and_one_site(challenge):
    ref_dir, pred_dir, _ = challenge
    assert main(["evaluate", "--pred", str(pred_dir), "--ref", str(ref_dir / "Utrecht"), "--quiet"]) == 0
    rows = read_csv(pred_dir / "evaluation" / "per_case.csv")
    assert [(r["scanner"], r["subject"]) for r in rows] == [("Utrecht", "0"), ("Utrecht", "2"), ("Utrecht", "10")]


def test_grid_mismatch_is_refused(challenge, tmp_path, capsys):
    ref_dir, pred_dir, pairs = challenge
    ref_path, pred_path = pairs[("Utrecht", "10")]
    save(pred_path, np.zeros((24, 20, 5), np.uint8), affine((0.96, 0.95, 3.0)))  # one slice short
    _, other = pairs[("Singapore", "50")]
    save(other, np.zeros((24, 20, 6), np.uint8), affine((1.0, 1.0, 3.0), flip_x=True))  # same shape, flipped x
    out = tmp_path / "report"
    assert main(["evaluate", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    for path in (ref_path, pred_path, pairs[("Singapore", "50")][0], other):
        assert str(path) in err
    assert "(24, 20, 6)" in err and "(24, 20, 5)" in err and "different voxel grids" in err
    assert not out.exists()


def test_header_rounding_is_accepted(challenge, tmp_path):
    ref_dir, pred_dir, pairs = challenge
    ref_path, pred_path = pairs[("Utrecht", "10")]
    shifted = affine((0.96, 0.95, 3.0))
    shifted[:3, 3] += 2e-5  # float32-level differences between writers
    save(pred_path, np.asanyarray(nib.load(pred_path).dataobj), shifted)
    assert main(["evaluate", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(tmp_path / "r")]) == 0


def test_missing_predictions(challenge, tmp_path, capsys):
    ref_dir, pred_dir, pairs = challenge
    pairs[("Singapore", "50")][1].unlink()
    out = tmp_path / "report"
    assert main(["evaluate", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(out)]) == 2
    assert "Singapore/50" in capsys.readouterr().err and not out.exists()
    assert main(["evaluate", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(out), "--allow-missing"]) == 0
    assert len(read_csv(out / "per_case.csv")) == 4


def test_int8_prediction_is_an_error(challenge, tmp_path, capsys):
    ref_dir, pred_dir, pairs = challenge
    _, pred_path = pairs[("Utrecht", "2")]
    save(pred_path, np.asanyarray(nib.load(pred_path).dataobj).astype(np.int8), affine((0.96, 0.95, 3.0)))
    assert main(["evaluate", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "int8" in err and str(pred_path) in err


def test_datalist(tmp_path):
    data, pred_dir = tmp_path / "data", tmp_path / "pred"
    entries, want = [], {}
    for index, (subject, scanner, fold) in enumerate([("s1", "siteA", 0), ("s2", "siteB", 1), ("s3", "siteA", 0)]):
        ref, pred = case_arrays(20 + index)
        label = save(data / "labels" / f"{subject}.nii.gz", ref.astype(np.uint8), affine((1.0, 0.9, 2.5)))
        pred_path = pred_dir / (f"{subject}/wmh_mask.nii.gz" if index != 2 else f"{subject}.nii.gz")
        save(pred_path, pred, affine((1.0, 0.9, 2.5)))
        entries.append({"image": f"images/{subject}.nii.gz", "label": f"labels/{subject}.nii.gz",
                        "subject": subject, "scanner": scanner, "fold": fold})  # fmt: skip
        want[subject] = expected_scores(label, pred_path)
    datalist = data / "datalist.json"
    datalist.write_text(json.dumps({"name": "t", "training": entries}))
    out = tmp_path / "report"
    assert main(["evaluate", "--pred", str(pred_dir), "--ref", str(datalist), "--out", str(out), "--fold", "0"]) == 0
    rows = read_csv(out / "per_case.csv")
    assert [(r["subject"], r["scanner"]) for r in rows] == [("s1", "siteA"), ("s3", "siteA")]
    for row in rows:
        assert float(row["dsc"]) == pytest.approx(want[row["subject"]]["dsc"], abs=1e-12)
        assert float(row["hd95"]) == pytest.approx(want[row["subject"]]["hd95"], abs=1e-12)
    assert main(["evaluate", "--pred", str(pred_dir), "--ref", str(datalist), "--datalist-key", "test"]) == 2


def test_console_command_and_recipe_run_as_subprocesses(challenge, tmp_path):
    ref_dir, pred_dir, _ = challenge
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "sub"
    done = subprocess.run(
        [sys.executable, "-m", "wmhseg.cli", "evaluate", "--pred", str(pred_dir), "--ref", str(ref_dir),
         "--out", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Average" in done.stdout and (out / "per_scanner.csv").is_file()
    helped = subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / "evaluate.py"), "--help"], capture_output=True, text=True, env=env
    )
    assert helped.returncode == 0 and "--pred" in helped.stdout and "wmh_mask.nii.gz" in helped.stdout


def test_files_score_as_the_official_script_reads_them(tmp_path):
    """End to end on oblique, anisotropic files: the command equals the SimpleITK path on sitk-read images."""
    import SimpleITK as sitk
    from scipy.spatial.transform import Rotation

    from wmhseg.metrics.official_sitk import official_scores

    oblique = np.eye(4)
    oblique[:3, :3] = Rotation.from_euler("xyz", [12, -25, 40], degrees=True).as_matrix() * [0.9, 1.15, 3.0]
    oblique[:3, 3] = [10.0, -80.0, 33.0]
    ref_dir, pred_dir = tmp_path / "ref", tmp_path / "pred"
    for index, subject in enumerate(("3", "7")):
        ref, pred = case_arrays(30 + index, shape=(28, 24, 7))
        pred = np.where(pred > 0, np.float32(0.8), np.float32(0.2))  # a float "probability" map
        save(ref_dir / "SiteX" / subject / "wmh.nii.gz", ref, oblique)
        save(pred_dir / "SiteX" / subject / "result.nii.gz", pred, oblique)
    out = tmp_path / "report"
    assert main(["evaluate", "--pred", str(pred_dir), "--ref", str(ref_dir), "--out", str(out), "--quiet"]) == 0
    for row in read_csv(out / "per_case.csv"):
        theirs = official_scores(sitk.ReadImage(row["reference"]), sitk.ReadImage(row["prediction"]))
        for name, value in theirs.items():
            assert float(row[name]) == pytest.approx(value, abs=1e-9), name
        assert 0 < float(row["dsc"]) < 1 and float(row["hd95"]) > 0
