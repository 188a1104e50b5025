"""Loading trained weights into the inference network, with errors that say what to do.

The bundle's ``models/model.pt`` is a network ``state_dict`` (what the training
config's ``CheckpointSaver`` writes).  It is always read with ``weights_only=True``.
Every :class:`CheckpointError` names the file, says what is wrong with it (missing, not
a checkpoint, a pickled object instead of weights, another network or preset, another
number of classes, other widths) and how to fix it.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..io import sha256_file

TRAIN_HINT = (
    "train one with `python -m monai.bundle run --config_file configs/train.json` in the bundle folder "
    "(README, 'Training'), which saves models/model.pt, or point inference at an existing checkpoint with "
    "`--ckpt_file PATH` (bundle) / `--ckpt PATH` (wmhseg predict)"
)
NETWORK_HINT = (
    "pick the network the checkpoint was trained with: `--network NAME` and `--set network_options=...` "
    "(wmhseg predict) or `--network_preset NAME` and `--network_options ...` (bundle); the training's MLflow run "
    "lists them as its network_preset and network.* parameters"
)


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable, or does not fit the network."""


def _unreadable(path: Path, err: Exception) -> str:
    """Why ``torch.load`` could not read ``path``, in one line."""
    text = str(err)
    pickled = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if pickled:
        return (
            f"holds a pickled Python object ({pickled.group(1)}), not a state_dict of weights, and only weights "
            "are loaded (torch.load with weights_only=True, for safety); re-save it from a trusted session with "
            "`torch.save(model.state_dict(), PATH)`"
        )
    with open(path, "rb") as stream:
        head = stream.read(4)
    if head == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        return "is a damaged or truncated PyTorch checkpoint (its zip archive is incomplete); copy or save it again"
    return "is not a PyTorch checkpoint (torch.load cannot read it as a file written by torch.save)"


def read_checkpoint(path: str | os.PathLike) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, with errors that name the file.

    Raises:
        CheckpointError: the file is missing, empty, damaged, not a ``torch.save`` file, or
            holds pickled objects other than tensors and plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no trained weights at {path}: {TRAIN_HINT}")
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"{path}: is empty (0 bytes), not a checkpoint; it was probably cut off while being "
            f"written or copied; {TRAIN_HINT}"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and weights-only errors of every kind
        raise CheckpointError(f"{path}: {_unreadable(path, err)}; {TRAIN_HINT}") from None


def _state_dict(checkpoint: object, path: Path, key: str | None) -> Mapping[str, torch.Tensor]:
    if key is not None:
        if not isinstance(checkpoint, Mapping) or key not in checkpoint:
            raise CheckpointError(f"{path}: has no entry {key!r}")
        checkpoint = checkpoint[key]
    elif isinstance(checkpoint, Mapping):
        # {"model": state_dict, ...} as saved with several objects; {"network": ...} is the training's latest.pt
        checkpoint = next(
            (checkpoint[k] for k in ("model", "network") if isinstance(checkpoint.get(k), Mapping)), checkpoint
        )
    if not isinstance(checkpoint, Mapping) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise CheckpointError(
            f"{path}: is not a network state_dict (a mapping of parameter names to tensors); {TRAIN_HINT}"
        )
    if checkpoint and all(k.startswith("module.") for k in checkpoint):  # saved from DistributedDataParallel
        checkpoint = {k[len("module.") :]: v for k, v in checkpoint.items()}
    return checkpoint


def _class_counts(shapes: Mapping[str, tuple[tuple[int, ...], tuple[int, ...]]]) -> tuple[int, int] | None:
    """(checkpoint, network) number of output classes when they are all that differs between the two.

    That is the case when every differing dimension of every differing tensor has one and the
    same pair of sizes (the head's output channels, and a layer after it that takes them as input).
    """
    pairs = {(a, b) for ckpt, net in shapes.values() if len(ckpt) == len(net) for a, b in zip(ckpt, net) if a != b}
    same_rank = all(len(ckpt) == len(net) for ckpt, net in shapes.values())
    return next(iter(pairs)) if same_rank and len(pairs) == 1 else None


def _presets_with_layers(names: set[str]) -> list[str]:
    """Registered network presets (default widths) whose parameter names are ``names``."""
    from ..networks import get_network, list_networks

    found = []
    for preset in list_networks():
        try:
            with torch.device("meta"):  # no memory, no initialisation
                keys = set(get_network(preset).state_dict())
        except Exception:  # a preset that cannot be built without arguments cannot be what was saved
            continue
        if keys == names:
            found.append(preset)
    return found


