"""Builders of the MONAI dictionary-transform lists used for training, validation and inference.

``preprocessing`` is deterministic (cacheable, invertible by ``Invertd``), ``patch_sampling``
draws training patches that favour lesions, and ``augmentation`` adds the random
augmentations, each switched and ranged by one entry of a plain JSON-friendly dict
(``DEFAULT_AUGMENTATION``), so a bundle config can expose it as a top-level id and
override single entries. In a bundle config a builder is a component (``_target_`` may
name a function), e.g.::

    "augmentation": {"flip": {"prob": 0.5}, "ghosting": {"prob": 0.0}},
    "train#deterministic_transforms": {"_target_": "wmhseg.transforms.preprocessing", "keys": ["image", "label"]},
    "imports": ["$import wmhseg.transforms as wt"],
    "train#random_transforms": "$wt.patch_sampling(@keys, @patch_size, 4) + wt.augmentation(@keys, @augmentation)"

(``$`` expressions need the module under a plain name, hence the ``as wt`` import).

Keys: every key except ``label_key`` and ``mask_key`` is an image (bilinear, normalised);
``label_key`` and ``mask_key`` are label maps (nearest).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from monai.data import ImageReader
from monai.transforms import (
    CastToTyped,
    EnsureChannelFirstd,
    LoadImaged,
    Orientationd,
    Rand3DElasticd,
    RandBiasFieldd,
    RandCropByLabelClassesd,
    RandFlipd,
    RandGaussianNoised,
    RandRicianNoised,
    RandRotate90d,
    RandRotated,
    RandScaleIntensityd,
    RandShiftIntensityd,
    RandTorchIOd,
    Spacingd,
    SpatialPadd,
    Transform,
)

from .labels import EnsureLabelClassesd
from .normalization import PAPER_GLOBAL_STATS, NormalizeFLAIRd
from .quadratic_bias import RandQuadraticBiasFieldd
from .raw_intensity import ApplyToRawIntensityd
from .transpose import RandTransposeAxesd

DEFAULT_TARGET_SPACING = (1.0, 1.0, 3.0)

#: Every augmentation with its probability and ranges; ``prob`` 0 switches one off.
#: Ranges are in voxels of the (resampled) patch and in normalised intensity units.
DEFAULT_AUGMENTATION: dict[str, dict[str, Any]] = {
    # spatial (image and labels alike)
    "flip": {"prob": 0.5, "axes": [0, 1, 2]},  # each axis independently (reference: X, Y, Z at 0.5)
    "rotate90": {"prob": 0.2, "max_k": 3},  # in-plane quarter turns (reference: one offline copy)
    "transpose": {"prob": 0.5},  # X <-> Y (reference: 0.5)
    "rotate": {"prob": 0.2, "range_deg": [3.0, 3.0, 10.0]},  # about X, Y, Z (Z: in-plane)
    "elastic": {"prob": 0.1, "sigma_range": [6.0, 9.0], "magnitude_range": [30.0, 80.0]},
    # intensity, on raw intensities (see ApplyToRawIntensityd)
    "bias_field": {"prob": 0.15, "degree": 3, "coeff_range": [0.0, 0.2]},
    "quadratic_bias": {"prob": 0.0},  # the quadratic field of the 3D SA-UNet code (Guo, arXiv:2309.08402)
    "ghosting": {"prob": 0.1, "num_ghosts": [2, 6], "intensity": [0.2, 0.6], "axes": [0, 1]},
    "motion": {"prob": 0.05, "degrees": 3.0, "translation": 3.0, "num_transforms": 2},
    "rician_noise": {"prob": 0.1, "std": 0.05},
    "scale_intensity": {"prob": 0.2, "factors": 0.1},  # gain x (1 + f), f in [-factors, factors]
    # intensity, on normalised values
    "gaussian_noise": {"prob": 0.1, "std": 0.05},
    "shift_intensity": {"prob": 0.0, "offsets": 0.1},  # the paper's "channel shift"; off as in the code
}


def _split_keys(keys: Sequence[str], label_key: str, mask_key: str | None) -> tuple[list[str], list[str]]:
    keys = [keys] if isinstance(keys, str) else list(keys)
    label_like = [k for k in keys if k == label_key or (mask_key is not None and k == mask_key)]
    images = [k for k in keys if k not in label_like]
    if not images:
        raise ValueError(f"keys {keys} hold no image key (everything is {label_key!r} or {mask_key!r})")
    return images, label_like


def _modes(keys: Sequence[str], images: Sequence[str], image_mode: str, label_mode: str) -> list[str]:
    return [image_mode if k in images else label_mode for k in keys]


def preprocessing(
    keys: Sequence[str] = ("image", "label"),
    target_spacing: Sequence[float] | None = DEFAULT_TARGET_SPACING,
    normalisation: str = "zscore_brain",
    global_stats: Sequence[float] = PAPER_GLOBAL_STATS,
    label_key: str = "label",
    mask_key: str | None = "brain_mask",
    spatial_pad: Sequence[int] | None = None,
    reader: str | ImageReader | None = None,
    num_classes: int = 3,
) -> list[Transform]:
    """Deterministic transforms from file paths to normalised, RAS, resampled tensors.

    Load (MONAI readers: NIfTI, and ITK formats such as .mha/.nrrd; ``reader`` is tried first,
    e.g. :class:`~wmhseg.transforms.IsalNibabelReader`), channel first,
    orientation to RAS, resampling to ``target_spacing`` (None keeps the native grid),
    optional zero padding to at least ``spatial_pad`` (in raw intensities, centred),
    intensity normalisation (``"zscore_brain"``, ``"zscore_nonzero"`` or ``"global"`` with
    ``global_stats``) and label checks (``num_classes`` classes, label 2 kept).
    Works without labels (``keys=("image",)`` for inference); every spatial step is
    recorded, so ``Invertd`` maps predictions back to the native grid and voxel order.
    """
    images, label_like = _split_keys(keys, label_key, mask_key)
    keys = images + label_like
    transforms: list[Transform] = [
        LoadImaged(keys, reader=reader, image_only=True, dtype=np.float32),
        EnsureChannelFirstd(keys),
        Orientationd(keys, axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
    ]
    if target_spacing is not None:
        if len(target_spacing) != 3 or min(target_spacing) <= 0:
            raise ValueError(f"target_spacing must be three positive sizes in mm or None, got {target_spacing}")
        transforms.append(
            Spacingd(
                keys,
                pixdim=tuple(float(s) for s in target_spacing),
                mode=_modes(keys, images, "bilinear", "nearest"),
                dtype=np.float32,
            )
        )
    if spatial_pad is not None:
        transforms.append(
            SpatialPadd(keys, spatial_size=tuple(int(s) for s in spatial_pad), method="symmetric", mode="constant")
        )
    transforms.append(
        NormalizeFLAIRd(
            images, mode=normalisation, mask_key=mask_key if mask_key in keys else None, global_stats=global_stats
        )
    )
    if label_key in label_like:
        transforms.append(EnsureLabelClassesd(label_key, num_classes=num_classes))
    if mask_key in label_like:
        transforms.append(EnsureLabelClassesd(mask_key, num_classes=2))
    return transforms


def patch_sampling(
    keys: Sequence[str] = ("image", "label"),
    patch_size: Sequence[int] = (96, 96, 16),
    num_samples: int = 4,
    pos_ratio: float = 2 / 3,
    other_ratio: float = 0.1,
    label_key: str = "label",
    mask_key: str | None = "brain_mask",
    num_classes: int = 3,
    ratios: Sequence[float] | None = None,
) -> list[Transform]:
    """Random training patches that favour lesions, padding volumes smaller than the patch.

    A share ``pos_ratio`` of the patches is centred on a lesion voxel: WMH (label 1), or
    other pathology (label 2) for ``other_ratio`` of those; the rest on background. With
    ``ratios`` (one weight per class) the centre class is drawn with those weights instead.
    A class absent from a subject is skipped. Volumes smaller than ``patch_size`` are padded
    with the raw-zero intensity (and label 0) first. Patch X and Y should be multiples of 8
    for the 3D SA-UNet.
    """
    if not 0.0 <= pos_ratio <= 1.0 or not 0.0 <= other_ratio <= 1.0:
        raise ValueError(f"pos_ratio and other_ratio must lie in [0, 1], got {pos_ratio}, {other_ratio}")
    images, label_like = _split_keys(keys, label_key, mask_key)
    keys = images + label_like
    if label_key not in keys:
        raise ValueError(f"patch sampling needs the label key {label_key!r} in keys {keys}")
    patch_size = tuple(int(s) for s in patch_size)
    if ratios is None:
        ratios = [1.0 - pos_ratio, pos_ratio * (1.0 - other_ratio), pos_ratio * other_ratio] + [0.0] * (num_classes - 3)
    elif len(ratios) != num_classes or min(ratios) < 0 or sum(ratios) <= 0:
        raise ValueError(f"ratios must be {num_classes} non-negative weights, not all zero, got {list(ratios)}")
    return [
        ApplyToRawIntensityd(images, SpatialPadd(keys, spatial_size=patch_size, method="symmetric", mode="constant")),
        RandCropByLabelClassesd(
            keys,
            label_key=label_key,
            spatial_size=patch_size,
            ratios=list(ratios)[:num_classes],
            num_classes=num_classes,
            num_samples=int(num_samples),
            warn=False,
        ),
    ]


def merge_augmentation_params(
    defaults: Mapping[str, Mapping[str, Any]],
    params: Mapping[str, Mapping[str, Any]] | None,
    what: str = "augmentation",
) -> dict[str, dict[str, Any]]:
    """A copy of ``defaults`` with the entries of ``params`` merged in; unknown names or parameters are an error
    whose message calls the entries ``what``."""
    merged = copy.deepcopy({name: dict(entry) for name, entry in defaults.items()})
    for name, entry in (params or {}).items():
        if name not in merged:
            raise ValueError(f"unknown {what} {name!r}; known: {', '.join(merged)}")
        unknown = set(entry) - set(merged[name])
        if unknown:
            raise ValueError(f"{what} {name!r}: unknown parameter(s) {sorted(unknown)}; known: {sorted(merged[name])}")
        merged[name].update(copy.deepcopy(dict(entry)))
    return merged


def augmentation_params(params: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """``DEFAULT_AUGMENTATION`` with the entries of ``params`` merged in (unknown names are an error)."""
    return merge_augmentation_params(DEFAULT_AUGMENTATION, params)


def augmentation(
    keys: Sequence[str] = ("image", "label"),
    params: Mapping[str, Mapping[str, Any]] | None = None,
    label_key: str = "label",
    mask_key: str | None = "brain_mask",
    patch_size: Sequence[int] | None = None,
) -> list[Transform]:
    """Random augmentations for training patches; ``params`` overrides ``DEFAULT_AUGMENTATION`` entries.

    Spatial transforms move images and labels alike (labels with nearest interpolation).
    Intensity transforms touch images only; the physical ones (bias field, ghosting,
    motion, Rician noise, gain) act on raw intensities through ``ApplyToRawIntensityd``.
    Ghosting and motion are TorchIO's ``RandomGhosting`` and ``RandomMotion`` through
    MONAI's ``RandTorchIOd``. With ``patch_size``, in-plane quarter turns and
    transposition are refused for non-square patches (they would change the shape).
    """
    p = augmentation_params(params)
    images, label_like = _split_keys(keys, label_key, mask_key)
    keys = images + label_like
    nearest = _modes(keys, images, "bilinear", "nearest")
    if patch_size is not None and patch_size[0] != patch_size[1]:
        turning = [name for name in ("rotate90", "transpose") if p[name]["prob"] > 0]
        if turning:
            raise ValueError(
                f"{' and '.join(turning)} need a square in-plane patch, got {tuple(patch_size)}; set their prob to 0"
            )
    out: list[Transform] = []
    if p["flip"]["prob"] > 0:
        out += [RandFlipd(keys, prob=p["flip"]["prob"], spatial_axis=int(axis)) for axis in p["flip"]["axes"]]
    if p["rotate90"]["prob"] > 0:
        out.append(
            RandRotate90d(keys, prob=p["rotate90"]["prob"], max_k=int(p["rotate90"]["max_k"]), spatial_axes=(0, 1))
        )
    if p["transpose"]["prob"] > 0:
        out.append(RandTransposeAxesd(keys, prob=p["transpose"]["prob"], spatial_axes=(0, 1)))
    if p["rotate"]["prob"] > 0:
        rx, ry, rz = (math.radians(float(a)) for a in p["rotate"]["range_deg"])
        out.append(
            RandRotated(
                keys,
                range_x=rx,
                range_y=ry,
                range_z=rz,
                prob=p["rotate"]["prob"],
                keep_size=True,
                mode=nearest,
                padding_mode="border",
                dtype=np.float32,
            )
        )
    if p["elastic"]["prob"] > 0:
        out.append(
            Rand3DElasticd(
                keys,
                sigma_range=tuple(p["elastic"]["sigma_range"]),
                magnitude_range=tuple(p["elastic"]["magnitude_range"]),
                prob=p["elastic"]["prob"],
                mode=nearest,
                padding_mode="border",
            )
        )

    def raw(transform: Transform) -> Transform:
        return ApplyToRawIntensityd(images, transform)

    if p["bias_field"]["prob"] > 0:
        out.append(
            raw(
                RandBiasFieldd(
                    images,
                    degree=int(p["bias_field"]["degree"]),
                    coeff_range=tuple(p["bias_field"]["coeff_range"]),
                    prob=p["bias_field"]["prob"],
                )
            )
        )
    if p["quadratic_bias"]["prob"] > 0:
        out.append(raw(RandQuadraticBiasFieldd(images, prob=p["quadratic_bias"]["prob"])))
    g, m = p["ghosting"], p["motion"]
    torchio = {  # TorchIO's ghosting and motion through RandTorchIOd
        "ghosting": (
            "RandomGhosting",
            dict(num_ghosts=tuple(g["num_ghosts"]), axes=tuple(g["axes"]), intensity=tuple(g["intensity"])),
        ),
        "motion": (
            "RandomMotion",
            dict(
                degrees=float(m["degrees"]),
                translation=float(m["translation"]),
                num_transforms=int(m["num_transforms"]),
            ),
        ),
    }
    for entry, (name, kwargs) in torchio.items():
        if p[entry]["prob"] > 0:
            out.append(raw(RandTorchIOd(images, name, p=p[entry]["prob"], **kwargs)))
    if p["rician_noise"]["prob"] > 0:
        out.append(raw(RandRicianNoised(images, prob=p["rician_noise"]["prob"], std=p["rician_noise"]["std"])))
    if p["scale_intensity"]["prob"] > 0:
        out.append(
            raw(RandScaleIntensityd(images, factors=p["scale_intensity"]["factors"], prob=p["scale_intensity"]["prob"]))
        )
    if p["gaussian_noise"]["prob"] > 0:
        out.append(RandGaussianNoised(images, prob=p["gaussian_noise"]["prob"], std=p["gaussian_noise"]["std"]))
    if p["shift_intensity"]["prob"] > 0:
        out.append(
            RandShiftIntensityd(images, offsets=p["shift_intensity"]["offsets"], prob=p["shift_intensity"]["prob"])
        )
    out.append(CastToTyped(keys, dtype=np.float32))
    return out
