"""Window planning: one window over the whole (padded) volume when it fits the memory budget, else the fewest that fit.

The planner against MONAI's own window count, the shape-only activation trace against a real
forward, the planned inferer against MONAI's sliding windows, and the bundle on NIfTI files
written here, with one window and with several.
"""

from __future__ import annotations

import json
import math

import nibabel as nib
import numpy as np
import pytest
import torch
from infer_support import (
    AFFINES,
    TINY_SAUNET,
    blob_mask,
    intensity_checkpoint,
    phantom,
    run_bundle,
    tiny_saunet_checkpoint,
    write_nifti,
)
from monai.data.utils import dense_patch_slices
from monai.inferers import SlidingWindowInferer

from wmhseg.inference import (
    ProbabilitySlidingWindowInferer,
    activation_bytes_per_voxel,
    foreground_box,
    peak_activation_bytes,
    plan_windows,
    size_multiple,
)
from wmhseg.inference.windows import windows_along
from wmhseg.networks import get_network, with_precision


def monai_window_count(shape, roi, overlap) -> int:
    """Windows MONAI's sliding_window_inference places (after padding the volume up to the window)."""
    size = [max(s, r) for s, r in zip(shape, roi)]
    interval = [r if r == s else max(int(r * (1 - overlap)), 1) for s, r in zip(size, roi)]
    return len(dense_patch_slices(size, roi, interval))


@pytest.mark.parametrize(
    "shape, roi, overlap",
    [
        ((182, 218, 61), (184, 224, 23), 0.125),
        ((230, 230, 48), (128, 232, 48), 0.5),
        ((40, 36, 10), (16, 16, 4), 0.25),
        ((50, 50, 50), (64, 64, 64), 0.125),
    ],
)
def test_window_count_is_monais(shape, roi, overlap):
    assert math.prod(windows_along(s, r, overlap) for s, r in zip(shape, roi)) == monai_window_count(
        shape, roi, overlap
    )


def test_whole_volume_is_one_window_padded_to_the_size_contract():
    plan = plan_windows((182, 218, 61), (8, 8, 1), max_voxels=3_000_000, overlap=0.125)
    assert plan.roi_size == (184, 224, 61) and plan.count == 1


@pytest.mark.parametrize(
    "shape, max_voxels",
    [((184, 224, 61), 1_300_000), ((230, 230, 48), 1_000_000), ((61, 224, 184), 700_000), ((256, 256, 80), 1_500_000)],
)
def test_split_volume_uses_the_fewest_windows_that_fit(shape, max_voxels):
    multiple, overlap = (8, 8, 1), 0.125
    plan = plan_windows(shape, multiple, max_voxels, overlap)
    assert plan.count > 1 and plan.voxels <= max_voxels
    assert all(r % m == 0 for r, m in zip(plan.roi_size, multiple))
    assert plan.count == monai_window_count(shape, plan.roi_size, overlap)
    # no window shape of the contract that fits the budget gives fewer windows
    candidates = [range(m, math.ceil(s / m) * m + 1, m) for s, m in zip(shape, multiple)]
    fewest = min(
        windows_along(shape[0], x, overlap) * windows_along(shape[1], y, overlap) * windows_along(shape[2], z, overlap)
        for x in candidates[0]
        for y in candidates[1]
        for z in candidates[2]
        if x * y * z <= max_voxels
    )
    assert plan.count == fewest


def test_a_budget_below_one_window_is_refused():
    with pytest.raises(ValueError, match="memory_budget_mb"):
        plan_windows((60, 60, 10), (8, 8, 1), max_voxels=32, overlap=0.125)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_shape_only_trace_measures_what_a_real_forward_holds(precision):
    net = with_precision(get_network("saunet3d", **TINY_SAUNET).eval(), precision, "cpu")
    assert size_multiple(net) == (8, 8, 1)
    assert peak_activation_bytes(net, (1, 1, 32, 24, 5)) == peak_activation_bytes(net, (1, 1, 32, 24, 5), fake=False)
    assert peak_activation_bytes(net, (1, 1, 64, 48, 5)) == 4 * peak_activation_bytes(net, (1, 1, 32, 24, 5))


