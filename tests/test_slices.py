"""2D slices for the 2D networks: axial slice datalists of real phantom volumes, and the slice transforms."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.transforms import Compose, LoadImage, RandAffined, RandFlipd
from PIL import Image

from wmhseg.bundle import load_split
from wmhseg.cli import main
from wmhseg.data.slices import axial_slice_datalist
from wmhseg.transforms import EnsureBinaryMaskd, slice_augmentation, slice_preprocessing


@pytest.fixture(scope="module")
def sliced(tiny_phantoms, tmp_path_factory):
    return tiny_phantoms, axial_slice_datalist(tiny_phantoms, tmp_path_factory.mktemp("slices"))


def world_points(image: nib.Nifti1Image, mask: np.ndarray) -> np.ndarray:
    """World coordinates (mm) of the voxels of ``mask``, sorted row-wise."""
    ijk = np.argwhere(mask)
    ijk = np.c_[ijk, np.zeros((len(ijk), 3 - ijk.shape[1]))] if ijk.shape[1] < 3 else ijk
    xyz = nib.affines.apply_affine(image.affine, ijk)
    return xyz[np.lexsort(np.round(xyz, 3).T[::-1])]


def test_slices_keep_subject_fold_and_world_position(sliced):
    source, path = sliced
    volumes = {item["subject"]: item for item in json.loads(source.read_text())["training"]}
    content = json.loads(path.read_text())
    entries = content["training"]
    assert content["labels"] == {"0": "background", "1": "source label 1"}
    assert {e["subject"] for e in entries} == set(volumes)
    for subject, item in volumes.items():
        mine = [e for e in entries if e["subject"] == subject]
        assert {e["fold"] for e in mine} == {item["fold"]} and {e["scanner"] for e in mine} == {item["scanner"]}
        # Every WMH voxel of the volume (label 1, not the other pathology's 2) lies in the slices at the same
        # world position, whatever the volume's voxel order (LAS, RAS, LPS).
        volume = nib.load(source.parent / item["label"])
        expected = world_points(volume, np.asarray(volume.dataobj) == 1)
        found = []
        for entry in mine:
            label = nib.load(path.parent / entry["label"])
            data = np.asarray(label.dataobj)
            assert label.shape == data.shape and data.ndim == 2 and set(np.unique(data)) <= {0, 1}
            found.append(world_points(label, data == 1))
        found = np.concatenate(found)
        np.testing.assert_allclose(found[np.lexsort(np.round(found, 3).T[::-1])], expected, atol=1e-3)
        # Only slices through the brain are kept.
        brain = nib.as_closest_canonical(nib.load(source.parent / item["brain_mask"]))
        kept = np.flatnonzero(np.asarray(brain.dataobj).any(axis=(0, 1)))
        assert sorted(e["slice"] for e in mine) == kept.tolist()
    assert volumes["phantom-000"]["other_volume_ml"] > 0  # label 2 was present and became background


def test_fold_split_of_slices_is_by_patient(sliced):
    _, path = sliced
    for fold in range(3):
        training = {e["subject"] for e in load_split(path, "training", fold)}
        validation = {e["subject"] for e in load_split(path, "validation", fold)}
        assert training and validation and not training & validation


def test_cache_is_reused_and_follows_the_source(tiny_phantoms, tmp_path):
    copy = tmp_path / "source.json"
    content = json.loads(tiny_phantoms.read_text())
    content["training"] = content["training"][:1]
    for item in content["training"]:
        for key in ("image", "label", "brain_mask"):
            item[key] = str(tiny_phantoms.parent / item[key])
    copy.write_text(json.dumps(content))
    first = axial_slice_datalist(copy, tmp_path / "cache")
    stamp = first.stat().st_mtime_ns
    assert axial_slice_datalist(copy, tmp_path / "cache") == first and first.stat().st_mtime_ns == stamp
    del content["training"][0]["brain_mask"]  # no brain mask: every slice is kept
    copy.write_text(json.dumps(content))
    again = json.loads(axial_slice_datalist(copy, tmp_path / "cache").read_text())
    assert len(again["training"]) == nib.load(content["training"][0]["image"]).shape[2]


def test_bad_sources_raise_naming_the_file(tiny_phantoms, tmp_path):
    item = json.loads(tiny_phantoms.read_text())["training"][0]
    image = str(tiny_phantoms.parent / item["image"])
    small = tmp_path / "small.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.uint8), np.eye(4)), small)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"training": [{"image": image, "label": str(small), "subject": "a", "scanner": "s"}]}))
    with pytest.raises(ValueError, match=r"small.nii.gz: grid \(8, 8, 4\) differs"):
        axial_slice_datalist(bad, tmp_path / "out")
    picture = tmp_path / "slice.tif"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(picture)
    bad.write_text(
        json.dumps({"training": [{"image": str(picture), "label": str(picture), "subject": "a", "scanner": "s"}]})
    )
    with pytest.raises(ValueError, match="slice.tif: expected a single-channel 3D volume"):
        axial_slice_datalist(bad, tmp_path / "out")
    assert not (tmp_path / "out" / "datalist.json").exists()


def test_prepare_slices_command(tiny_phantoms, tmp_path, capsys):
    assert main(["prepare", "slices", str(tiny_phantoms), "-o", str(tmp_path / "s"), "--foreground", "2"]) == 0
    content = json.loads((tmp_path / "s" / "datalist.json").read_text())
    assert content["slices_of"]["foreground"] == 2
    assert f"{len(content['training'])} training" in capsys.readouterr().out
    # phantom-000 is the subject with other pathology: its label-2 voxels are now the target
    positives = sum(np.asarray(nib.load(tmp_path / "s" / e["label"]).dataobj).sum() for e in content["training"])
    source = json.loads(tiny_phantoms.read_text())["training"]
    expected = sum((np.asarray(nib.load(tiny_phantoms.parent / i["label"]).dataobj) == 2).sum() for i in source)
    assert positives == expected > 0


def write_lgg_like(folder: Path) -> dict[str, str]:
    """An RGB 8-bit slice 40×30 with a bright square and its 0/255 mask."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = np.full((30, 40, 3), 20, np.uint8)
    rgb[10:20, 5:15] = 250
    mask = np.zeros((30, 40), np.uint8)
    mask[10:20, 5:15] = 255
    Image.fromarray(rgb).save(folder / "case_1.tif")
    Image.fromarray(mask).save(folder / "case_1_mask.tif")
    return {"image": str(folder / "case_1.tif"), "label": str(folder / "case_1_mask.tif")}


