"""Helpers shared by the inference tests: phantom volumes with known geometry, checkpoints, bundle runs.

The "intensity network" is a 1×1×1 convolution (1 → 3 channels) whose WMH probability
exceeds 0.5 exactly where the normalised intensity exceeds 2.  Being voxel-wise, it makes
the whole chain (reorientation, resampling, windows, inversion) observable: on an input
whose grid needs no resampling, the mask must be exactly the phantom's bright blob, in
the input's own voxel order.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
import torch

from wmhseg.bundle import run_workflow
from wmhseg.inference import SubjectsFailedError

ROOT = Path(__file__).resolve().parents[1]
INFERENCE_JSON = ROOT / "bundle" / "configs" / "inference.json"

SHAPE = (40, 36, 10)
BLOB = (slice(8, 14), slice(10, 15), slice(3, 6))
"""Voxel box of the bright lesion: off-centre on every axis, so any flip or axis swap moves it."""

INTENSITY_NET = {"_target_": "torch.nn.Conv3d", "in_channels": 1, "out_channels": 3, "kernel_size": 1}
TINY_SAUNET = {"channels": [8, 8, 16, 16]}
"""``network_options`` of a tiny 3D SA-UNet."""


def phantom(shape: tuple[int, int, int] = SHAPE, blob: tuple[slice, ...] = BLOB, seed: int = 0) -> np.ndarray:
    """A float32 head: zero air, an ellipsoid of tissue around 100, and a box of 1000 at ``blob``."""
    rng = np.random.default_rng(seed)
    x, y, z = np.ogrid[: shape[0], : shape[1], : shape[2]]
    c = [(s - 1) / 2 for s in shape]
    inside = ((x - c[0]) / (0.47 * shape[0])) ** 2 + ((y - c[1]) / (0.47 * shape[1])) ** 2 + (
        (z - c[2]) / (0.6 * shape[2])
    ) ** 2 < 1
    data = np.zeros(shape, dtype=np.float32)
    data[inside] = 100 + rng.normal(0, 5, int(inside.sum()))
    data[blob] = 1000
    return data


def blob_mask(shape: tuple[int, int, int] = SHAPE, blob: tuple[slice, ...] = BLOB) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[blob] = 1
    return mask


def rotation(degrees_z: float, degrees_x: float) -> np.ndarray:
    a, b = np.radians(degrees_z), np.radians(degrees_x)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


def affine(linear: np.ndarray, origin: tuple[float, float, float]) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = linear
    out[:3, 3] = origin
    return out


AFFINES = {
    "RAS": affine(np.diag([1.0, 1.0, 3.0]), (-20.0, -18.0, -15.0)),
    "LPS": affine(np.diag([-1.0, -1.0, 3.0]), (20.0, 18.0, -15.0)),
    "LAS": affine(np.diag([-1.0, 1.0, 3.0]), (20.0, -18.0, -15.0)),
    "oblique": affine(rotation(20, 10) @ np.diag([0.9, 1.1, 3.0]), (-12.5, 3.0, 7.25)),
}
"""Voxel → RAS world matrices the geometry tests cover; the first three need no resampling at 1×1×3 mm."""


def write_nifti(path: Path, data: np.ndarray, aff: np.ndarray, sform_code: int = 1, qform_code: int = 1) -> Path:
    img = nib.Nifti1Image(data, None)
    img.header.set_sform(aff, code=sform_code)
    if qform_code:
        img.header.set_qform(aff, code=qform_code)
    nib.save(img, str(path))
    return path


def write_itk(path: Path, data: np.ndarray, aff_ras: np.ndarray) -> Path:
    """Write ``data`` (I, J, K order) with the RAS affine ``aff_ras`` as an ITK image (LPS geometry)."""
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff_ras
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    image = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(o) for o in lps[:3, 3]))
    image.SetDirection(tuple(float(d) for d in (lps[:3, :3] / spacing).ravel()))
    sitk.WriteImage(image, str(path))
    return path


def intensity_checkpoint(path: Path) -> Path:
    """State dict of :data:`INTENSITY_NET`: logits (2, x, -20), so P(WMH) > 0.5 iff the normalised x > 2."""
    weight = torch.zeros(3, 1, 1, 1, 1)
    weight[1] = 1.0
    torch.save({"weight": weight, "bias": torch.tensor([2.0, 0.0, -20.0])}, path)
    return path


def tiny_saunet_checkpoint(path: Path, seed: int = 0) -> Path:
    from wmhseg.networks import get_network

    torch.manual_seed(seed)
    net = get_network("saunet3d", channels=[8, 8, 16, 16])
    torch.save(net.state_dict(), path)
    return path


def meta_file(folder: Path) -> Path:
    path = folder / "metadata.json"
    path.write_text(
        json.dumps(
            {"version": "0.0.0-test", "monai_version": "1.6.1", "pytorch_version": "2.13.0", "numpy_version": "2.4.6"}
        )
    )
    return path


def run_bundle(output_dir: Path, inputs, checkpoint: Path, **overrides) -> SubjectsFailedError | None:
    """Run ``inference.json`` in-process (:func:`wmhseg.bundle.run_workflow`); return the failure report, if any."""
    # the intensity network thresholds the normalised intensity at 2, calibrated on the z-score over non-zero
    # voxels (an Otsu brain mask would single out the 10x-bright blob of these phantoms as the foreground)
    settings = {"patch_size": [32, 32, 8], "progress": False, "normalisation": "zscore_nonzero"}
    if "network_options" not in overrides:  # the config's own network when the caller picks its options
        settings["network_def"] = INTENSITY_NET
    settings.update(overrides)
    try:
        run_workflow(
            str(INFERENCE_JSON),
            "inference",
            "infer",
            meta_file=str(meta_file(output_dir.parent)),
            logging_file=False,
            bundle_root=str(output_dir.parent),
            input=inputs,
            output_dir=str(output_dir),
            ckpt_file=str(checkpoint),
            **settings,
        )
    except RuntimeError as err:
        cause = err
        while cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, SubjectsFailedError):
            return cause
        raise
    return None


def read_csv(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


ANATOMY_NET = {**INTENSITY_NET, "out_channels": 6}
"""A 1×1×1 convolution with the six anatomy classes (:func:`anatomy_checkpoint`)."""
ANATOMY_LEVELS = {"air": 0.0, "ventricles": 30.0, "brain": 100.0, "wmh": 1000.0}
"""Raw intensities that :func:`anatomy_checkpoint` maps to background, ventricles, brain and WMH."""


def anatomy_checkpoint(path: Path) -> Path:
    """State dict of :data:`ANATOMY_NET` for the ``"global"`` normalisation: the class of a voxel is background,
    lateral ventricles, other brain or WMH where its raw intensity is under 15, 15-65, 65-500 or over 500, with
    margins that make the softmax 0 or 1 at the :data:`ANATOMY_LEVELS`."""
    from wmhseg.transforms.normalization import PAPER_GLOBAL_STATS

    mean, std = PAPER_GLOBAL_STATS
    steps = [(raw - mean) / std for raw in (15.0, 65.0, 500.0)]
    # softmax of lines: each class wins on an interval, in the order of the slopes (background 0 < ventricles < ...)
    slopes = {0: 0.0, 3: 100.0, 4: 200.0, 1: 300.0}
    biases = {0: 0.0, 3: -100 * steps[0], 4: -100 * (steps[0] + steps[1]), 1: -100 * sum(steps)}
    weight = torch.zeros(6, 1, 1, 1, 1)
    bias = torch.full((6,), -1e4)
    for c in slopes:
        weight[c] = slopes[c]
        bias[c] = biases[c]
    torch.save({"weight": weight, "bias": bias}, path)
    return path
