"""Brain mask, ventricles and periventricular/deep WMH from a network with the six anatomy classes.

A voxel-wise network (``infer_support.anatomy_checkpoint``) labels a phantom whose answer is
known: a tissue ellipsoid (the brain), a dark box (the lateral ventricles), one bright box 2 mm
from the ventricles (periventricular) and one about 25 mm away (deep).  The runs are the real
bundle workflow and the real ``wmhseg predict`` command on NIfTI files.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.colors
import matplotlib.image
import nibabel as nib
import numpy as np
import pytest
from infer_support import (
    AFFINES,
    ANATOMY_LEVELS,
    ANATOMY_NET,
    anatomy_checkpoint,
    intensity_checkpoint,
    phantom,
    read_csv,
    run_bundle,
    write_nifti,
)
from scipy import ndimage

from wmhseg.cli import main
from wmhseg.inference import anatomy_masks
from wmhseg.reporting.qc import BRAIN_COLOUR, DEEP_COLOUR, PERIVENTRICULAR_COLOUR

SHAPE = (64, 60, 12)
VOXEL_ML = 3.0 / 1000  # 1 x 1 x 3 mm
VENTRICLES = (slice(20, 28), slice(24, 36), slice(4, 9))
NEAR = (slice(30, 33), slice(26, 30), slice(5, 8))  # 2 mm beside the ventricles in x
FAR = (slice(50, 54), slice(26, 30), slice(5, 8))  # 22 mm from them in x


def _head() -> tuple[np.ndarray, np.ndarray]:
    x, y, z = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    c = [(s - 1) / 2 for s in SHAPE]
    brain = ((x - c[0]) / 31) ** 2 + ((y - c[1]) / 29) ** 2 + ((z - c[2]) / 6.5) ** 2 < 1
    data = np.where(brain, ANATOMY_LEVELS["brain"], ANATOMY_LEVELS["air"]).astype(np.float32)
    data[VENTRICLES] = ANATOMY_LEVELS["ventricles"]
    data[NEAR] = data[FAR] = ANATOMY_LEVELS["wmh"]
    # a FLAIR, not a label map
    data[brain] += np.random.default_rng(0).uniform(-2, 2, int(brain.sum())).astype(np.float32)
    return data, brain


def _box_ml(box: tuple[slice, ...]) -> float:
    return float(np.prod([s.stop - s.start for s in box])) * VOXEL_ML


def _run(folder: Path, **overrides):
    data, _ = _head()
    src = write_nifti(folder / "head.nii.gz", data, AFFINES["LAS"])
    checkpoint = anatomy_checkpoint(folder / "model.pt")
    settings = {"network_def": ANATOMY_NET, "normalisation": "global", **overrides}
    failure = run_bundle(folder / "out", [str(src)], checkpoint, **settings)
    return failure, folder / "out" / "head"


@pytest.fixture(scope="module")
def anatomy_run(tmp_path_factory):
    failure, out = _run(tmp_path_factory.mktemp("anatomy"))
    assert failure is None
    return out


def test_brain_and_ventricle_masks_lie_on_the_input_grid_with_its_header(anatomy_run):
    _, brain = _head()
    expected_ventricles = np.zeros(SHAPE, bool)
    expected_ventricles[VENTRICLES] = True
    for name, expected in (("brain_mask.nii.gz", brain), ("ventricles.nii.gz", expected_ventricles)):
        image = nib.load(anatomy_run / name)
        np.testing.assert_allclose(image.affine, AFFINES["LAS"], atol=1e-5)
        assert image.get_data_dtype() == np.uint8
        np.testing.assert_array_equal(np.asarray(image.dataobj) > 0, expected)


def test_lesions_get_their_region_and_regional_volumes_add_up(anatomy_run):
    rows = read_csv(anatomy_run / "lesions.csv")
    regions = {round(float(r["centroid_x_mm"])): r["region"] for r in rows}
    assert sorted(regions.values()) == ["deep", "periventricular"]
    # LAS: world x = -voxel x + 20 (origin 20 mm), so the far box has the smaller world x
    assert regions[min(regions)] == "deep" and regions[max(regions)] == "periventricular"
    summary = json.loads((anatomy_run / "summary.json").read_text())
    assert summary["periventricular_volume_ml"] == pytest.approx(_box_ml(NEAR))
    assert summary["deep_volume_ml"] == pytest.approx(_box_ml(FAR))
    assert summary["periventricular_volume_ml"] + summary["deep_volume_ml"] == pytest.approx(summary["wmh_volume_ml"])
    _, brain = _head()
    assert summary["intracranial_volume_ml"] == pytest.approx(brain.sum() * VOXEL_ML)
    assert summary["wmh_percent_icv"] == pytest.approx(
        100 * summary["wmh_volume_ml"] / summary["intracranial_volume_ml"]
    )
    cohort = read_csv(anatomy_run.parent / "summary.csv")[0]
    assert float(cohort["periventricular_volume_ml"]) == pytest.approx(_box_ml(NEAR), abs=1e-6)
    assert float(cohort["deep_volume_ml"]) == pytest.approx(_box_ml(FAR), abs=1e-6)
    assert float(cohort["intracranial_volume_ml"]) == pytest.approx(brain.sum() * VOXEL_ML, abs=1e-4)
    assert (
        summary["outputs"]["brain"] == "brain_mask.nii.gz" and summary["outputs"]["ventricles"] == "ventricles.nii.gz"
    )


def test_qc_colours_periventricular_and_deep_lesions_and_outlines_the_brain(anatomy_run):
    pixels = matplotlib.image.imread(anatomy_run / "qc.png")[..., :3]
    for colour in (PERIVENTRICULAR_COLOUR, DEEP_COLOUR, BRAIN_COLOUR):
        rgb = np.asarray(matplotlib.colors.to_rgb(colour))
        assert (np.abs(pixels - rgb).max(axis=-1) < 0.08).sum() > 10, colour


def test_periventricular_distance_is_settable(tmp_path):
    failure, out = _run(tmp_path, periventricular_mm=30.0)
    assert failure is None
    assert {r["region"] for r in read_csv(out / "lesions.csv")} == {"periventricular"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["deep_volume_ml"] == 0.0 and summary["periventricular_mm"] == 30.0


def test_three_class_networks_give_no_anatomy_and_undetermined_regions(tmp_path):
    src = write_nifti(tmp_path / "s.nii.gz", phantom(), AFFINES["RAS"])
    assert run_bundle(tmp_path / "out", [str(src)], intensity_checkpoint(tmp_path / "model.pt")) is None
    out = tmp_path / "out" / "s"
    assert not (out / "brain_mask.nii.gz").exists() and not (out / "ventricles.nii.gz").exists()
    assert {r["region"] for r in read_csv(out / "lesions.csv")} == {"undetermined"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["periventricular_volume_ml"] is None and summary["intracranial_volume_ml"] is None
    assert summary["undetermined_volume_ml"] == pytest.approx(summary["wmh_volume_ml"])
    assert read_csv(tmp_path / "out" / "summary.csv")[0]["intracranial_volume_ml"] == ""


def _predict(folder: Path, out: Path) -> int:
    return main(
        [
            "predict",
            str(folder / "head.nii.gz"),
            "-o",
            str(out),
            "--ckpt",
            str(folder / "model.pt"),
            "--device",
            "cpu",
            "--no-progress",
            "--set",
            f"network_def={json.dumps(ANATOMY_NET)}",
            "--set",
            "normalisation=global",
            "--set",
            "patch_size=[32,32,8]",
        ]
    )


def test_a_failed_brain_mask_write_fails_the_subject_without_partial_outputs_and_a_rerun_completes(tmp_path):
    data, brain = _head()
    write_nifti(tmp_path / "head.nii.gz", data, AFFINES["RAS"])
    anatomy_checkpoint(tmp_path / "model.pt")
    out = tmp_path / "out"
    (out / "head" / "brain_mask.nii.gz").mkdir(parents=True)  # the brain mask cannot be moved into place
    assert _predict(tmp_path, out) == 1
    left = sorted(p.name for p in (out / "head").iterdir())
    assert left == ["brain_mask.nii.gz", "summary.json"]  # every other output removed, no temporary file
    assert json.loads((out / "head" / "summary.json").read_text())["status"] == "failed"
    assert read_csv(out / "summary.csv")[0]["status"] == "failed"
    (out / "head" / "brain_mask.nii.gz").rmdir()
    assert _predict(tmp_path, out) == 0
    np.testing.assert_array_equal(np.asarray(nib.load(out / "head" / "brain_mask.nii.gz").dataobj) > 0, brain)
    assert not [p for p in (out / "head").iterdir() if ".partial" in p.name]
    assert _predict(tmp_path, out) == 0  # complete: skipped, the anatomy outputs count as written
    assert read_csv(out / "summary.csv")[0]["status"] == "skipped"


def test_a_missing_anatomy_output_makes_the_rerun_process_the_subject_again(tmp_path):
    data, _ = _head()
    write_nifti(tmp_path / "head.nii.gz", data, AFFINES["RAS"])
    anatomy_checkpoint(tmp_path / "model.pt")
    out = tmp_path / "out"
    assert _predict(tmp_path, out) == 0
    (out / "head" / "ventricles.nii.gz").unlink()
    assert _predict(tmp_path, out) == 0
    assert read_csv(out / "summary.csv")[0]["status"] == "ok" and (out / "head" / "ventricles.nii.gz").is_file()


def test_small_ventricle_islands_are_dropped_and_the_brain_mask_is_one_filled_component():
    brain_prob = np.zeros((30, 30, 30), np.float32)
    brain_prob[5:25, 5:25, 5:25] = 1.0
    brain_prob[12:14, 12:14, 12:14] = 0.0  # a hole
    brain_prob[0:2, 0:2, 0:2] = 1.0  # an island outside the head
    ventricles = np.zeros_like(brain_prob)
    ventricles[8:14, 8:20, 8:14] = 1.0  # 432 voxels
    ventricles[20:23, 20:23, 20:23] = 1.0  # 27 voxels: under 10 % of the largest
    ventricles[8:13, 22:24, 15:20] = 1.0  # 50 voxels: kept
    brain, kept = anatomy_masks(brain_prob, ventricles)
    expected_brain = np.zeros(brain_prob.shape, bool)
    expected_brain[5:25, 5:25, 5:25] = True
    np.testing.assert_array_equal(brain, expected_brain)
    expected = np.zeros(brain_prob.shape, bool)
    expected[8:14, 8:20, 8:14] = expected[8:13, 22:24, 15:20] = True
    np.testing.assert_array_equal(kept, expected)


def test_the_brain_mask_fills_what_scipy_fills_on_the_whole_grid():
    """Holes are filled on the brain's bounding box only: cavities open to its faces must stay open."""
    rng = np.random.default_rng(0)
    brain_prob = np.zeros((40, 36, 30), np.float32)
    brain_prob[8:30, 6:28, 4:26] = 1.0
    for x, y, z in zip(rng.integers(7, 28, 40), rng.integers(5, 26, 40), rng.integers(3, 24, 40)):
        brain_prob[x : x + 3, y : y + 3, z : z + 3] = 0.0  # some inside (holes), some through a face (open)
    assert ndimage.label(brain_prob >= 0.5)[1] == 1
    expected = ndimage.binary_fill_holes(brain_prob >= 0.5)
    assert 0 < int(expected.sum() - (brain_prob >= 0.5).sum()) and not expected.all()
    brain, _ = anatomy_masks(brain_prob, np.zeros_like(brain_prob))
    np.testing.assert_array_equal(brain, expected)
