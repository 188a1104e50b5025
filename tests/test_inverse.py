"""AxisAlignedInvertd: the inference's way back to the input grid gives Invertd's maps, faster where it can."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd, LoadImaged, Orientationd, Spacingd

from wmhseg.transforms import AxisAlignedInvertd, preprocessing
from wmhseg.transforms.inverse import axis_aligned_mapping

# (shape, affine) of inputs: LAS 1 mm with odd offsets, thick anisotropic slices, axes stored out of RAS order
GEOMETRIES = {
    "las_iso": ((23, 27, 21), np.array([[-1.0, 0, 0, 11.3], [0, 1.0, 0, -13.1], [0, 0, 1.0, -9.7], [0, 0, 0, 1]])),
    "thick": ((30, 28, 9), np.array([[-0.9583, 0, 0, 14.2], [0, 0.9583, 0, -12.0], [0, 0, 3.3, -15.0], [0, 0, 0, 1]])),
    "permuted": ((19, 25, 22), np.array([[0, 0, -1.2, 12.0], [-0.8, 0, 0, 9.0], [0, 1.1, 0, -11.0], [0, 0, 0, 1]])),
}


def _write(path: Path, shape, affine) -> Path:
    data = np.random.default_rng(0).uniform(10, 100, shape).astype(np.float32)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def _network_output(pre: Compose, path: Path, channels: int = 3) -> dict:
    """The preprocessed image and random 'maps' on its grid, as the evaluator hands them to the postprocessing."""
    d = pre({"image": str(path)})
    maps = torch.rand(channels, *d["image"].shape[1:], generator=torch.Generator().manual_seed(1))
    return {"image": d["image"], "pred": MetaTensor(maps).copy_meta_from(d["image"])}


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_same_maps_and_grid_as_invertd_on_the_inference_preprocessing(tmp_path: Path, geometry: str) -> None:
    shape, affine = GEOMETRIES[geometry]
    path = _write(tmp_path / "flair.nii.gz", shape, affine)
    pre = Compose(preprocessing(("image",), target_spacing=(1.0, 1.0, 3.0)))
    data = _network_output(pre, path)
    assert axis_aligned_mapping(np.asarray(data["pred"].affine), affine) is not None  # the fast path runs
    args = {"keys": "pred", "transform": pre, "orig_keys": "image", "nearest_interp": False, "to_tensor": True}
    reference = Invertd(**args)(dict(data))["pred"]
    fast = AxisAlignedInvertd(**args)(dict(data))["pred"]
    assert tuple(fast.shape) == (3, *shape) == tuple(reference.shape)
    np.testing.assert_allclose(fast.affine.numpy(), reference.affine.numpy(), atol=1e-6)
    np.testing.assert_allclose(fast.affine.numpy(), affine, atol=1e-5)
    np.testing.assert_allclose(fast.numpy(), reference.numpy(), atol=2e-4)
    assert fast.applied_operations == []


@pytest.mark.parametrize("padding_mode", ["border", "zeros"])
def test_linear_ramp_in_world_space_comes_back_exactly(tmp_path: Path, padding_mode: str) -> None:
    """Trilinear interpolation of a field linear in world coordinates is exact inside the grid, whatever the padding."""
    shape, affine = GEOMETRIES["thick"]
    path = _write(tmp_path / "flair.nii.gz", shape, affine)
    pre = Compose(
        [
            LoadImaged("image", ensure_channel_first=True, image_only=True),
            Orientationd("image", axcodes="RAS"),
            Spacingd("image", pixdim=(1.0, 1.0, 3.0), mode="bilinear", padding_mode=padding_mode),
        ]
    )
    d = pre({"image": str(path)})

    def ramp(grid_affine: np.ndarray, grid_shape) -> np.ndarray:
        ijk = np.stack(np.meshgrid(*[np.arange(s) for s in grid_shape], indexing="ij"), -1)
        world = ijk @ grid_affine[:3, :3].T + grid_affine[:3, 3]
        return (world @ np.array([0.5, -0.25, 0.125]) + 3.0).astype(np.float32)

    net_affine = np.asarray(d["image"].affine, np.float64)
    pred = MetaTensor(torch.from_numpy(ramp(net_affine, d["image"].shape[1:]))[None]).copy_meta_from(d["image"])
    args = {"keys": "pred", "transform": pre, "orig_keys": "image", "nearest_interp": False}
    out = AxisAlignedInvertd(**args)({"image": d["image"], "pred": pred})["pred"][0].numpy()
    expected = ramp(affine, shape)
    # input voxels whose world position lies inside the network grid (the rest is padding)
    inside = np.ones(shape, bool)
    ijk = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1)
    net_ijk = (ijk @ affine[:3, :3].T + affine[:3, 3] - net_affine[:3, 3]) @ np.linalg.inv(net_affine[:3, :3]).T
    for axis, size in enumerate(d["image"].shape[1:]):
        inside &= (net_ijk[..., axis] >= 0) & (net_ijk[..., axis] <= size - 1)
    assert inside.mean() > 0.5
    np.testing.assert_allclose(out[inside], expected[inside], atol=1e-3)
    reference = Invertd(**args)({"image": d["image"], "pred": pred})["pred"][0].numpy()
    np.testing.assert_allclose(out, reference, atol=1e-3)  # also outside: the same padding as grid_sample's


def test_oblique_scan_takes_the_fast_path_and_a_rotated_pair_of_grids_does_not(tmp_path: Path) -> None:
    angle = np.deg2rad(10.0)
    oblique = np.eye(4)
    oblique[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    oblique[:3, 3] = [-10.0, -12.0, -9.0]
    pre = Compose(preprocessing(("image",), target_spacing=(1.0, 1.0, 3.0)))
    data = _network_output(pre, _write(tmp_path / "oblique.nii.gz", (22, 24, 20), oblique))
    net_affine = np.asarray(data["image"].affine)
    assert axis_aligned_mapping(net_affine, oblique) is not None  # Spacing keeps the scan's axis directions
    args = {"keys": "pred", "transform": pre, "orig_keys": "image", "nearest_interp": False}
    np.testing.assert_allclose(
        AxisAlignedInvertd(**args)(dict(data))["pred"].numpy(), Invertd(**args)(dict(data))["pred"].numpy(), atol=2e-4
    )
    assert axis_aligned_mapping(net_affine, np.eye(4)) is None  # a grid rotated against the network's


def test_other_preprocessing_or_interpolation_goes_through_invertd(tmp_path: Path) -> None:
    path = _write(tmp_path / "flair.nii.gz", *GEOMETRIES["las_iso"])
    padded = Compose(preprocessing(("image",), target_spacing=(1.0, 1.0, 3.0), spatial_pad=(48, 48, 16)))
    nearest = Compose(
        [
            LoadImaged("image", ensure_channel_first=True, image_only=True),
            Orientationd("image", axcodes="RAS"),
            Spacingd("image", pixdim=(1.0, 1.0, 3.0), mode="nearest"),
        ]
    )
    for pre in (padded, nearest):
        data = _network_output(pre, path, channels=1)
        args = {"keys": "pred", "transform": pre, "orig_keys": "image", "nearest_interp": False}
        out = AxisAlignedInvertd(**args)(dict(data))["pred"]
        assert torch.equal(out.as_tensor(), Invertd(**args)(dict(data))["pred"].as_tensor())
        assert tuple(out.shape[1:]) == GEOMETRIES["las_iso"][0]
