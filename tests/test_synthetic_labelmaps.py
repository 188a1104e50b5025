"""Synthetic FLAIR from label maps: anatomy reading, lesion placement and load, slice thickness, determinism,
the training stream and the cached validation set, on toy label maps the tests write (no ../shared needed)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import write_toy_label_map

from wmhseg.data.synthetic.labelmaps import (
    CLASSES,
    FLAIRSynthesizer,
    SyntheticFLAIRStream,
    load_label_map,
    load_label_maps,
    split_label_maps,
    synthetic_set,
)
from wmhseg.data.synthetic.labelmaps.anatomy import CEREBRAL_WM, class_of_labels
from wmhseg.data.synthetic.labelmaps.lesions import lesion_from_score, wmh_score

FAST = {"max_work_shape": (112, 136, 96)}


@pytest.fixture(scope="module")
def maps(toy_label_maps):
    return load_label_maps(toy_label_maps)


@pytest.fixture(scope="module")
def synthesizer(maps):
    return FLAIRSynthesizer(maps, FAST)


def test_label_map_fields(maps):
    label_map = maps[0]
    values = label_map.values[label_map.labels]
    assert set(np.unique(values)) == {0, 2, 3, 4, 10, 16, 24, 41, 42, 43, 49, 507, 515}
    # field grid is 2 mm on a 2 mm map: same grid; ventricle distance is 0 in the ventricles and grows outwards
    vent = np.isin(values, (4, 43))
    assert np.all(label_map.fields[0][vent] == 0)
    assert label_map.fields[0][np.isin(values, CEREBRAL_WM)].max() > 20
    assert np.all(label_map.fields[1][~np.isin(values, CEREBRAL_WM)] == 0)  # white-matter depth
    assert np.all(label_map.fields[2][np.isin(class_of_labels(values), (3, 4))] == 0)  # inside the brain


def test_not_a_label_map_is_refused(tmp_path):
    path = tmp_path / "flair_like.nii.gz"
    nib.save(
        nib.Nifti1Image(np.random.default_rng(0).uniform(0, 100, (20, 20, 20)).astype(np.float32), np.eye(4)), str(path)
    )
    with pytest.raises(ValueError, match="flair_like.nii.gz: is not a label map"):
        load_label_map(path)
    no_wm = tmp_path / "no_wm.nii.gz"
    nib.save(nib.Nifti1Image(np.full((10, 10, 10), 3, np.int16), np.eye(4)), str(no_wm))
    with pytest.raises(ValueError, match=r"no_wm.nii.gz: is not a FreeSurfer label map: no cerebral white matter"):
        load_label_map(no_wm)
    with pytest.raises(FileNotFoundError, match="holds no label maps"):
        load_label_maps(tmp_path / "empty") if (tmp_path / "empty").mkdir() is None else None


def test_lesions_only_inside_white_matter(maps):
    """Every painted WMH voxel of the working grid is cerebral white matter, for every pattern and load."""
    label_map = maps[1]
    values = label_map.values[label_map.labels]
    wm = np.isin(values, CEREBRAL_WM)
    ventricle_distance, wm_depth = label_map.fields[0], label_map.fields[1]
    for seed, severity in enumerate((0.1, 0.5, 1.0)):
        rng = np.random.default_rng(seed)
        score, _ = wmh_score(wm, ventricle_distance, wm_depth, rng, severity)
        assert np.all(score[~wm] == 0)
        mask, grade = lesion_from_score(score, wm, 2000, 0.5, rng)
        assert mask.sum() > 0 and not np.any(mask & ~wm)
        assert np.all(grade[~mask] == 0) and grade[mask].max() > 0.5


def test_sample_labels_and_lesion_placement(synthesizer):
    """Labels are the six classes; WMH sits in brain tissue, not in the ventricles, CSF or outside the head."""
    sample = synthesizer(3, lesion_volume_ml=15.0, thickness_mm=1.0, slice_axis=2, skull_stripped=False)
    assert sample.image.dtype == np.float32 and sample.label.dtype == np.uint8
    assert sample.image.shape == sample.label.shape
    assert set(np.unique(sample.label)) <= set(range(len(CLASSES)))
    assert np.allclose(np.linalg.norm(sample.affine[:3, :3], axis=0), (1.0, 1.0, 3.0))
    wmh = sample.label == 1
    assert wmh.sum() > 0
    # the lesion's in-plane neighbours are brain tissue or lesion (partial volume may reach one voxel further)
    from scipy import ndimage as ndi

    core = ndi.binary_erosion(wmh, np.ones((3, 3, 1), bool))
    neighbours = ndi.binary_dilation(core, np.ones((3, 3, 1), bool)) & ~wmh
    assert set(np.unique(sample.label[neighbours])) <= {2, 4}


@pytest.mark.parametrize("requested", [0.0, 3.0, 25.0])
def test_lesion_load_within_the_asked_range(synthesizer, requested):
    sample = synthesizer(11, lesion_volume_ml=requested, thickness_mm=1.0, slice_axis=2)
    info = sample.info
    assert info["requested_lesion_volume_ml"] == requested
    assert info["lesion_volume_ml"] == pytest.approx(np.count_nonzero(sample.label == 1) * 3e-3)
    if requested == 0:
        assert info["lesion_volume_ml"] == 0
    else:
        assert 0.6 * requested <= info["lesion_volume_ml"] <= 1.4 * requested


def test_loads_follow_the_settings(maps):
    synthesizer = FLAIRSynthesizer(
        maps,
        {
            **FAST,
            "lesion_volume_ml": (4.0, 30.0),
            "no_lesion_fraction": 0.0,
            "thin_slice_fraction": 1.0,
            "skull_stripped_fraction": 0.0,
        },
    )
    loads = [synthesizer(seed).info for seed in range(4)]
    for info in loads:
        assert 4.0 <= info["requested_lesion_volume_ml"] <= 30.0
        assert (
            0.6 * info["requested_lesion_volume_ml"]
            <= info["lesion_volume_ml"]
            <= 1.4 * info["requested_lesion_volume_ml"]
        )
    none = FLAIRSynthesizer(maps, {**FAST, "no_lesion_fraction": 1.0})
    assert none(5).info["lesion_volume_ml"] == 0 and not np.any(none(5).label == 1)


def _mean_abs_diff(image: np.ndarray, axis: int) -> float:
    inside = image > 0.2 * image.max()
    return float(np.abs(np.diff(image, axis=axis))[np.take(inside, range(image.shape[axis] - 1), axis=axis)].mean())


def test_slice_thickness_blurs_across_slices_only(synthesizer):
    """Thick axial slices smooth the image across slices (z), not in-plane; thick sagittal ones across x."""
    common = dict(lesion_volume_ml=10.0, skull_stripped=True, random_contrast=False, inplane_mm=1.0)
    thin = synthesizer(21, slice_axis=2, thickness_mm=1.0, **common).image
    axial = synthesizer(21, slice_axis=2, thickness_mm=8.0, **common).image
    sagittal = synthesizer(21, slice_axis=0, thickness_mm=8.0, **common).image
    assert thin.shape == axial.shape == sagittal.shape
    assert _mean_abs_diff(axial, 2) < 0.75 * _mean_abs_diff(thin, 2)
    assert _mean_abs_diff(axial, 0) > 0.8 * _mean_abs_diff(thin, 0)
    assert _mean_abs_diff(sagittal, 0) < 0.6 * _mean_abs_diff(thin, 0)


def test_thick_slice_labels_follow_partial_volume(synthesizer):
    thin = synthesizer(5, lesion_volume_ml=20.0, slice_axis=2, thickness_mm=1.0)
    thick = synthesizer(5, lesion_volume_ml=20.0, slice_axis=2, thickness_mm=7.0)
    assert 0.4 * thin.info["lesion_volume_ml"] < thick.info["lesion_volume_ml"] < 1.5 * thin.info["lesion_volume_ml"]
    assert thick.info["thickness_mm"] == 7.0


def test_deterministic_for_a_seed(synthesizer):
    a, b, c = synthesizer(42), synthesizer(42), synthesizer(43)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label) and a.info == b.info
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)


def test_skull_stripping_zeroes_the_outside(synthesizer):
    stripped = synthesizer(8, skull_stripped=True, lesion_volume_ml=5.0)
    assert np.all(stripped.image[stripped.label == 0] == 0)
    assert np.all(stripped.image[stripped.label == 4] != 0)
    head = synthesizer(8, skull_stripped=False, lesion_volume_ml=5.0)
    assert np.count_nonzero(head.image[head.label == 0] > 0.2 * np.median(head.image[head.label == 4])) > 1000


def test_unknown_settings_and_overrides_are_errors(maps):
    with pytest.raises(ValueError, match="unknown synthesis setting"):
        FLAIRSynthesizer(maps, {"slice_thickness": 3})
    with pytest.raises(ValueError, match="unknown override"):
        FLAIRSynthesizer(maps)(0, thickness=3)


def test_split_label_maps(toy_label_maps):
    split = split_label_maps(toy_label_maps, 1)
    assert [p.split("/")[-1] for p in split["validation"]] == ["toy_seg_02.nii.gz"]
    assert len(split["training"]) == 2
    with pytest.raises(ValueError, match="cannot hold out 3"):
        split_label_maps(toy_label_maps, 3)
    with pytest.raises(ValueError, match="pass --label_maps_dir DIR"):
        split_label_maps(None)
    with pytest.raises(FileNotFoundError, match="no such folder of label maps"):
        split_label_maps(toy_label_maps / "missing")


def test_stream_yields_training_patches(toy_label_maps):
    from wmhseg.transforms import NormalizeFLAIRd, patch_sampling

    patch_size = (48, 48, 8)
    stream = SyntheticFLAIRStream(
        split_label_maps(toy_label_maps, 1)["training"],
        volume_transform=NormalizeFLAIRd("image"),
        patch_transform=__import__("monai").transforms.Compose(
            patch_sampling(
                ["image", "label"], patch_size, num_samples=2, num_classes=6, ratios=[0.2, 0.5, 0.0, 0.0, 0.3, 0.0]
            )
        ),
        settings=FAST,
        pool_size=2,
        patches_per_volume=2,
        seed=3,
    )
    patches = []
    for patch in stream:
        patches.append(patch)
        if len(patches) == 8:
            break
    # four draws of two patches: two volumes fill the pool, the third replaces the oldest after two draws
    assert stream.volumes_drawn == 3
    for patch in patches:
        assert tuple(patch["image"].shape) == (1, *patch_size) and tuple(patch["label"].shape) == (1, *patch_size)
        assert set(torch.unique(patch["label"]).tolist()) <= set(range(6))
        assert abs(float(patch["image"].mean())) < 5.0  # normalised
    assert sum(float((p["label"] == 1).sum()) > 0 for p in patches) >= 2  # lesion-centred patches


def test_synthetic_set_is_cached(tmp_path, toy_label_maps):
    from wmhseg.bundle import load_split

    files = split_label_maps(toy_label_maps, 1)["validation"]
    datalist = synthetic_set(tmp_path / "set", files, 2, seed=1, settings=FAST)
    stamp = datalist.stat().st_mtime_ns
    assert synthetic_set(tmp_path / "set", files, 2, seed=1, settings=FAST).stat().st_mtime_ns == stamp
    items = load_split(datalist, "validation", 0, num_classes=6)
    assert len(items) == 2
    content = json.loads(datalist.read_text())
    assert content["labels"]["1"] == "wmh" and content["training"][0]["label_map"] == "toy_seg_02"
    label = nib.load(items[0]["label"])
    assert np.allclose(label.header.get_zooms(), (1.0, 1.0, 3.0))
    assert synthetic_set(tmp_path / "set", files, 3, seed=1, settings=FAST).stat().st_mtime_ns != stamp


def test_other_spacing_label_map(tmp_path):
    """A 1.5 mm label map works as well (world coordinates, fields on their own grid)."""
    label_map = load_label_map(write_toy_label_map(tmp_path / "fine.nii.gz", seed=7, spacing=1.5))
    sample = FLAIRSynthesizer([label_map], FAST)(0, lesion_volume_ml=5.0, thickness_mm=1.0)
    assert 3.0 <= sample.info["lesion_volume_ml"] <= 7.0
