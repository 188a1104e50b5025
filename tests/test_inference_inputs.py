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
    entries = discover_inputs(
        [
            tmp_path / "patient07" / "FLAIR.nii.gz",
            str(tmp_path / "patient07" / "FLAIR.nii.gz"),
            tmp_path / "absent.nii.gz",
        ]
    )
    assert [e["subject"] for e in entries] == ["FLAIR", "absent"]
    with pytest.raises(ValueError, match="holds no image files"):
        discover_inputs(tmp_path)
    with pytest.raises(ValueError, match="matches no image files"):
        discover_inputs(str(tmp_path / "*" / "T2.nii.gz"))


def test_datalist_entries_and_brain_masks(tmp_path):
    write_nifti(tmp_path / "a.nii.gz", phantom(), np.eye(4))
    write_nifti(tmp_path / "a_brain.nii.gz", np.ones((40, 36, 10), np.uint8), np.eye(4))
    datalist = {
        "training": [{"image": "a.nii.gz", "label": "a_label.nii.gz", "subject": "sub/01", "fold": 0}],
        "test": [
            {"image": "a.nii.gz", "subject": "t1", "brain_mask": "a_brain.nii.gz"},
            {"image": "a.nii.gz", "subject": "t1"},
        ],
    }
    (tmp_path / "list.json").write_text(json.dumps(datalist))
    assert discover_inputs(tmp_path / "list.json", datalist_key="training") == [
        {"image": str(tmp_path / "a.nii.gz"), "subject": "sub_01"}
    ]
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
    path = write_nifti(
        tmp_path / f"{name}.nii.gz", data.astype(np.float32), aff, qform_code=0 if name == "singular" else 1
    )
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


HEAD_SHAPE = (96, 112, 32)
HEAD_AFFINE = affine(np.diag([2.0, 2.0, 4.5]), (-96.0, -112.0, -72.0))
"""A plausible head FLAIR grid: 2 x 2 x 4.5 mm voxels, a 192 x 224 x 144 mm field of view."""


@pytest.mark.parametrize(
    "name, data, values",
    [
        ("binary_uint8", (phantom() > 500).astype(np.uint8), "2 distinct values (0, 1)"),
        ("wmh_labels_float", (phantom() > 50).astype(np.float32) + (phantom() > 500), "3 distinct values (0, 1, 2)"),
        (
            "six_classes",
            (np.indices(phantom().shape).sum(0) // 7 % 6).astype(np.int16),
            "6 distinct values (0, 1, 2, 3, 4, 5)",
        ),
    ],
)
def test_masks_and_label_maps_are_refused(tmp_path, name, data, values):
    path = write_nifti(tmp_path / f"{name}.nii.gz", data, AFFINES["LAS"])
    with pytest.raises(ImageFileError) as info:
        check_image(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "looks like a mask or label map, not a FLAIR" in message
    assert values in message and "\n" not in message


def test_integer_flair_with_many_values_is_accepted(tmp_path):
    path = write_nifti(
        tmp_path / "int16.nii.gz",
        np.round(phantom(HEAD_SHAPE, (slice(40, 50),) * 2 + (slice(10, 14),))).astype(np.int16),
        HEAD_AFFINE,
    )
    image, warnings = check_image(path)
    assert image.shape == HEAD_SHAPE and warnings == []


def _head(blob: bool = True) -> np.ndarray:
    return phantom(HEAD_SHAPE, (slice(40, 50), slice(50, 60), slice(10, 14)) if blob else (slice(0, 0),) * 3)


@pytest.mark.parametrize(
    "name, data, aff, expected",
    [
        (
            "coarse_10mm",
            phantom((24, 24, 16)),
            affine(np.diag([10.0, 10.0, 10.0]), (0, 0, 0)),
            ["coarse voxels of 10x10x10 mm"],
        ),
        (
            "thick_9mm",
            phantom((192, 224, 16)),
            affine(np.diag([1.0, 1.0, 9.0]), (0, 0, 0)),
            ["coarse voxels of 1x1x9 mm"],
        ),
        ("few_cm", phantom(), AFFINES["RAS"], ["field of view of 40x36x30 mm is smaller than a head"]),
        (
            "micrometres",
            _head(),
            affine(np.diag([0.002, 0.002, 0.0045]), (0, 0, 0)),
            ["implausibly small for a head MRI", "field of view of 0.2x0.2x0.1 mm is smaller than a head"],
        ),
        (
            "metres_as_mm",
            _head(),
            affine(np.diag([20.0, 20.0, 45.0]), (0, 0, 0)),
            ["coarse voxels", "larger than a head"],
        ),
        (
            "mostly_empty",
            np.pad(phantom((20, 20, 6)), ((38, 38), (46, 46), (13, 13))),
            HEAD_AFFINE,
            ["mostly empty: only 0.2 % of the voxels hold signal"],
        ),
        ("plausible", _head(), HEAD_AFFINE, []),
    ],
)
def test_implausible_geometry_is_accepted_with_warnings(tmp_path, name, data, aff, expected):
    # on the default 1x1x3 mm network grid micrometre voxels are too small for the network; on the native grid they pass
    target = None if name == "micrometres" else (1.0, 1.0, 3.0)
    image, warnings = check_image(write_nifti(tmp_path / f"{name}.nii.gz", data.astype(np.float32), aff), target)
    assert image.data is None and len(warnings) == len(expected), warnings
    for warning, text in zip(warnings, expected):
        assert text in warning and "\n" not in warning, warnings
