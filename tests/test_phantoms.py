"""Synthetic FLAIR phantoms: determinism, lesion load, label/image alignment, headers, sets and caching."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.data import load_decathlon_datalist

from wmhseg.data.synthetic import PROTOCOLS, Protocol, cached_phantom_set, generate_phantoms, make_phantom
from wmhseg.data.synthetic.acquisition import calibrate_threshold, majority_value, reorient, sample

SMALL = Protocol("small", (64, 64, 16), (3.5, 3.5, 9.0))


def _ras(phantom, array):
    return reorient(array, phantom.affine, "RAS")[0]


def test_same_seed_same_subject_and_orientation_only_reorders() -> None:
    a = make_phantom(7, SMALL, orientation="RAS")
    b = make_phantom(7, SMALL, orientation="LPS")
    assert a.image.dtype == np.float32 and a.label.dtype == np.uint8 and a.image.shape == SMALL.shape
    assert nib.aff2axcodes(a.affine) == ("R", "A", "S") and nib.aff2axcodes(b.affine) == ("L", "P", "S")
    np.testing.assert_array_equal(a.image, _ras(b, b.image))
    np.testing.assert_array_equal(a.label, _ras(b, b.label))
    # the same world point sits at the mirrored voxel: voxel (i, j, k) of RAS is (63-i, 63-j, k) of LPS
    np.testing.assert_allclose(a.affine @ [1, 2, 3, 1], b.affine @ [62, 61, 3, 1], atol=1e-9)
    other = make_phantom(8, SMALL, orientation="RAS")
    assert not np.array_equal(a.image, other.image)


@pytest.mark.parametrize("volume_ml", [0.8, 12.0, 65.0])
def test_requested_lesion_volume_is_met(volume_ml: float) -> None:
    phantom = make_phantom(3, SMALL, lesion_volume_ml=volume_ml, other_pathology=False)
    voxel_ml = np.prod(SMALL.spacing) / 1000
    measured = (phantom.label == 1).sum() * voxel_ml
    assert abs(measured - volume_ml) <= voxel_ml  # one voxel of 0.11 ml at most
    assert phantom.info["lesion_volume_ml"] == pytest.approx(measured)


def test_lesion_volume_drawn_inside_the_requested_range() -> None:
    for seed in range(2):
        phantom = make_phantom(seed, SMALL, lesion_volume_range=(2.0, 6.0), other_pathology=False)
        assert 2.0 - 0.11 <= phantom.info["lesion_volume_ml"] <= 6.0 + 0.11
    assert (make_phantom(1, SMALL, lesion_volume_ml=0.0).label == 1).sum() == 0


def test_labels_are_bright_lesions_inside_the_brain() -> None:
    phantom = make_phantom(11, SMALL, lesion_volume_ml=20.0, other_pathology=True, skull_stripped=True)
    image, label, brain = phantom.image, phantom.label, phantom.brain_mask.astype(bool)
    assert set(np.unique(label)) == {0, 1, 2}
    assert brain[label == 1].all()
    assert (image[~brain] == 0).all()  # skull-stripped: nothing outside the brain mask
    tissue = brain & (label == 0)
    # WMH are the brightest class: well above the median brain intensity
    assert np.median(image[label == 1]) > 1.2 * np.median(image[tissue])
    # moving the label off its place makes it much darker: labels and image are aligned
    shifted = np.roll(label == 1, 6, axis=0)
    assert np.median(image[label == 1]) > np.median(image[shifted & (label != 1)]) * 1.15


def test_partial_volume_rule_and_threshold_calibration() -> None:
    sub = np.array([[0.9, 0.1, 0.8, 0.2], [0.9, 0.8, 0.7, 0.1], [0.2, 0.1, 0.0, 0.3]], dtype=np.float32)
    critical = majority_value(sub.reshape(3, 1, 1, 4))
    # labelled at threshold t exactly when more than half of the 4 sub-samples exceed t
    for t in (0.05, 0.15, 0.5, 0.75):
        expected = ((sub > t).sum(-1) > 2).reshape(3, 1, 1)
        np.testing.assert_array_equal(critical > t, expected)
    t = calibrate_threshold(np.arange(100, dtype=np.float32), 30)
    assert (np.arange(100) > t).sum() == 30
    # sub-positions split a voxel evenly: a ramp along z sampled with slices two source voxels thick
    ramp = np.broadcast_to(np.arange(10, dtype=np.float32), (10, 10, 10)).copy()
    to_source = np.diag([1.0, 1.0, 2.0, 1.0])
    to_source[2, 3] = 2.0  # target slice k is centred on source z = 2k + 2
    values = sample(ramp, to_source, (4, 4, 3), (1, 1, 2))
    np.testing.assert_allclose(values[0, 0], [[1.5, 2.5], [3.5, 4.5], [5.5, 6.5]], atol=1e-5)


def test_scanner_grids() -> None:
    for name, shape, spacing in (
        ("utrecht", (240, 240, 48), (0.96, 0.95, 3.0)),
        ("singapore", (256, 232, 48), (1.0, 1.0, 3.0)),
        ("ge3t", (132, 256, 83), (1.2, 0.98, 3.0)),
        ("iso1mm", None, (1.0, 1.0, 1.0)),
        ("thick6mm", None, (0.5, 0.5, 6.0)),
    ):
        assert PROTOCOLS[name].spacing == spacing
        if shape:
            assert PROTOCOLS[name].shape == shape


def test_generated_set_headers_and_datalist(tmp_path: Path) -> None:
    orientations = ("RAS", "LPS", "LAS")
    path = generate_phantoms(
        tmp_path / "set",
        3,
        seed=5,
        protocols=[SMALL],
        orientations=orientations,
        other_pathology_fraction=0.34,
        skull_stripped_fraction=0.34,
        num_folds=3,
    )
    content = json.loads(path.read_text())
    assert content["num_folds"] == 3 and sorted(e["fold"] for e in content["training"]) == [0, 1, 2]
    assert sum(e["other_volume_ml"] > 0 for e in content["training"]) == 1
    assert sum(e["skull_stripped"] for e in content["training"]) == 1
    entries = load_decathlon_datalist(path, data_list_key="training", base_dir=path.parent)
    for raw, entry in zip(content["training"], entries):
        image, label = nib.load(entry["image"]), nib.load(entry["label"])
        assert image.get_data_dtype() == np.int16 and label.get_data_dtype() == np.uint8
        assert image.shape == label.shape == SMALL.shape
        np.testing.assert_allclose(image.header.get_zooms(), SMALL.spacing, rtol=1e-6)
        assert "".join(nib.aff2axcodes(image.affine)) == raw["orientation"]
        np.testing.assert_array_equal(image.affine, label.affine)
        assert image.header["sform_code"] == 1 and image.header["qform_code"] == 1
        voxel_ml = np.prod(SMALL.spacing) / 1000
        assert (np.asarray(label.dataobj) == 1).sum() * voxel_ml == pytest.approx(raw["lesion_volume_ml"], abs=1e-3)
    assert {e["orientation"] for e in content["training"]} == set(orientations)


def test_cached_set_is_idempotent_and_repairs_itself(tmp_path: Path) -> None:
    config = {"n": 2, "seed": 1, "protocols": [SMALL], "num_folds": 2}
    path = cached_phantom_set(tmp_path / "cache", config)
    first = {p: p.stat().st_mtime_ns for p in path.parent.rglob("*.nii.gz")}
    assert cached_phantom_set(tmp_path / "cache", config) == path
    assert {p: p.stat().st_mtime_ns for p in path.parent.rglob("*.nii.gz")} == first  # nothing rewritten
    victim = next(iter(first))
    reference = nib.load(victim).get_fdata()
    os.remove(victim)
    cached_phantom_set(tmp_path / "cache", config)
    np.testing.assert_array_equal(nib.load(victim).get_fdata(), reference)  # regenerated identically
    assert json.loads(path.read_text())["generator"]["config"]["protocols"][0]["shape"] == list(SMALL.shape)