def test_preprocessing_of_lgg_pictures_and_nifti_slices(sliced, tmp_path):
    item = write_lgg_like(tmp_path)
    out = Compose(slice_preprocessing(in_channels=3, spatial_size=(32, 48)))(item)
    image, label = out["image"], out["label"]
    assert image.shape == (3, 32, 48) and label.shape == (1, 32, 48) and image.dtype == torch.float32
    assert set(torch.unique(label).tolist()) == {0.0, 1.0} and int(label.sum()) == 100  # 0/255 mask -> 0/1
    assert torch.isclose(image.max(), torch.tensor(250 / 255)) and float(image[label.expand(3, -1, -1) > 0].min()) > 0.9
    with pytest.raises(RuntimeError) as error:  # Compose wraps the ValueError
        Compose(slice_preprocessing(in_channels=1))(item)
    assert isinstance(error.value.__cause__, ValueError)
    assert "case_1.tif: image has 3 channel(s), the network expects 1" in str(error.value.__cause__)

    _, path = sliced
    entries = load_split(path, "all")
    entry = max(entries, key=lambda e: np.asarray(nib.load(e["label"]).dataobj).sum())
    out = Compose(slice_preprocessing(in_channels=1, spatial_size=(64, 64), pixdim=(3.5, 3.5)))(entry)
    image = out["image"]
    assert image.shape == out["label"].shape == (1, 64, 64)
    brain = image[image != 0]
    assert abs(float(brain.mean())) < 1e-3 and abs(float(brain.std()) - 1) < 1e-2  # z-score over non-zero pixels
    assert float(out["label"].sum()) == np.asarray(nib.load(entry["label"]).dataobj).sum() > 20  # padded, not resampled
    # resampled to 7 mm: about a quarter of the lesion pixels
    coarse = Compose(slice_preprocessing(spatial_size=(64, 64), pixdim=(7.0, 7.0)))(entry)["label"]
    assert coarse.shape == (1, 64, 64)
    assert 0.5 < 4 * float(coarse.sum()) / float(out["label"].sum()) < 1.5


def test_three_class_masks_are_refused(tiny_phantoms):
    item = json.loads(tiny_phantoms.read_text())["training"][0]  # phantom-000: labels 0, 1 and 2
    label = LoadImage(image_only=True, dtype=None)(str(tiny_phantoms.parent / item["label"]))
    with pytest.raises(ValueError, match=r"wmh.nii.gz: label is not a binary mask \(values \[0, 1, 2\]"):
        EnsureBinaryMaskd("label")({"label": label})


def test_augmentation_follows_the_recipe_and_keeps_masks_binary(tmp_path):
    transforms = slice_augmentation(spatial_size=(32, 48))
    assert [type(t) for t in transforms] == [RandFlipd, RandAffined]
    assert transforms[0].flipper.spatial_axis == 0 and transforms[0].prob == 0.5
    affine = transforms[1].rand_affine
    assert transforms[1].prob == 1.0
    grid = affine.rand_affine_grid
    np.testing.assert_allclose(grid.translate_range, [1.6, 2.4])  # ±5 % of 32 and 48 pixels
    np.testing.assert_allclose(grid.scale_range, [0.05, 0.05])  # zoom ±5 % per axis
    np.testing.assert_allclose(grid.rotate_range, [np.radians(0.25)])
    item = Compose(slice_preprocessing(in_channels=3, spatial_size=(32, 48)))(write_lgg_like(tmp_path))
    out = Compose(transforms).set_random_state(0)(item)
    assert out["image"].shape == (3, 32, 48) and set(torch.unique(out["label"]).tolist()) <= {0.0, 1.0}
    assert abs(float(out["label"].sum()) - 100) < 30
    with pytest.raises(ValueError, match="unknown parameter"):
        slice_augmentation(params={"affine": {"angle": 3}})
    assert slice_augmentation(params={"flip": {"prob": 0.0}, "affine": {"prob": 0.0}}) == []
