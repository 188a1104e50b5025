"""wmhseg.inference.inputs: finding the images to segment and refusing the ones that cannot be."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infer_support import AFFINES, affine, phantom, write_itk, write_nifti
from wmhseg.inference import check_brain_mask, check_image, discover_inputs, network_grid_shape
from wmhseg.io import ImageFileError, NativeImage


def test_files_folders_globs_and_name_collisions(tmp_path):
    for sub in ("patient07", "patient19"):
        (tmp_path / sub).mkdir()
        write_nifti(tmp_path / sub / "FLAIR.nii.gz", phantom(), np.eye(4))
        (tmp_path / sub / "notes.txt").write_text("not an image")
    write_itk(tmp_path / "patient07" / "other.mha", phantom(), np.eye(4))

    entries = discover_inputs(str(tmp_path / "*" / "FLAIR.nii.gz"))
    assert [e["subject"] for e in entries] == ["patient07_FLAIR", "patient19_FLAIR"]
    entries = discover_inputs(tmp_path / "patient07")
    assert [e["subject"] for e in entries] == ["FLAIR", "other"]
    assert all(e["image"].startswith(str(tmp_path)) for e in entries)
    # the same file twice is one subject; a missing file is kept so that the run reports it
    entries = discover_inputs([tmp_path / "patient07" / "FLAIR.nii.gz", str(tmp_path / "patient07" / "FLAIR.nii.gz"),
                               tmp_path / "absent.nii.gz"])
    assert [e["subject"] for e in entries] == ["FLAIR", "absent"]
    with pytest.raises(ValueError, match="holds no image files"):
        discover_inputs(tmp_path)
    with pytest.raises(ValueError, match="matches no image files"):
        discover_inputs(str(tmp_path / "*" / "T2.nii.gz"))


def test_datalist_entries_and_brain_masks(tmp_path):
    write_nifti(tmp_path / "a.nii.gz", phantom(), np.eye(4))
    write_nifti(tmp_path / "a_brain.nii.gz", np.ones((40, 36, 10), np.uint8), np.eye(4))
    datalist = {"training": [{"image": "a.nii.gz", "label": "a_label.nii.gz", "subject": "sub/01", "fold": 0}],
                "test": [{"image": "a.nii.gz", "subject": "t1", "brain_mask": "a_brain.nii.gz"},
                         {"image": "a.nii.gz", "subject": "t1"}]}
    (tmp_path / "list.json").write_text(json.dumps(datalist))
    assert discover_inputs(tmp_path / "list.json", datalist_key="training") == [
        {"image": str(tmp_path / "a.nii.gz"), "subject": "sub_01"}]
    with pytest.raises(ValueError, match="not unique"):  # "test" is the default list; its ids collide here
        discover_inputs(tmp_path / "list.json")
    with pytest.raises(ValueError, match="has no 'validation' list"):
        discover_inputs(tmp_path / "list.json", datalist_key="validation")

    entries = discover_inputs([tmp_path / "a.nii.gz"], brain_mask=[tmp_path / "a_brain.nii.gz"])
    assert entries[0]["brain_mask"] == str(tmp_path / "a_brain.nii.gz")
    with pytest.raises(ValueError, match="one mask per input image"):
        discover_inputs([tmp_path / "a.nii.gz"], brain_mask=[tmp_path / "x.nii.gz", tmp_path / "y.nii.gz"])


@pytest.mark.parametrize(
    "name, data, aff, reason",
    [
        ("nan", np.where(phantom() > 500, np.inf, phantom()), np.eye(4), "holds 90 NaN or infinite voxel values"),
        ("flat", np.full((40, 36, 10), 7.0, np.float32), np.eye(4), "holds no signal (every voxel is 7)"),
        ("tiny", phantom((40, 36, 2)), np.eye(4), "too small for the network: 40x36x1 voxels at 1x1x3 mm"),
        ("singular", phantom(), np.diag([1.0, 1.0, 0.0, 1.0]), "invalid (singular or non-finite)"),
    ],
)
def test_check_image_refuses_with_one_line(tmp_path, name, data, aff, reason):
    path = write_nifti(tmp_path / f"{name}.nii.gz", data.astype(np.float32), aff, qform_code=0 if name == "singular" else 1)
    with pytest.raises(ImageFileError) as info:
        check_image(path, target_spacing=(1.0, 1.0, 3.0))
    message = str(info.value)
    assert message.startswith(str(path)) and reason in message and "\n" not in message


def test_size_check_uses_the_ras_network_grid():
    # a sagittal thick-slice acquisition stored slice-last: voxel axes (A, S, R), the 6 mm axis becomes R-L
    sagittal = affine(np.array([[0.0, 0.0, 6.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (0, 0, 0))
    geometry = NativeImage(path=None, shape=(200, 180, 24), affine=sagittal, header=None)
    shape, spacing = network_grid_shape(geometry, (1.0, 1.0, 3.0))
    assert shape == (144, 200, 60) and spacing == (1.0, 1.0, 3.0)
    shape, spacing = network_grid_shape(geometry, None)
    assert shape == (24, 200, 180) and spacing == (6.0, 1.0, 1.0)


def test_brain_mask_must_share_the_grid_and_hold_brain(tmp_path):
    image, _ = check_image(write_nifti(tmp_path / "a.nii.gz", phantom(), AFFINES["LAS"]))
    good = write_nifti(tmp_path / "good.nii.gz", np.ones((40, 36, 10), np.uint8), AFFINES["LAS"])
    assert check_brain_mask(good, image).shape == image.shape
    moved = write_nifti(tmp_path / "moved.nii.gz", np.ones((40, 36, 10), np.uint8), AFFINES["RAS"])
    with pytest.raises(ImageFileError, match="not on the grid"):
        check_brain_mask(moved, image)
    empty = write_nifti(tmp_path / "empty.nii.gz", np.zeros((40, 36, 10), np.uint8), AFFINES["LAS"])
    with pytest.raises(ImageFileError, match="brain mask is empty"):
        check_brain_mask(empty, image)