def test_bf16_halves_the_activation_bytes():
    net = get_network("saunet3d", **TINY_SAUNET).eval()
    fp32 = activation_bytes_per_voxel(with_precision(net, "fp32", "cpu"), 1)
    bf16 = activation_bytes_per_voxel(with_precision(net, "bf16", "cpu"), 1)
    assert bf16 == pytest.approx(fp32 / 2, rel=0.02)


@pytest.fixture
def tiny_net():
    torch.manual_seed(0)
    return get_network("saunet3d", **TINY_SAUNET).eval()


def test_one_window_over_the_whole_volume_is_monais_window_of_that_size(tiny_net, one_torch_thread):
    x = torch.randn(1, 1, 45, 37, 7)
    planned = ProbabilitySlidingWindowInferer(memory_budget_mb=64)
    with torch.no_grad():
        ours = planned(x, tiny_net)
        monai = SlidingWindowInferer((48, 40, 7), overlap=0.125, mode="gaussian")(
            x, lambda w: torch.softmax(tiny_net(w), dim=1)
        )
    assert planned.last_plan.count == 1 and planned.last_plan.roi_size == (48, 40, 7)
    assert ours.shape == (1, 3, 45, 37, 7)
    torch.testing.assert_close(ours, monai, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ours.sum(dim=1), torch.ones(1, 45, 37, 7))


def test_a_small_budget_splits_into_blended_windows(tiny_net, one_torch_thread):
    x = torch.randn(1, 1, 45, 37, 7)
    whole = ProbabilitySlidingWindowInferer(memory_budget_mb=64, flip_axes=[[0]])
    split = ProbabilitySlidingWindowInferer(memory_budget_mb=0.5, flip_axes=[[0]], overlap=0.25, mode="gaussian")
    with torch.no_grad():
        a, b = whole(x, tiny_net), split(x, tiny_net)
    plan = split.last_plan
    bytes_per_voxel = activation_bytes_per_voxel(tiny_net, 1)
    assert plan.count > 1 and plan.voxels * bytes_per_voxel <= 0.5 * 2**20
    assert b.shape == a.shape
    torch.testing.assert_close(b.sum(dim=1), torch.ones(1, 45, 37, 7))
    assert float((a - b).abs().mean()) < 0.05  # the same network, other context at the window borders


def test_foreground_box_is_the_head_and_its_margin_within_the_image():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(0, 2, (1, 1, 40, 30, 12)).astype(np.float32))  # air noise: 2 % of the head
    x[0, 0, 10:20, 5:25, 3:9] = 100.0
    x[0, 0, 12, 6, 4] = -20.0  # an interpolation undershoot inside the head
    assert foreground_box(x) == (slice(10, 20), slice(5, 25), slice(3, 9))
    assert foreground_box(x, margin=(2, 3, 1)) == (slice(8, 22), slice(2, 28), slice(2, 10))
    assert foreground_box(x, margin=8) == (slice(2, 28), slice(0, 30), slice(0, 12))
    assert foreground_box(x, margin=(20, 20, 20)) is None  # the whole image: nothing to crop
    assert foreground_box(torch.zeros(1, 1, 8, 8, 4)) is None


def test_cropped_inference_is_the_box_alone_with_background_around_it(tiny_net, one_torch_thread):
    x = torch.zeros(1, 1, 45, 37, 7)
    x[..., 10:30, 8:28, 1:6] = 3.0 + 0.1 * torch.randn(1, 1, 20, 20, 5, generator=torch.Generator().manual_seed(0))
    cropped = ProbabilitySlidingWindowInferer(memory_budget_mb=64, crop_foreground=True, crop_margin=(2, 2, 0))
    whole = ProbabilitySlidingWindowInferer(memory_budget_mb=64)
    with torch.no_grad():
        out = cropped(x, tiny_net)
        box = (slice(8, 32), slice(6, 30), slice(1, 6))
        alone = whole(x[(slice(None), slice(None), *box)], tiny_net)
    assert cropped.last_crop == box and cropped.last_plan.roi_size == (24, 24, 5)
    assert out.shape == (1, 3, 45, 37, 7)
    torch.testing.assert_close(out[(slice(None), slice(None), *box)], alone)
    outside = torch.ones(45, 37, 7, dtype=torch.bool)
    outside[box] = False
    assert bool((out[0, 0][outside] == 1).all()) and bool((out[0, 1:][:, outside] == 0).all())


