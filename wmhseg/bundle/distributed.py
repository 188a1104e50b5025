"""Small pieces for multi-process training with ``torchrun`` (DistributedDataParallel)."""

from __future__ import annotations

import logging

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True inside an initialised ``torch.distributed`` process group."""
    return dist.is_available() and dist.is_initialized()


def is_rank0() -> bool:
    """True outside ``torch.distributed`` and on its rank 0."""
    return not is_distributed() or dist.get_rank() == 0


def default_backend() -> str:
    """``"nccl"`` when CUDA is available, ``"gloo"`` on CPU."""
    return "nccl" if torch.cuda.is_available() else "gloo"


def from_rank_zero(value: float) -> float:
    """``value`` as computed on rank 0, on every rank (identity outside ``torch.distributed``).

    Every rank validates on the whole validation set, so their metrics agree up to
    floating-point nondeterminism; decisions such as a plateau learning-rate step must
    not differ between ranks, so they use rank 0's value.
    """
    if not is_distributed():
        return value
    box = [float(value)]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def quiet_other_ranks(level: int = logging.WARNING) -> None:
    """Raise the root logger's level to ``level`` on ranks other than 0, so that only rank 0 reports progress."""
    if not is_rank0():
        logging.getLogger().setLevel(level)
