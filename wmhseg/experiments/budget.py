"""Compute budgets of an experiment: how long and how large each bundle training is.

A budget is a set of top-level overrides of ``bundle/configs/train.json`` (epochs,
iterations per epoch, patch size, batch size, resampling grid, network width, data
loading and sliding-window settings) plus the number of QC images logged per
evaluation.  Three presets:

* ``tiny``: a smoke test that finishes on a laptop CPU in seconds per run
  (1 epoch of 2 iterations, 32×32×8 patches on a coarse 3×3×6 mm grid, networks with
  widths 8-8-16-16); its scores mean nothing;
* ``small``: a short CPU/GPU run with the full-width networks (10 epochs of 20
  iterations on 96×96×16 patches at the native 1×1×3 mm grid);
* ``paper``: the bundle's defaults, the paper's recipe (70 epochs over every batch,
  256×256×32 slabs, batch 4; Guo, arXiv:2309.08402).

Any field can be overridden (``Budget.replace(epochs=3)`` or the pipelines' command-line
options).  ``None`` leaves the bundle's default in place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BUDGETS", "Budget", "get_budget"]


@dataclass(frozen=True)
class Budget:
    """The size of every training of an experiment; ``None`` keeps the bundle's default.

    Args:
        name: the preset it came from (``custom`` once a field is changed).
        epochs: training epochs (``epochs``).
        epoch_length: iterations per epoch (``epoch_length``); None: every batch.
        patch_size: training patch and sliding-window size (``patch_size``).
        batch_size: patches per iteration (``batch_size``).
        target_spacing: resampling grid in mm (``target_spacing``).
        channels: the four network widths (``network_options["channels"]``), accepted
            by every Table 1 / Table 2 preset.
        num_workers: data-loader workers (``num_workers``).
        cache_rate: share of the volumes cached in memory (``cache_rate``).
        sw_batch_size: sliding windows per forward pass (``sw_batch_size``).
        sw_overlap: sliding-window overlap (``sw_overlap``).
        qc_cases: evaluation cases drawn as QC images (0: none).
    """

    name: str = "custom"
    epochs: int | None = None
    epoch_length: int | None = None
    patch_size: tuple[int, int, int] | None = None
    batch_size: int | None = None
    target_spacing: tuple[float, float, float] | None = None
    channels: tuple[int, int, int, int] | None = None
    num_workers: int | None = None
    cache_rate: float | None = None
    sw_batch_size: int | None = None
    sw_overlap: float | None = None
    qc_cases: int = 4

    def replace(self, **changes: Any) -> Budget:
        """A copy with ``changes`` applied (``None`` values ignored); named ``custom`` if anything changed."""
        changes = {key: value for key, value in changes.items() if value is not None}
        for key in ("patch_size", "target_spacing", "channels"):
            if key in changes:
                changes[key] = tuple(changes[key])
        if not changes:
            return self
        updated = dataclasses.replace(self, **changes)
        return updated if updated == self else dataclasses.replace(updated, name="custom")

    def overrides(self) -> dict[str, Any]:
        """The top-level bundle overrides of this budget."""
        overrides: dict[str, Any] = {}
        for key in ("epochs", "epoch_length", "batch_size", "num_workers", "cache_rate", "sw_batch_size", "sw_overlap"):
            value = getattr(self, key)
            if value is not None:
                overrides[key] = value
        for key in ("patch_size", "target_spacing"):
            value = getattr(self, key)
            if value is not None:
                overrides[key] = list(value)
        if self.channels is not None:
            overrides["network_options"] = {"channels": list(self.channels)}
        return overrides

    def describe(self) -> str:
        """One line for run descriptions, e.g. ``tiny: 1 epoch x 2 iterations, patch 32x32x8, ...``."""
        epochs = "default epochs" if self.epochs is None else f"{self.epochs} epoch{'s' * (self.epochs != 1)}"
        length = "all batches" if self.epoch_length is None else f"{self.epoch_length} iterations"
        parts = [f"{epochs} x {length}"]
        if self.patch_size is not None:
            parts.append("patch " + "x".join(str(p) for p in self.patch_size))
        if self.target_spacing is not None:
            parts.append("grid " + "x".join(f"{s:g}" for s in self.target_spacing) + " mm")
        parts.append("widths " + ("-".join(str(c) for c in self.channels) if self.channels else "as published"))
        return f"{self.name}: " + ", ".join(parts)

    def as_params(self) -> dict[str, str]:
        """The budget as flat MLflow parameters (``budget.<field>``)."""
        return {f"budget.{key}": str(value) for key, value in dataclasses.asdict(self).items()}


BUDGETS: Mapping[str, Budget] = {
    "tiny": Budget(
        name="tiny", epochs=1, epoch_length=2, patch_size=(32, 32, 8), batch_size=2, target_spacing=(3.0, 3.0, 6.0),
        channels=(8, 8, 16, 16), num_workers=0, cache_rate=1.0, sw_batch_size=8, sw_overlap=0.0, qc_cases=1,
    ),
    "small": Budget(
        name="small", epochs=10, epoch_length=20, patch_size=(96, 96, 16), batch_size=2, num_workers=2,
        sw_batch_size=4, sw_overlap=0.25, qc_cases=4,
    ),
    "paper": Budget(name="paper", qc_cases=4),
}  # fmt: skip


def get_budget(name: str, **changes: Any) -> Budget:
    """The preset ``name`` (``tiny``, ``small`` or ``paper``) with ``changes`` applied."""
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r}; choose one of {sorted(BUDGETS)}")
    return BUDGETS[name].replace(**changes)
