"""Loading trained weights into the inference network, with errors that say what to do.

The bundle's ``models/model.pt`` is a network ``state_dict`` (what the training
config's ``CheckpointSaver`` writes).  It is always read with ``weights_only=True``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn

from ..io import sha256_file

TRAIN_HINT = (
    "train one with `python -m monai.bundle run --config_file configs/train.json` in the bundle folder "
    "(README, 'Training'), which saves models/model.pt, or point inference at an existing checkpoint with "
    "`--ckpt_file PATH` (bundle) / `--ckpt PATH` (wmhseg predict)"
)


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable, or does not fit the network."""


def _state_dict(checkpoint: object, path: Path, key: str | None) -> Mapping[str, torch.Tensor]:
    if key is not None:
        if not isinstance(checkpoint, Mapping) or key not in checkpoint:
            raise CheckpointError(f"{path}: has no entry {key!r}")
        checkpoint = checkpoint[key]
    elif isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("model"), Mapping):
        checkpoint = checkpoint["model"]  # {"model": state_dict, ...} as saved with several objects
    if not isinstance(checkpoint, Mapping) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise CheckpointError(f"{path}: is not a network state_dict (a mapping of parameter names to tensors)")
    if checkpoint and all(k.startswith("module.") for k in checkpoint):  # saved from DistributedDataParallel
        checkpoint = {k[len("module."):]: v for k, v in checkpoint.items()}
    return checkpoint


def _mismatch(network: nn.Module, state: Mapping[str, torch.Tensor]) -> str:
    expected = network.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    parts = []
    for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if names:
            parts.append(f"{len(names)} {label} (e.g. {', '.join(names[:3])})")
    return "; ".join(parts)


def load_network_weights(network: nn.Module, path: str | os.PathLike, key: str | None = None) -> nn.Module:
    """Load the state_dict at ``path`` into ``network`` (strictly) and return the network.

    Accepts a plain state_dict, ``{"model": state_dict, ...}`` or, with ``key``, any
    nested entry; a ``module.`` prefix from DistributedDataParallel is removed.

    Raises:
        CheckpointError: the file is missing or unreadable, or its parameters do not match
            the network (names and shapes); the message says how to get a checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no trained weights at {path}: {TRAIN_HINT}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and weights-only errors
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint ({' '.join(str(err).split())[:200]})") from err
    state = _state_dict(checkpoint, path, key)
    problem = _mismatch(network, state)
    if problem:
        raise CheckpointError(
            f"{path}: does not fit the network {type(network).__name__} ({problem}); it was probably trained with "
            f"another network preset or width; set `network_preset`/`network_def` to the training's, or {TRAIN_HINT}"
        )
    network.load_state_dict(state, strict=True)
    return network


def checkpoint_info(path: str | os.PathLike | None) -> dict:
    """``{"checkpoint": path, "checkpoint_sha256": hex}`` for a checkpoint file, or Nones without one."""
    if path is None or not Path(path).is_file():
        return {"checkpoint": None if path is None else str(path), "checkpoint_sha256": None}
    return {"checkpoint": str(Path(path).absolute()), "checkpoint_sha256": sha256_file(path)}
