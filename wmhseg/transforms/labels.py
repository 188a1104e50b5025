"""Label maps of the WMH challenge convention: 0 background, 1 WMH, 2 other pathology.

Label 2 is kept as a class of its own (the 3D SA-UNet trains three classes). The transform
rounds interpolation noise away, checks that every value is a known class and raises an
error naming the file otherwise (e.g. a {0, 255} mask), so a wrong label never reaches
training silently.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform


class EnsureLabelClassesd(MapTransform):
    """Round label maps to integers, check they lie in ``[0, num_classes)`` and store them as float32.

    Args:
        keys: label keys.
        num_classes: number of classes (3 for background, WMH, other pathology; 2 for a brain mask).
        tolerance: largest distance from an integer accepted before rounding.
    """

    def __init__(
        self, keys: KeysCollection, num_classes: int = 3, tolerance: float = 1e-3, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.num_classes = int(num_classes)
        self.tolerance = float(tolerance)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            label = d[key]
            source = label.meta.get("filename_or_obj", key) if isinstance(label, MetaTensor) else key
            values = label.float() if isinstance(label, torch.Tensor) else torch.as_tensor(label).float()
            rounded = torch.round(values)  # a MetaTensor stays one, with its metadata
            if float((values - rounded).abs().max()) > self.tolerance:
                raise ValueError(
                    f"{source}: label map has non-integer values (e.g. "
                    f"{float(values[(values - rounded).abs() > self.tolerance][0])}); "
                    "was it resampled with linear interpolation?"
                )
            found = torch.unique(rounded)
            unknown = found[(found < 0) | (found >= self.num_classes)]
            if unknown.numel():
                raise ValueError(
                    f"{source}: label values {unknown.tolist()} outside 0..{self.num_classes - 1} "
                    f"(found {found.tolist()})"
                )
            d[key] = rounded
        return d
