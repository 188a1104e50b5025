"""Builders of the transform lists for the 2D networks: whole slices at a fixed size, and the LGG recipe's augmentation.

The 2D counterparts of :mod:`.volume_lists` (``bundle/configs/train_2d.json`` uses them).
Slices are either the LGG brain-MRI ``.tif`` pictures (RGB, 8-bit masks) or axial NIfTI
slices of FLAIR volumes (:func:`wmhseg.data.slices.axial_slice_datalist`); see
:mod:`.slice_values` for how their values are handled.

``DEFAULT_SLICE_AUGMENTATION`` is the Keras ``ImageDataGenerator`` of the SA-UNet brain-MRI notebook
(suniash/brain_mri_segmentation, on the LGG data of Buda et al. 2019): rotation range 0.25°, shifts of 5 % of the size, shear 0.05°,
zoom ±5 % per axis, horizontal flips; out-of-image pixels take the nearest edge value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from monai.transforms import (
    EnsureChannelFirstd,
    LoadImaged,
    RandAffined,
    RandFlipd,
    ResizeWithPadOrCropd,
    Spacingd,
    Transform,
)

from .slice_values import CheckChannelsd, EnsureBinaryMaskd, ScaleSliceIntensityd
from .volume_lists import merge_augmentation_params

#: Keras ImageDataGenerator settings of the LGG notebook; ``prob`` 0 switches an entry off.
DEFAULT_SLICE_AUGMENTATION: dict[str, dict[str, Any]] = {
    "flip": {"prob": 0.5, "axes": [0]},  # axis 0: left-right (the width of a .tif, R-L of an axial slice)
    "affine": {"prob": 1.0, "rotate_deg": 0.25, "shift": 0.05, "shear_deg": 0.05, "zoom": 0.05},
}


def slice_augmentation_params(params: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """``DEFAULT_SLICE_AUGMENTATION`` with the entries of ``params`` merged in (unknown names are an error)."""
    return merge_augmentation_params(DEFAULT_SLICE_AUGMENTATION, params, what="slice augmentation")


def slice_preprocessing(
    keys: Sequence[str] = ("image", "label"),
    in_channels: int = 1,
    spatial_size: Sequence[int] = (256, 256),
    pixdim: Sequence[float] | None = (1.0, 1.0),
    label_key: str = "label",
) -> list[Transform]:
    """Deterministic transforms from slice files to ``in_channels`` × ``spatial_size`` tensors.

    Load (PIL for ``.tif``/``.png``, nibabel for NIfTI), channel first, check the channel
    count (``in_channels`` for images, 1 for the label), scale intensities (8-bit: ÷255,
    otherwise z-score over non-zero pixels), make the label a {0, 1} mask, resample to
    ``pixdim`` (mm; a picture without spacing counts as 1 mm, so LGG slices keep their
    size; None keeps every grid), then centre-pad or crop to ``spatial_size``.
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    images = [k for k in keys if k != label_key]
    labels = [k for k in keys if k == label_key]
    if len(spatial_size) != 2:
        raise ValueError(f"spatial_size must be two sizes (a 2D slice), got {list(spatial_size)}.")
    transforms: list[Transform] = [
        LoadImaged(keys, image_only=True, dtype=None),
        EnsureChannelFirstd(keys),
        CheckChannelsd(images, in_channels),
        ScaleSliceIntensityd(images),
    ]
    if labels:
        transforms += [CheckChannelsd(labels, 1), EnsureBinaryMaskd(labels)]
    if pixdim is not None:
        if len(pixdim) != 2 or min(pixdim) <= 0:
            raise ValueError(f"pixdim must be two positive sizes in mm or None, got {pixdim}.")
        modes = ["nearest" if k in labels else "bilinear" for k in keys]
        transforms.append(Spacingd(keys, pixdim=[float(p) for p in pixdim], mode=modes, dtype=np.float32))
    transforms.append(ResizeWithPadOrCropd(keys, spatial_size=[int(s) for s in spatial_size]))
    return transforms


def slice_augmentation(
    keys: Sequence[str] = ("image", "label"),
    params: Mapping[str, Mapping[str, Any]] | None = None,
    spatial_size: Sequence[int] = (256, 256),
    label_key: str = "label",
) -> list[Transform]:
    """Random flips and one random affine (rotation, shift, shear, zoom) per slice.

    ``params`` overrides entries of :data:`DEFAULT_SLICE_AUGMENTATION`; shifts are fractions
    of ``spatial_size``, angles in degrees.  Labels use nearest-neighbour interpolation.
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    p = slice_augmentation_params(params)
    transforms: list[Transform] = []
    if p["flip"]["prob"] > 0:
        transforms += [RandFlipd(keys, prob=p["flip"]["prob"], spatial_axis=int(a)) for a in p["flip"]["axes"]]
    affine = p["affine"]
    if affine["prob"] > 0:
        transforms.append(
            RandAffined(
                keys,
                prob=affine["prob"],
                rotate_range=math.radians(affine["rotate_deg"]),
                shear_range=[math.tan(math.radians(affine["shear_deg"]))] * 2,
                translate_range=[affine["shift"] * int(s) for s in spatial_size],
                scale_range=[affine["zoom"]] * 2,
                mode=["nearest" if k == label_key else "bilinear" for k in keys],
                padding_mode="border",
            )
        )
    return transforms
