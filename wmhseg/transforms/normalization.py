"""FLAIR intensity normalisation: z-score inside the brain (default) or the paper's global statistics.

Modes:
- ``"zscore_brain"``: (x - mean) / std over the brain mask when the data carries one
  (``mask_key``), otherwise over the head foreground found by Otsu's threshold (which,
  in FLAIR, also leaves out most CSF and, for stripped images, the zero background).
- ``"zscore_nonzero"``: statistics over the non-zero voxels (skull-stripped inputs).
- ``"global"``: one fixed mean and std for every subject, as the 3D SA-UNet code does
  (Guo, arXiv:2309.08402; ``test.py`` fixes mean 39.941482263808105, std 136.52766677127232).

The normalised value of raw zero is recorded in the image metadata (``RAW_ZERO_KEY``) so
that intensity augmentations can act on raw intensities (``ApplyToRawIntensityd``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from .raw_intensity import RAW_ZERO_KEY

NORMALISATION_MODES = ("zscore_brain", "zscore_nonzero", "global")
PAPER_GLOBAL_STATS = (39.941482263808105, 136.52766677127232)


def otsu_threshold(values: torch.Tensor, bins: int = 256) -> float:
    """Otsu's threshold of a 1D tensor of intensities (maximum between-class variance)."""
    values = values.double()
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return lo
    hist = torch.histc(values, bins=bins, min=lo, max=hi)
    centres = lo + (torch.arange(bins, dtype=torch.float64) + 0.5) * (hi - lo) / bins
    weight_low = torch.cumsum(hist, 0)
    weight_high = weight_low[-1] - weight_low
    sum_low = torch.cumsum(hist * centres, 0)
    mean_low = sum_low / weight_low.clamp(min=1)
    mean_high = (sum_low[-1] - sum_low) / weight_high.clamp(min=1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    index = int(torch.argmax(between[:-1]))
    return float(lo + (index + 1) * (hi - lo) / bins)


def _source(image: Any) -> str:
    if isinstance(image, MetaTensor):
        return str(image.meta.get("filename_or_obj", "image"))
    return "image"


class NormalizeFLAIRd(MapTransform):
    """Normalise FLAIR intensities (see the module docstring for the modes).

    Args:
        keys: image keys to normalise.
        mode: ``"zscore_brain"``, ``"zscore_nonzero"`` or ``"global"``.
        mask_key: key of a brain mask in the data; used by ``"zscore_brain"`` when present.
        global_stats: (mean, std) for ``"global"``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        mode: str = "zscore_brain",
        mask_key: str | None = "brain_mask",
        global_stats: Sequence[float] = PAPER_GLOBAL_STATS,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if mode not in NORMALISATION_MODES:
            raise ValueError(f"unknown normalisation {mode!r}; use one of {NORMALISATION_MODES}")
        if len(global_stats) != 2 or not global_stats[1] > 0:
            raise ValueError(f"global_stats must be (mean, std > 0), got {global_stats}")
        self.mode = mode
        self.mask_key = mask_key
        self.global_stats = (float(global_stats[0]), float(global_stats[1]))

    def statistics(self, image: torch.Tensor, mask: torch.Tensor | None) -> tuple[float, float]:
        """(mean, std) used for ``image``."""
        if self.mode == "global":
            return self.global_stats
        values = torch.as_tensor(image).reshape(-1)
        if self.mode == "zscore_nonzero":
            selected = values[values != 0]
        elif mask is not None:
            selected = values[torch.as_tensor(mask).reshape(-1) > 0]
        else:
            selected = values[values > otsu_threshold(values)]
        if selected.numel() < 2:
            selected = values
        selected = selected.double()
        mean, std = float(selected.mean()), float(selected.std())
        return mean, (std if std > 0 and np.isfinite(std) else 1.0)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        mask = d.get(self.mask_key) if self.mask_key is not None and self.mode == "zscore_brain" else None
        for key in self.key_iterator(d):
            image = d[key]
            if not torch.is_floating_point(torch.as_tensor(image)):
                image = image.float() if isinstance(image, torch.Tensor) else torch.as_tensor(image).float()
            if mask is not None and tuple(mask.shape[1:]) != tuple(image.shape[1:]):
                raise ValueError(
                    f"{_source(image)}: brain mask shape {tuple(mask.shape)} differs from the image's "
                    f"{tuple(image.shape)}"
                )
            mean, std = self.statistics(image, mask)
            out = (image - mean) / std
            if isinstance(out, MetaTensor):
                out.meta[RAW_ZERO_KEY] = -mean / std
            d[key] = out
        return d
