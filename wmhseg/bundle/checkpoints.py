"""Checkpoints that are never left half-written and that survive a resume.

:class:`AtomicCheckpointSaver` writes ``torch.save`` output to a temporary file in the
target folder and renames it into place, so an interrupted run leaves either the previous
checkpoint or the new one.  It saves either every ``every`` epochs (the "latest" checkpoint
used to resume) or when a key metric improves (the "best" checkpoint); its own state (the
best value so far) can itself be checkpointed so that a resumed run keeps comparing against
the right value.  Only rank 0 of a distributed run writes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events
from torch.nn.parallel import DataParallel, DistributedDataParallel

from ..io import atomic_open
from .distributed import is_rank0

logger = logging.getLogger(__name__)


def _state_dict(obj: Any) -> Any:
    if isinstance(obj, (DataParallel, DistributedDataParallel)):
        obj = obj.module
    return obj.state_dict()


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj, path)`` through a temporary file in the same folder and ``os.replace``."""
    with atomic_open(path, "wb") as stream:
        torch.save(obj, stream)


class AtomicCheckpointSaver:
    """Save the state dicts of ``save_dict`` to ``save_dir/filename`` at epoch ends.

    Args:
        save_dir: output folder, created if needed.
        save_dict: name -> object with ``state_dict()``; a single entry is saved as its bare
            state dict (so ``{"model": network}`` gives a plain network state dict).
        filename: file name, overwritten at each save.
        key_metric: if given, save only when ``engine.state.metrics[key_metric]`` improves
            (NaN never does); otherwise save every ``every`` epochs.
        mode: ``"max"`` or ``"min"``: which direction of ``key_metric`` is better.
        every: epoch interval of unconditional saves.
    """

    def __init__(
        self,
        save_dir: str,
        save_dict: Mapping[str, Any],
        filename: str,
        key_metric: str | None = None,
        mode: str = "max",
        every: int = 1,
    ) -> None:
        if not save_dict:
            raise ValueError("save_dict must name at least one object to checkpoint.")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}.")
        self.path = Path(save_dir) / filename
        self.save_dict = dict(save_dict)
        self.key_metric = key_metric
        self.mode = mode
        self.every = int(every)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=1 if self.key_metric else self.every), self)

    def _improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def __call__(self, engine: Engine) -> None:
        if self.key_metric is not None:
            value = engine.state.metrics.get(self.key_metric)
            if value is None or not self._improved(float(value)):
                return
            self.best, self.best_epoch = float(value), int(engine.state.epoch)
        if not is_rank0():
            return
        if len(self.save_dict) == 1:
            content = _state_dict(next(iter(self.save_dict.values())))
        else:
            content = {name: _state_dict(obj) for name, obj in self.save_dict.items()}
        atomic_torch_save(content, self.path)
        logger.info(
            f"saved checkpoint {self.path}" + (f" ({self.key_metric}={self.best:.4f})" if self.key_metric else "")
        )

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