def test_bundle_crops_a_head_in_a_large_field_of_view_and_maps_the_mask_back(tmp_path):
    padding = ((20, 12), (16, 8), (4, 2))
    src = write_nifti(tmp_path / "las.nii.gz", np.pad(phantom(), padding), AFFINES["LAS"])
    ckpt = intensity_checkpoint(tmp_path / "model.pt")
    assert run_bundle(tmp_path / "out", [str(src)], ckpt, patch_size=None) is None
    folder = tmp_path / "out" / "las"
    np.testing.assert_array_equal(
        np.asarray(nib.load(folder / "wmh_mask.nii.gz").dataobj), np.pad(blob_mask(), padding)
    )
    windows = json.loads((folder / "summary.json").read_text())["runtime"]["windows"]
    (x0, x1), (y0, y1), (z0, z1) = windows["crop"]  # network grid, RAS: the LAS x axis is flipped
    assert x1 - x0 < 72 and y1 - y0 < 60 and z1 - z0 < 16 and windows["roi_size"][0] < 72


def test_bundle_default_segments_the_whole_volume_in_one_window(tmp_path):
    src = write_nifti(tmp_path / "las.nii.gz", phantom(), AFFINES["LAS"])
    assert (
        run_bundle(tmp_path / "out", [str(src)], intensity_checkpoint(tmp_path / "model.pt"), patch_size=None) is None
    )
    folder = tmp_path / "out" / "las"
    np.testing.assert_array_equal(np.asarray(nib.load(folder / "wmh_mask.nii.gz").dataobj), blob_mask())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["runtime"]["windows"] == {"planned": True, "roi_size": [40, 36, 10], "count": 1, "crop": None}
    assert summary["config"]["patch_size"] is None and summary["config"]["memory_budget_mb"] == 1536
    stages = {
        "check",
        "hash",
        "load",
        "network",
        "plan",
        "invert",
        "lesions",
        "write_mask",
        "write_prob",
        "write_lesions",
        "write_qc",
        "write",
        "total",
    }
    assert set(summary["timing_s"]) == stages and all(v >= 0 for v in summary["timing_s"].values())


def test_bundle_with_a_small_budget_still_finds_the_blob(tmp_path):
    src = write_nifti(tmp_path / "ras.nii.gz", phantom(), AFFINES["RAS"])
    assert (
        run_bundle(
            tmp_path / "out",
            [str(src)],
            intensity_checkpoint(tmp_path / "model.pt"),
            patch_size=None,
            memory_budget_mb=0.02,
        )
        is None
    )
    folder = tmp_path / "out" / "ras"
    np.testing.assert_array_equal(np.asarray(nib.load(folder / "wmh_mask.nii.gz").dataobj), blob_mask())
    windows = json.loads((folder / "summary.json").read_text())["runtime"]["windows"]
    assert windows["planned"] and windows["count"] > 1


def test_bundle_refuses_a_budget_too_small_for_one_window(tmp_path):
    src = write_nifti(tmp_path / "ras.nii.gz", phantom(), AFFINES["RAS"])
    with pytest.raises(Exception) as info:
        run_bundle(
            tmp_path / "out",
            [str(src)],
            tiny_saunet_checkpoint(tmp_path / "model.pt"),
            patch_size=None,
            network_options=TINY_SAUNET,
            memory_budget_mb=0.0001,
        )
    cause = info.value
    while cause.__cause__ is not None:
        cause = cause.__cause__
    assert "memory_budget_mb" in str(cause)
