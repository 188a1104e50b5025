"""Transforms: alignment of image and label under every spatial augmentation, dtype/shape contracts,
normalisation, label checks, raw-intensity wrapper, patch sampling, parameter handling."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, RandScaleIntensityd
from monai.utils import set_determinism

from wmhseg.transforms import (
    DEFAULT_AUGMENTATION,
    RAW_ZERO_KEY,
    ApplyToRawIntensityd,
    EnsureLabelClassesd,
    NormalizeFLAIRd,
    RandQuadraticBiasFieldd,
    RandTransposeAxesd,
    augmentation,
    augmentation_params,
    patch_sampling,
    preprocessing,
)

SPATIAL = ("flip", "rotate90", "transpose", "rotate", "elastic")
INTENSITY = tuple(name for name in DEFAULT_AUGMENTATION if name not in SPATIAL)
SHAPE = (32, 32, 12)


def only(name: str, **extra) -> dict:
    """Parameters switching every augmentation off except ``name`` (at probability 1)."""
    params = {key: {"prob": 0.0} for key in DEFAULT_AUGMENTATION}
    params[name] = {"prob": 1.0, **extra}
    return params


def marker_sample(centre=(9, 20, 4)) -> dict:
    """A normalised-looking image with a bright cube, and a label that is that cube (class 1)."""
    image = torch.full((1, *SHAPE), -1.0)
    image[0, 4:28, 4:28, 2:10] = 0.0  # "head"
    label = torch.zeros((1, *SHAPE))
    x, y, z = centre
    image[0, x - 2 : x + 3, y - 2 : y + 3, z - 1 : z + 2] = 3.0
    label[0, x - 2 : x + 3, y - 2 : y + 3, z - 1 : z + 2] = 1.0
    meta = {"affine": torch.diag(torch.tensor([1.0, 1.0, 3.0, 1.0])), RAW_ZERO_KEY: -1.0}
    return {"image": MetaTensor(image, meta=dict(meta)), "label": MetaTensor(label, meta=dict(meta))}


def centroid(mask: torch.Tensor) -> np.ndarray:
    return np.argwhere(np.asarray(mask[0])).mean(0)


@pytest.mark.parametrize("name", SPATIAL)
def test_spatial_augmentation_moves_image_and_label_alike(name: str) -> None:
    extra = {"range_deg": [0.0, 0.0, 25.0]} if name == "rotate" else {}
    moved = 0
    for seed in range(4):
        set_determinism(seed)
        transforms = Compose(augmentation(params=only(name, **extra), patch_size=SHAPE))
        transforms.set_random_state(seed)
        out = transforms(marker_sample())
        bright, lesion = out["image"] > 1.5, out["label"] > 0.5
        assert bright.sum() > 0 and lesion.sum() > 0
        np.testing.assert_allclose(centroid(bright), centroid(lesion), atol=0.75)
        overlap = (bright & lesion).sum() / lesion.sum()
        assert overlap > 0.75, (name, seed, float(overlap))
        moved += not np.allclose(centroid(lesion), [9, 20, 4])
    set_determinism(None)
    assert moved >= 2, f"{name} never moved the marker"


@pytest.mark.parametrize("name", SPATIAL + INTENSITY)
def test_every_augmentation_keeps_dtype_shape_and_labels(name: str) -> None:
    sample = marker_sample()
    out = Compose(augmentation(params=only(name), patch_size=SHAPE))(sample)
    for key in ("image", "label"):
        assert out[key].dtype == torch.float32 and tuple(out[key].shape) == (1, *SHAPE)
        assert isinstance(out[key], MetaTensor) and torch.isfinite(out[key]).all()
    assert set(torch.unique(out["label"]).tolist()) <= {0.0, 1.0}
    if name in INTENSITY:
        torch.testing.assert_close(out["label"], sample["label"])
        assert not torch.equal(out["image"], sample["image"]), f"{name} did nothing at probability 1"
        assert out["image"].meta[RAW_ZERO_KEY] == -1.0


def test_raw_intensity_wrapper_acts_on_raw_values() -> None:
    raw = torch.rand(1, 8, 8, 4) * 100 + 10
    normalised = NormalizeFLAIRd("image", mode="global", global_stats=(40.0, 20.0))({"image": MetaTensor(raw.clone())})[
        "image"
    ]
    assert normalised.meta[RAW_ZERO_KEY] == pytest.approx(-2.0)
    scaled = ApplyToRawIntensityd("image", RandScaleIntensityd("image", factors=(0.5, 0.5), prob=1.0))(
        {"image": normalised}
    )["image"]
    torch.testing.assert_close(scaled.as_tensor(), (raw * 1.5 - 40) / 20, rtol=1e-5, atol=1e-4)


def test_normalisation_modes(tmp_path: Path) -> None:
    image = torch.zeros(1, 20, 20, 10)
    image[0, 5:15, 5:15, 2:8] = 100.0
    image[0, 8:12, 8:12, 4:6] = 200.0
    mask = (image > 0).float()
    zscored = NormalizeFLAIRd("image", mask_key="brain_mask")({"image": MetaTensor(image), "brain_mask": mask})
    inside = zscored["image"][mask > 0]
    assert float(inside.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(inside.std()) == pytest.approx(1.0, abs=1e-4)
    otsu = NormalizeFLAIRd("image")({"image": MetaTensor(image)})["image"]  # no mask: Otsu foreground
    torch.testing.assert_close(otsu, zscored["image"])
    paper = NormalizeFLAIRd("image", mode="global")({"image": MetaTensor(image)})["image"]
    assert float(paper[0, 0, 0, 0]) == pytest.approx(-0.2925523, abs=1e-6)  # the spec's padded-voxel value
    with pytest.raises(ValueError, match="unknown normalisation"):
        NormalizeFLAIRd("image", mode="minmax")


def test_label_check_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "mask255.nii.gz"
    nib.save(nib.Nifti1Image(np.array([[[0, 255]]], dtype=np.uint8), np.eye(4)), bad)
    with pytest.raises(RuntimeError) as caught:  # MONAI's Compose chains the transform's own error
        Compose(preprocessing(keys=("image", "label"), target_spacing=None))({"image": bad, "label": bad})
    assert isinstance(caught.value.__cause__, ValueError)
    assert str(caught.value.__cause__).endswith(
        "mask255.nii.gz: label values [255.0] outside 0..2 (found [0.0, 255.0])"
    )
    soft = EnsureLabelClassesd("label")
    with pytest.raises(ValueError, match="non-integer"):
        soft({"label": torch.tensor([[[[0.0, 0.4]]]])})
    out = soft({"label": MetaTensor(torch.tensor([[[[0.0, 2.0000001]]]], dtype=torch.float64))})["label"]
    assert out.dtype == torch.float32 and out.tolist() == [[[[0.0, 2.0]]]]


def test_transpose_and_quadratic_bias() -> None:
    sample = marker_sample()
    sample["image"].affine = torch.tensor([[1.0, 0, 0, 5], [0, 2.0, 0, 6], [0, 0, 3.0, 7], [0, 0, 0, 1]])
    out = RandTransposeAxesd(["image", "label"], prob=1.0)(sample)
    torch.testing.assert_close(out["image"].as_tensor(), sample["image"].as_tensor().transpose(1, 2))
    # the header follows: new voxel (a, b, c) is old voxel (b, a, c), the same point in the world
    old, new = sample["image"].affine.double(), out["image"].affine.double()
    torch.testing.assert_close(
        new @ torch.tensor([3.0, 5.0, 2.0, 1.0], dtype=torch.float64),
        old @ torch.tensor([5.0, 3.0, 2.0, 1.0], dtype=torch.float64),
    )
    bias = RandQuadraticBiasFieldd("image", prob=1.0)
    bias.set_random_state(0)
    ones = {"image": torch.ones(1, 4, 6, 2)}
    g = bias(ones)["image"][0]
    x0, y0, z0 = (
        int(np.argmax(np.asarray(g).max(axis=tuple(a for a in range(3) if a != axis)))) + 1 for axis in range(3)
    )
    i, j, k = np.meshgrid(*[np.arange(1, n + 1) for n in (4, 6, 2)], indexing="ij")
    expected = 1 - ((i - x0) ** 2 / 16 + (j - y0) ** 2 / 36 + (k - z0) ** 2 / 4)
    np.testing.assert_allclose(np.asarray(g), expected, atol=1e-6)


def test_patch_sampling_pads_small_volumes_and_favours_lesions() -> None:
    set_determinism(0)
    sample = marker_sample()
    sampler = Compose(patch_sampling(patch_size=(48, 48, 16), num_samples=30, pos_ratio=0.8))
    patches = sampler(sample)
    assert len(patches) == 30
    for patch in patches:
        assert tuple(patch["image"].shape) == (1, 48, 48, 16) and patch["image"].dtype == torch.float32
        assert float(patch["image"].min()) == pytest.approx(-1.0)  # padded with raw zero, not 0
    small = Compose(patch_sampling(patch_size=(8, 8, 4), num_samples=40, pos_ratio=0.8))(marker_sample())
    with_lesion = sum(bool(p["label"].sum() > 0) for p in small)
    lesion_share = float(marker_sample()["label"].mean())
    assert with_lesion / 40 > 0.6 > 4 * lesion_share  # favoured far above the lesion's share of the volume
    set_determinism(None)


def test_parameters_are_validated_and_merged() -> None:
    merged = augmentation_params({"flip": {"prob": 0.1}})
    assert merged["flip"] == {"prob": 0.1, "axes": [0, 1, 2]} and DEFAULT_AUGMENTATION["flip"]["prob"] == 0.5
    with pytest.raises(ValueError, match="unknown augmentation 'blur'"):
        augmentation(params={"blur": {"prob": 1.0}})
    with pytest.raises(ValueError, match="unknown parameter"):
        augmentation(params={"flip": {"probability": 1.0}})
    with pytest.raises(ValueError, match="square in-plane patch"):
        augmentation(patch_size=(64, 32, 16))
    assert augmentation(params={"rotate90": {"prob": 0.0}, "transpose": {"prob": 0.0}}, patch_size=(64, 32, 16))


def test_preprocessing_reads_nifti_and_itk_formats_alike(tmp_path: Path) -> None:
    import SimpleITK as sitk

    from wmhseg.data.synthetic import Protocol, make_phantom
    from wmhseg.io import save_nifti

    phantom = make_phantom(
        2, Protocol("tiny", (48, 48, 12), (4.5, 4.5, 12.0)), orientation="LPS", lesion_volume_ml=15.0
    )
    nifti = save_nifti(phantom.image, phantom.affine, tmp_path / "flair.nii.gz", np.int16)
    label = save_nifti(phantom.label, phantom.affine, tmp_path / "wmh.nii.gz", np.uint8)
    mha, nrrd = tmp_path / "flair.mha", tmp_path / "wmh.nrrd"
    sitk.WriteImage(sitk.ReadImage(str(nifti)), str(mha))
    sitk.WriteImage(sitk.ReadImage(str(label)), str(nrrd))
    results = []
    for image_file, label_file in ((nifti, label), (mha, nrrd)):
        out = Compose(preprocessing(("image", "label"), target_spacing=(3.0, 3.0, 6.0)))(
            {"image": str(image_file), "label": str(label_file)}
        )
        assert out["image"].dtype == torch.float32 and out["label"].dtype == torch.float32
        assert out["image"].shape == out["label"].shape and out["image"].shape[0] == 1
        assert nib.aff2axcodes(out["image"].affine.numpy()) == ("R", "A", "S")
        results.append(out)
    torch.testing.assert_close(results[0]["image"].as_tensor(), results[1]["image"].as_tensor())
    torch.testing.assert_close(results[0]["label"].as_tensor(), results[1]["label"].as_tensor())
    np.testing.assert_allclose(results[0]["image"].affine.numpy(), results[1]["image"].affine.numpy(), atol=1e-4)
    # and the lesion is where the phantom put it: WMH are the bright voxels after normalisation
    image, lesion = results[0]["image"], results[0]["label"] == 1
    assert lesion.any() and float(image[lesion].median()) > float(image[~lesion].quantile(0.9))


def test_builders_work_from_a_bundle_config() -> None:
    from monai.bundle import ConfigParser

    parser = ConfigParser(
        {
            "keys": ["image", "label"],
            "patch_size": [32, 32, 12],
            "augmentation": {
                "flip": {"prob": 1.0, "axes": [0]},
                "rotate90": {"prob": 0.0},
                "transpose": {"prob": 0.0},
                "rotate": {"prob": 0.0},
                "elastic": {"prob": 0.0},
            },
            "sampling": {
                "_target_": "wmhseg.transforms.patch_sampling",
                "keys": "@keys",
                "patch_size": "@patch_size",
                "num_samples": 2,
            },
            "augmenting": {
                "_target_": "wmhseg.transforms.augmentation",
                "keys": "@keys",
                "params": "@augmentation",
                "patch_size": "@patch_size",
            },
            "train_transforms": {"_target_": "Compose", "transforms": "$@sampling + @augmenting"},
            "quadratic": {
                "_target_": "wmhseg.transforms.ApplyToRawIntensityd",
                "keys": "image",
                "transform": {"_target_": "wmhseg.transforms.RandQuadraticBiasFieldd", "keys": "image", "prob": 1.0},
            },
        }
    )
    patches = parser.get_parsed_content("train_transforms")(marker_sample())
    assert len(patches) == 2 and tuple(patches[0]["image"].shape) == (1, 32, 32, 12)
    assert patches[0]["label"][0, 22, 20, 4] == 1 and patches[0]["label"][0, 9, 20, 4] == 0  # forced X flip
    sample = marker_sample()
    out = parser.get_parsed_content("quadratic")(sample)
    assert out["image"].meta[RAW_ZERO_KEY] == -1.0 and not torch.equal(out["image"], sample["image"])
    torch.testing.assert_close(out["image"][0, 0, 0, 0], torch.tensor(-1.0))  # raw zero stays raw zero


def test_spatial_pad_in_raw_intensities_and_inverted(tmp_path: Path) -> None:
    from monai.transforms import Invertd

    data = np.random.default_rng(0).uniform(50, 100, (20, 18, 6)).astype(np.float32)
    path = tmp_path / "small.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([1.0, 1.0, 3.0, 1.0])), path)
    pre = Compose(preprocessing(("image",), target_spacing=None, spatial_pad=(32, 32, 8)))
    out = pre({"image": str(path)})
    assert tuple(out["image"].shape) == (1, 32, 32, 8)
    assert float(out["image"][0, 0, 0, 0]) == pytest.approx(out["image"].meta[RAW_ZERO_KEY], abs=1e-5)
    out["pred"] = out["image"].clone()
    back = Invertd("pred", transform=pre, orig_keys="image")(out)["pred"]
    assert tuple(back.shape) == (1, 20, 18, 6)
    # back on the original voxels: raw = (normalised - raw zero) * std, one std for all voxels
    ratio = (back[0].numpy() - out["image"].meta[RAW_ZERO_KEY]) / data
    np.testing.assert_allclose(ratio, ratio.mean(), rtol=1e-4)
