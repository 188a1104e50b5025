"""Apply an intensity transform as if to the raw scanner intensities of a normalised image.

Normalisation (``NormalizeFLAIRd``) maps raw intensity r to (r - m) / s and records where
raw zero went, z = -m / s, in the image's metadata (``RAW_ZERO_KEY``). Physical artefacts
act on raw intensities: a bias field or a receiver gain multiplies them, ghosting and
motion are linear in k-space, Rician noise is added to the complex signal. Applied to
``x - z`` and shifted back, they act on the normalised image exactly as on the raw one
up to the scale s. Where no value is recorded, the image minimum stands in for raw
zero (in FLAIR, CSF and background are both near zero).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Randomizable, Transform

RAW_ZERO_KEY = "wmhseg_raw_zero"


def raw_zero(image: Any) -> float:
    """Normalised value of raw intensity zero: from the metadata, else the image minimum."""
    if isinstance(image, MetaTensor) and RAW_ZERO_KEY in image.meta:
        return float(image.meta[RAW_ZERO_KEY])
    return float(image.min())


class ApplyToRawIntensityd(MapTransform, Randomizable):
    """Run ``transform`` (a dictionary transform) on ``keys`` shifted so raw zero is at zero, then shift back.

    Other entries of the dictionary (labels) pass to ``transform`` unshifted. The
    metadata of each image is kept even when ``transform`` returns plain tensors.
    """

    def __init__(self, keys: KeysCollection, transform: Transform, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.transform = transform

    def set_random_state(self, seed: int | None = None, state: Any = None) -> ApplyToRawIntensityd:
        super().set_random_state(seed, state)
        if isinstance(self.transform, Randomizable):
            self.transform.set_random_state(seed, state)
        return self

    def randomize(self, data: Any = None) -> None:
        """Randomness belongs to the wrapped transform."""

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        shifts = {}
        for key in self.key_iterator(d):
            shifts[key] = (raw_zero(d[key]), d[key].meta if isinstance(d[key], MetaTensor) else None, d[key].dtype)
            d[key] = d[key] - shifts[key][0]
        d = dict(self.transform(d))
        for key, (zero, meta, dtype) in shifts.items():
            out = torch.as_tensor(d[key]) + zero
            if meta is not None and not isinstance(out, MetaTensor):
                out = MetaTensor(out, meta=meta)
            d[key] = out.to(dtype)
        return d