def _mismatch(network: nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> str | None:
    """What keeps ``state`` from loading into ``network`` and how to fix it; None when it fits."""
    expected = network.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = {
        k: (tuple(state[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    }
    if not (missing or unexpected or shapes):
        return None
    name = type(network).__name__
    if not (missing or unexpected):
        classes = _class_counts(shapes)
        if classes is not None:
            return (
                f"{path}: has the wrong number of classes for the network {name}: the checkpoint's output head "
                f"has {classes[0]} classes, the network's {classes[1]}; set the network's out_channels to "
                f'{classes[0]} (`--set network_options={{"out_channels": {classes[0]}}}` with wmhseg predict, '
                f"`--network_options#out_channels {classes[0]}` with the bundle), or use a checkpoint trained "
                f"for {classes[1]} classes"
            )
        examples = ", ".join(f"{k} {a} vs {b}" for k, (a, b) in list(shapes.items())[:3])
        return (
            f"{path}: has the layers of the network {name} but other widths ({len(shapes)} tensors of another "
            f"shape, e.g. {examples}); {NETWORK_HINT}"
        )
    parts = [
        f"{len(names)} {label} (e.g. {', '.join(names[:3])})"
        for label, names in (("missing", missing), ("unexpected", unexpected))
        if names
    ]
    presets = _presets_with_layers(set(state))
    fits = (
        f"its layers are those of the preset{'s' if len(presets) > 1 else ''} {' or '.join(presets)}"
        if presets
        else "its layers are those of none of the registered presets"
    )
    return (
        f"{path}: does not fit the network {name}, it was trained with another network ({'; '.join(parts)}); "
        f"{fits}; {NETWORK_HINT}"
    )


def load_network_weights(network: nn.Module, path: str | os.PathLike, key: str | None = None) -> nn.Module:
    """Load the state_dict at ``path`` into ``network`` (strictly) and return the network.

    Accepts a plain state_dict, ``{"model": state_dict, ...}``, the training's ``latest.pt``
    (``{"network": state_dict, ...}``) or, with ``key``, any nested entry; a ``module.``
    prefix from DistributedDataParallel is removed.

    Raises:
        CheckpointError: the file is missing or unreadable (:func:`read_checkpoint`), or its
            parameters do not match the network: another network or preset (the presets
            that it fits are named), another number of output classes (both counts are
            given) or other widths; the message says how to fix it.
    """
    path = Path(path)
    state = _state_dict(read_checkpoint(path), path, key)
    problem = _mismatch(network, state, path)
    if problem:
        raise CheckpointError(problem)
    network.load_state_dict(state, strict=True)
    return network


def average_state_dicts(paths: Sequence[str | os.PathLike]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the network weights in ``paths``, each in any form :func:`load_network_weights`
    accepts (a state_dict, ``{"model": ...}``, the training's ``latest.pt``).

    Averaging the snapshots of one training run along its trajectory (stochastic weight averaging,
    Izmailov et al., "Averaging weights leads to wider optima and better generalization", UAI 2018)
    damps the step-to-step noise of small-batch training. The mean is taken in float64 and stored in
    each tensor's own dtype.

    Raises:
        CheckpointError: no path, an unreadable file, or weights whose names or shapes differ from the first's.
    """
    if not paths:
        raise CheckpointError("no checkpoints to average")
    first = Path(paths[0])
    reference = _state_dict(read_checkpoint(first), first, None)
    shapes = {k: v.shape for k, v in reference.items()}
    total = {k: v.double() for k, v in reference.items()}
    for path in map(Path, paths[1:]):
        state = _state_dict(read_checkpoint(path), path, None)
        if {k: v.shape for k, v in state.items()} != shapes:
            raise CheckpointError(f"{path}: its weights differ in names or shapes from those of {first}")
        for k, v in state.items():
            total[k] += v.double()
    return {k: (v / len(paths)).to(reference[k].dtype) for k, v in total.items()}


def checkpoint_info(path: str | os.PathLike | None) -> dict:
    """``{"checkpoint": path, "checkpoint_sha256": hex}`` for a checkpoint file, or Nones without one."""
    if path is None or not Path(path).is_file():
        return {"checkpoint": None if path is None else str(path), "checkpoint_sha256": None}
    return {"checkpoint": str(Path(path).absolute()), "checkpoint_sha256": sha256_file(path)}
