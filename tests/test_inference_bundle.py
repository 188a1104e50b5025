"""``bundle/configs/inference.json`` end to end: native-grid outputs, bad inputs, reruns, weights, real data.

Every run here is the real bundle workflow (ConfigWorkflow: initialize, run, finalize) on
NIfTI/ITK files written in tmp_path, with the voxel-wise intensity network of
``infer_support`` so that the expected mask is known.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.image
import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from infer_support import (
    AFFINES,
    BLOB,
    SHAPE,
    TINY_SAUNET,
    affine,
    blob_mask,
    intensity_checkpoint,
    phantom,
    read_csv,
    run_bundle,
    tiny_saunet_checkpoint,
    write_itk,
    write_nifti,
)
from monai.transforms import LoadImage

from wmhseg.inference import CheckpointError
from wmhseg.io import sha256_file

GOOD = {
    **{f"{name}_nii": (name, ".nii.gz") for name in AFFINES},
    **{f"{name}_mha": (name, ".mha") for name in AFFINES},
    "LPS_nrrd": ("LPS", ".nrrd"),
}
EXACT = {"RAS", "LPS", "LAS"}  # grids that need no resampling at 1x1x3 mm: the mask must be the blob exactly

BAD = {
    "unreadable": "cannot be read",
    "flat2d": "is 2D",
    "multi4d": "4D with 3 volumes",
    "nan": "NaN or infinite",
    "constant": "no signal",
    "tiny": "too small for the network",
    "absent": "file not found",
    "mask": "looks like a mask or label map, not a FLAIR: integers with only 2 distinct values (0, 1)",
    "labelmap": "looks like a mask or label map, not a FLAIR: integers with only 3 distinct values (0, 1, 2)",
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """One batch run over every good input kind and every bad-input class."""
    root = tmp_path_factory.mktemp("cohort")
    inputs = root / "inputs"
    inputs.mkdir()
    data = phantom()
    paths = {}
    for subject, (name, suffix) in GOOD.items():
        path = inputs / f"{subject}{suffix}"
        paths[subject] = (
            write_itk(path, data, AFFINES[name]) if suffix != ".nii.gz" else write_nifti(path, data, AFFINES[name])
        )
    # a 4D NIfTI holding one volume, with different sform and qform codes
    paths["single4d"] = write_nifti(
        inputs / "single4d.nii.gz", data[..., None], AFFINES["LAS"], sform_code=2, qform_code=1
    )
    four = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0))[None], isVector=False)  # t, z, y, x
    four.SetSpacing((1.0, 1.0, 3.0, 1.0))  # identity direction: LPS voxel order
    paths["single4d_mha"] = inputs / "single4d_mha.mha"
    sitk.WriteImage(four, str(paths["single4d_mha"]))
    # thick-slice 2D FLAIR (0.5 x 0.5 x 6 mm) and 1 mm isotropic 3D FLAIR, same anatomy in mm
    thick_blob = (slice(16, 28), slice(20, 30), slice(2, 3))
    paths["thick"] = write_nifti(
        inputs / "thick.nii.gz", phantom((80, 72, 5), thick_blob), affine(np.diag([0.5, 0.5, 6.0]), (0, 0, 0))
    )
    iso_blob = (slice(8, 14), slice(10, 15), slice(9, 18))
    paths["iso"] = write_nifti(
        inputs / "iso.nii.gz", phantom((40, 36, 30), iso_blob), affine(np.diag([1.0, 1.0, 1.0]), (0, 0, 0))
    )

    (inputs / "unreadable.nii.gz").write_bytes(b"this is not a NIfTI file")
    write_nifti(inputs / "flat2d.nii.gz", data[:, :, 0], np.eye(4))
    write_nifti(inputs / "multi4d.nii.gz", np.stack([data] * 3, axis=-1), AFFINES["RAS"])
    nan = data.copy()
    nan[3, 3, 3] = np.nan
    write_nifti(inputs / "nan.nii.gz", nan, AFFINES["RAS"])
    write_nifti(inputs / "constant.nii.gz", np.zeros(SHAPE, np.float32), AFFINES["RAS"])
    write_nifti(inputs / "tiny.nii.gz", phantom((12, 12, 3), (slice(2, 4),) * 3), AFFINES["RAS"])
    write_nifti(inputs / "mask.nii.gz", blob_mask(), AFFINES["RAS"])  # the WMH mask given instead of the FLAIR
    write_nifti(inputs / "labelmap.nii.gz", (data > 50).astype(np.int16) + (data > 500), AFFINES["LAS"])

    checkpoint = intensity_checkpoint(root / "model.pt")
    out = root / "out"
    failure = run_bundle(out, [str(inputs), str(inputs / "absent.nii.gz")], checkpoint)
    rows = {row["subject"]: row for row in read_csv(out / "summary.csv")}
    return {"out": out, "paths": paths, "failure": failure, "rows": rows, "inputs": inputs}


def _expected_affine(path: Path) -> np.ndarray:
    """The input's voxel → RAS matrix as an independent reader (MONAI's) reports it."""
    return np.asarray(LoadImage(image_only=True)(str(path)).affine, dtype=np.float64)


@pytest.mark.parametrize("subject", [*GOOD, "single4d", "single4d_mha", "thick", "iso"])
def test_outputs_lie_on_the_input_grid_with_the_input_header(cohort, subject):
    source = cohort["paths"][subject]
    folder = cohort["out"] / subject
    mask_img, prob_img = nib.load(folder / "wmh_mask.nii.gz"), nib.load(folder / "wmh_prob.nii.gz")
    source_shape = tuple(LoadImage(image_only=True)(str(source)).shape[:3])
    for img in (mask_img, prob_img):
        assert img.shape == source_shape
        np.testing.assert_allclose(img.affine, _expected_affine(source), atol=1e-5)
    assert mask_img.get_data_dtype() == np.uint8 and prob_img.get_data_dtype() == np.float32
    if source.name.endswith(".nii.gz"):
        src = nib.load(source).header
        for img in (mask_img, prob_img):
            for field in (
                "sform_code",
                "qform_code",
                "srow_x",
                "srow_y",
                "srow_z",
                "quatern_b",
                "quatern_c",
                "quatern_d",
                "qoffset_x",
                "qoffset_y",
                "qoffset_z",
                "xyzt_units",
            ):
                np.testing.assert_array_equal(img.header[field], src[field], err_msg=field)
            np.testing.assert_array_equal(img.header["pixdim"][1:4], src["pixdim"][1:4])
    else:  # ITK input: NIfTI on the same grid, scanner-coded sform and qform
        assert int(mask_img.header["sform_code"]) == 1 and int(mask_img.header["qform_code"]) == 1
        np.testing.assert_allclose(mask_img.header.get_qform(), mask_img.header.get_sform(), atol=1e-4)


@pytest.mark.parametrize(
    "subject", [s for s, (name, _) in GOOD.items() if name in EXACT] + ["single4d", "single4d_mha"]
)
def test_mask_is_the_bright_blob_in_native_voxel_order(cohort, subject):
    mask = np.asarray(nib.load(cohort["out"] / subject / "wmh_mask.nii.gz").dataobj)
    np.testing.assert_array_equal(mask, blob_mask())


@pytest.mark.parametrize("subject", ["oblique_nii", "oblique_mha", "thick", "iso"])
def test_resampled_inputs_still_find_the_blob(cohort, subject):
    data = np.asarray(nib.load(cohort["paths"][subject]).dataobj) if subject in ("thick", "iso") else phantom()
    truth = data >= 1000
    mask = np.asarray(nib.load(cohort["out"] / subject / "wmh_mask.nii.gz").dataobj) > 0
    dice = 2 * (mask & truth).sum() / (mask.sum() + truth.sum())
    assert dice > 0.7, dice


@pytest.mark.parametrize("subject", [*GOOD, "thick", "iso"])
def test_lesion_table_summary_and_probability_agree_with_the_mask(cohort, subject):
    folder = cohort["out"] / subject
    mask_img = nib.load(folder / "wmh_mask.nii.gz")
    mask = np.asarray(mask_img.dataobj)
    prob = np.asarray(nib.load(folder / "wmh_prob.nii.gz").dataobj)
    assert prob.min() >= 0 and prob.max() <= 1
    np.testing.assert_array_equal(mask, (prob >= 0.5).astype(np.uint8))  # min_lesion_voxels 1: nothing dropped
    voxel_ml = abs(np.linalg.det(mask_img.affine[:3, :3])) / 1000
    lesions = read_csv(folder / "lesions.csv")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["lesion_count"] == len(lesions) >= 1
    assert summary["wmh_voxels"] == int(mask.sum()) == sum(int(r["voxels"]) for r in lesions)
    assert summary["wmh_volume_ml"] == pytest.approx(mask.sum() * voxel_ml, rel=1e-6)
    assert sum(float(r["volume_ml"]) for r in lesions) == pytest.approx(summary["wmh_volume_ml"], abs=1e-5)
    assert summary["input"]["sha256"] == sha256_file(cohort["paths"][subject])
    assert summary["model"]["name"] == "saunet3d" and len(summary["model"]["checkpoint_sha256"]) == 64
    assert summary["threshold"] == 0.5 and summary["elapsed_s"] > 0
    biggest = max(lesions, key=lambda r: int(r["voxels"]))
    centre_vox = np.argwhere(mask > 0).mean(axis=0) if len(lesions) == 1 else None
    if centre_vox is not None:
        world = mask_img.affine[:3, :3] @ centre_vox + mask_img.affine[:3, 3]
        got = [float(biggest[f"centroid_{a}_mm"]) for a in "xyz"]
        np.testing.assert_allclose(got, world, atol=0.01)
    assert 0.5 <= float(biggest["mean_prob"]) <= float(biggest["max_prob"]) <= 1.0
    png = matplotlib.image.imread(folder / "qc.png")
    assert png.ndim == 3 and png.shape[0] > 200 and png.shape[1] > 200


def test_blob_centroid_is_reported_in_scanner_millimetres(cohort):
    lesions = read_csv(cohort["out"] / "LPS_nii" / "lesions.csv")
    centre = np.array([(s.start + s.stop - 1) / 2 for s in BLOB])
    world = AFFINES["LPS"][:3, :3] @ centre + AFFINES["LPS"][:3, 3]
    assert len(lesions) == 1 and int(lesions[0]["voxels"]) == blob_mask().sum()
    np.testing.assert_allclose([float(lesions[0][f"centroid_{a}_mm"]) for a in "xyz"], world, atol=0.01)


@pytest.mark.parametrize("subject, reason", BAD.items())
def test_bad_inputs_fail_with_one_line_naming_file_and_reason(cohort, subject, reason):
    row = cohort["rows"][subject]
    assert row["status"] == "failed"
    assert "\n" not in row["error"] and subject in row["error"] and reason in row["error"], row["error"]
    folder = cohort["out"] / subject
    assert not (folder / "wmh_mask.nii.gz").exists()
    assert json.loads((folder / "summary.json").read_text())["status"] == "failed"
    assert reason in str(cohort["failure"]) and subject in str(cohort["failure"])


def test_good_subjects_run_despite_bad_ones_and_summary_csv_lists_all(cohort):
    rows = cohort["rows"]
    expected_ok = {*GOOD, "single4d", "single4d_mha", "thick", "iso"}
    assert {s for s, r in rows.items() if r["status"] == "ok"} == expected_ok
    assert {s for s, r in rows.items() if r["status"] == "failed"} == set(BAD)
    assert cohort["failure"] is not None and f"{len(BAD)} of {len(rows)} subject(s) failed" in str(cohort["failure"])
    for subject in expected_ok:
        assert float(rows[subject]["wmh_volume_ml"]) > 0 and int(rows[subject]["lesion_count"]) >= 1
    leftovers = [p for p in cohort["out"].rglob("*") if ".partial" in p.name]
    assert leftovers == []


def test_rerun_skips_complete_subjects_redoes_changed_ones_and_is_deterministic(tmp_path):
    inputs = [str(write_nifti(tmp_path / f"s{i}.nii.gz", phantom(seed=i), AFFINES["LAS"])) for i in range(2)]
    ckpt = intensity_checkpoint(tmp_path / "model.pt")
    out = tmp_path / "out"
    assert run_bundle(out, inputs, ckpt) is None
    mask = out / "s0" / "wmh_mask.nii.gz"
    first_bytes, first_mtime = mask.read_bytes(), mask.stat().st_mtime_ns

    assert run_bundle(out, inputs, ckpt) is None
    assert {r["status"] for r in read_csv(out / "summary.csv")} == {"skipped"}
    assert mask.stat().st_mtime_ns == first_mtime

    (out / "s1" / "qc.png").unlink()  # incomplete outputs are redone, complete ones kept
    assert run_bundle(out, inputs, ckpt) is None
    assert {r["subject"]: r["status"] for r in read_csv(out / "summary.csv")} == {"s0": "skipped", "s1": "ok"}
    assert (out / "s1" / "qc.png").is_file()

    assert run_bundle(out, inputs, ckpt, overwrite=True) is None
    assert mask.stat().st_mtime_ns != first_mtime
    assert mask.read_bytes() == first_bytes  # same input, same outputs, byte for byte

    assert run_bundle(out, inputs, ckpt, threshold=0.9) is None  # other settings: not "complete"
    rows = read_csv(out / "summary.csv")
    assert {r["status"] for r in rows} == {"ok"} and {r["threshold"] for r in rows} == {"0.9"}


def test_implausible_inputs_are_segmented_and_flagged_in_summaries_and_log(tmp_path, caplog):
    head_blob = (slice(40, 50), slice(50, 60), slice(10, 14))
    head = affine(np.diag([2.0, 2.0, 4.5]), (-96.0, -112.0, -72.0))  # 192 x 224 x 144 mm: a plausible FLAIR grid
    inputs = {
        "plausible": write_nifti(tmp_path / "plausible.nii.gz", phantom((96, 112, 32), head_blob), head),
        "coarse": write_nifti(
            tmp_path / "coarse.nii.gz",
            phantom((24, 24, 16), (slice(8, 12),) * 3),
            affine(np.diag([10.0, 10.0, 10.0]), (0.0, 0.0, 0.0)),
        ),
        "empty": write_nifti(
            tmp_path / "empty.nii.gz",
            np.pad(phantom((20, 20, 6), (slice(8, 12),) * 2 + (slice(2, 4),)), ((38, 38), (46, 46), (13, 13))),
            head,
        ),
    }
    expected = {"plausible": [], "coarse": ["coarse voxels of 10x10x10 mm"], "empty": ["mostly empty"]}
    with caplog.at_level("INFO", logger="wmhseg.inference"):
        assert (
            run_bundle(
                tmp_path / "out",
                [str(p) for p in inputs.values()],
                intensity_checkpoint(tmp_path / "m.pt"),
                patch_size=[64, 64, 16],
                overlap=0.0,
                save_qc=False,
            )
            is None
        )
    rows = {row["subject"]: row for row in read_csv(tmp_path / "out" / "summary.csv")}
    for subject, texts in expected.items():
        summary = json.loads((tmp_path / "out" / subject / "summary.json").read_text())
        assert summary["status"] == "ok" and rows[subject]["status"] == "ok" and summary["wmh_voxels"] > 0
        assert len(summary["warnings"]) == len(texts) and all(t in w for t, w in zip(texts, summary["warnings"]))
        assert rows[subject]["warnings"] == "; ".join(summary["warnings"])
        for warning in summary["warnings"]:
            assert f"{inputs[subject]}: {warning}" in caplog.text
    assert "3 processed, 0 skipped, 0 failed, 2 with warnings" in caplog.text


def test_failure_while_writing_removes_the_partial_outputs(tmp_path):
    inputs = [str(write_nifti(tmp_path / f"s{i}.nii.gz", phantom(seed=i), AFFINES["RAS"])) for i in range(2)]
    (tmp_path / "out" / "s0" / "qc.png").mkdir(parents=True)  # the QC image cannot be moved into place
    failure = run_bundle(tmp_path / "out", inputs, intensity_checkpoint(tmp_path / "model.pt"))
    assert failure is not None and "s0.nii.gz" in str(failure) and "qc.png" in str(failure)
    s0 = tmp_path / "out" / "s0"
    assert sorted(p.name for p in s0.iterdir()) == ["qc.png", "summary.json"]  # mask, prob, lesions removed
    assert json.loads((s0 / "summary.json").read_text())["status"] == "failed"
    assert (tmp_path / "out" / "s1" / "wmh_mask.nii.gz").is_file()


def test_output_off_the_input_grid_is_refused(tmp_path):
    """Without the inversion the probability map lies on the network grid: the subject must fail, nothing written."""
    src = write_nifti(tmp_path / "lps.nii.gz", phantom(), AFFINES["LPS"])
    no_invert = {"_target_": "Lambdad", "keys": "pred", "func": "$lambda p: p[1:2]"}
    failure = run_bundle(
        tmp_path / "out",
        [str(src)],
        intensity_checkpoint(tmp_path / "model.pt"),
        **{"postprocessing#transforms": [no_invert]},
    )
    assert failure is not None and "not on the input's grid" in str(failure)
    assert not (tmp_path / "out" / "lps" / "wmh_mask.nii.gz").exists()


def test_brain_mask_from_a_datalist_restricts_the_mask(tmp_path):
    data = phantom()
    write_nifti(tmp_path / "a.nii.gz", data, AFFINES["LAS"])
    write_nifti(tmp_path / "b.nii.gz", data, AFFINES["LAS"])
    brain = np.ones(SHAPE, np.uint8)
    brain[:, :, 4:] = 0  # cuts the blob (slices 3-5) to its first slice
    write_nifti(tmp_path / "brain.nii.gz", brain, AFFINES["LAS"])
    write_nifti(tmp_path / "shifted.nii.gz", brain, AFFINES["RAS"])
    datalist = {
        "test": [
            {"image": "a.nii.gz", "subject": "with_mask", "brain_mask": "brain.nii.gz"},
            {"image": "b.nii.gz", "subject": "wrong_mask", "brain_mask": "shifted.nii.gz"},
        ]
    }
    (tmp_path / "datalist.json").write_text(json.dumps(datalist))
    failure = run_bundle(tmp_path / "out", str(tmp_path / "datalist.json"), intensity_checkpoint(tmp_path / "model.pt"))
    expected = blob_mask()
    expected[:, :, 4:] = 0
    mask = np.asarray(nib.load(tmp_path / "out" / "with_mask" / "wmh_mask.nii.gz").dataobj)
    np.testing.assert_array_equal(mask, expected)
    prob = np.asarray(nib.load(tmp_path / "out" / "with_mask" / "wmh_prob.nii.gz").dataobj)
    assert prob[:, :, 4:].max() == 0
    assert failure is not None and re.search(r"shifted\.nii\.gz: brain mask is not on the grid", str(failure))


def test_missing_checkpoint_says_how_to_train_one(tmp_path):
    src = write_nifti(tmp_path / "s.nii.gz", phantom(), AFFINES["RAS"])
    with pytest.raises(Exception) as info:
        run_bundle(tmp_path / "out", [str(src)], tmp_path / "nowhere" / "model.pt")
    cause = info.value
    while cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, CheckpointError)
    assert "no trained weights" in str(cause) and "train.json" in str(cause) and "--ckpt_file" in str(cause)


def test_mismatched_checkpoint_names_the_problem(tmp_path):
    src = write_nifti(tmp_path / "s.nii.gz", phantom(), AFFINES["RAS"])
    ckpt = tiny_saunet_checkpoint(tmp_path / "saunet.pt")
    with pytest.raises(Exception) as info:
        run_bundle(tmp_path / "out", [str(src)], ckpt)  # intensity network vs a SA-UNet state dict
    cause = info.value
    while cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, CheckpointError)
    assert "does not fit the network" in str(cause) and "unexpected" in str(cause) and "network_preset" in str(cause)


def test_tiny_saunet_with_flip_tta_runs_through_the_bundle(tmp_path):
    src = write_itk(tmp_path / "s.mha", phantom(), AFFINES["oblique"])
    ckpt = tiny_saunet_checkpoint(tmp_path / "saunet.pt")
    assert (
        run_bundle(tmp_path / "out", [str(src)], ckpt, network_options=TINY_SAUNET, tta_flips=[[0], [1]], threshold=0.3)
        is None
    )
    summary = json.loads((tmp_path / "out" / "s" / "summary.json").read_text())
    assert summary["config"]["tta_flips"] == [[0], [1]]
    prob = np.asarray(nib.load(tmp_path / "out" / "s" / "wmh_prob.nii.gz").dataobj)
    assert prob.shape == SHAPE and np.ptp(prob) > 0


def test_real_ljubljana_case(tmp_path, ljubljana_dir):
    flair = ljubljana_dir / "patient07" / "FLAIR.nii.gz"
    assert (
        run_bundle(
            tmp_path / "out", [str(flair)], intensity_checkpoint(tmp_path / "model.pt"), patch_size=[128, 128, 32]
        )
        is None
    )
    folder = tmp_path / "out" / "FLAIR"
    src, mask_img = nib.load(flair), nib.load(folder / "wmh_mask.nii.gz")
    assert mask_img.shape == src.shape
    np.testing.assert_array_equal(mask_img.affine, src.affine)
    for field in ("sform_code", "qform_code", "srow_x", "srow_y", "srow_z", "quatern_b", "quatern_c", "quatern_d"):
        np.testing.assert_array_equal(mask_img.header[field], src.header[field])
    mask = np.asarray(mask_img.dataobj)
    lesions = read_csv(folder / "lesions.csv")
    voxel_ml = abs(np.linalg.det(src.affine[:3, :3])) / 1000
    assert mask.sum() > 0
    assert sum(float(r["volume_ml"]) for r in lesions) == pytest.approx(mask.sum() * voxel_ml, abs=1e-4)
