"""Values of 2D training slices: 8-bit pictures (LGG ``.tif``) or scanner intensities (NIfTI slices).

The LGG brain-MRI slices are 8-bit RGB pictures with 8-bit masks (0 and 255); the SA-UNet
brain notebook divides both by 255 and thresholds the mask at 0.5.  Slices cut from
FLAIR volumes (:mod:`wmhseg.data.slices`) hold scanner intensities and {0, 1} masks.
These transforms tell the two apart by dtype and values, per file, so one pipeline serves
both; anything else raises an error naming the file.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, NormalizeIntensity


def _source(value: Any, key: Hashable) -> Any:
    return value.meta.get("filename_or_obj", key) if isinstance(value, MetaTensor) else key


class CheckChannelsd(MapTransform):
    """Raise ``ValueError`` naming the file when a channel-first image has not ``num_channels`` channels."""

    def __init__(self, keys: KeysCollection, num_channels: int, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.num_channels = int(num_channels)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            if d[key].shape[0] != self.num_channels:
                raise ValueError(
                    f"{_source(d[key], key)}: {key} has {d[key].shape[0]} channel(s), the network expects "
                    f"{self.num_channels} (in_channels; e.g. 3 for the RGB LGG slices, 1 for FLAIR slices)."
                )
        return d


class ScaleSliceIntensityd(MapTransform):
    """8-bit images (``uint8``) divided by 255 (the LGG recipe); others z-scored over their non-zero pixels.

    The output is float32.  Load the images with ``LoadImaged(..., dtype=None)`` so that their
    stored dtype reaches this transform.
    """

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.zscore = NormalizeIntensity(nonzero=True, dtype=torch.float32)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            if image.dtype == torch.uint8:
                d[key] = image.float() / 255.0
            else:
                d[key] = self.zscore(image.float())
        return d


class EnsureBinaryMaskd(MapTransform):
    """Masks as float32 {0, 1}: 8-bit masks (``uint8`` with maximum 255) thresholded at 128, others checked.

    ``x >= 128`` is the notebook's ``x / 255 > 0.5`` on 8-bit values.  A mask that is not an
    8-bit mask must hold only 0 and 1; other values (e.g. a 3-class WMH label map) raise
    ``ValueError`` naming the file.
    """

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            mask = d[key]
            if mask.dtype == torch.uint8 and int(mask.max()) == 255:
                d[key] = (mask >= 128).float()
                continue
            values = torch.unique(mask)
            if not bool(((values == 0) | (values == 1)).all()):
                raise ValueError(
                    f"{_source(mask, key)}: {key} is not a binary mask (values {values.tolist()[:8]}); "
                    "expected 0/1, or 0/255 in an 8-bit file."
                )
            d[key] = mask.float()
        return d
