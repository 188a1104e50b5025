"""Window planning for sliding-window inference: one window over the whole volume when it fits a memory budget.

A network's working memory grows with the voxels of the window it runs on.
:func:`activation_bytes_per_voxel` measures it without computing anything: it runs one
forward pass of the network on a *fake* input (``FakeTensorMode``: shapes, dtypes and
memory formats only, no data) and records the peak of the bytes held by the tensors that
the forward creates (:func:`peak_activation_bytes`: the network's activations at its
precision; the weights are not counted).  :func:`plan_windows` then chooses the window:

- the whole volume, padded up to the network's size contract (``size_multiple``, e.g.
  X and Y multiples of 8 for the 3D SA-UNet), when its activations fit the budget;
- otherwise the fewest windows (then the fewest computed voxels) that fit, each axis
  covered with the given overlap, counted as MONAI's ``sliding_window_inference`` counts
  them.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ..networks.precision import PrecisionNetwork

PROBE_SHAPE = (64, 64, 16)
"""Spatial size of the fake input that measures a network's activation bytes per voxel (rounded up to its multiple)."""


class _PeakTensorBytes(TorchDispatchMode):
    """Track the bytes of the storages created by the operators run under this mode, and their peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, list[int]] = {}  # storage id -> [bytes, live tensors using it]
        self.current = 0
        self.peak = 0

    def _release(self, key: int) -> None:
        entry = self.live[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            key = storage._cdata
            if key in self.live:
                self.live[key][1] += 1
            else:
                self.live[key] = [storage.nbytes(), 1]
                self.current += storage.nbytes()
                self.peak = max(self.peak, self.current)
            weakref.finalize(tensor, self._release, key)
        return out


def size_multiple(network: nn.Module) -> tuple[int, int, int]:
    """The network's size contract per spatial axis (its ``size_multiple``), (1, 1, 1) when it has none."""
    inner = network.network if isinstance(network, PrecisionNetwork) else network
    multiple = getattr(inner, "size_multiple", None)
    return tuple(int(m) for m in multiple) if multiple is not None else (1, 1, 1)


def peak_activation_bytes(
    network: nn.Module, shape: Sequence[int], device: torch.device | str = "cpu", fake: bool = True
) -> int:
    """Peak bytes held by the tensors that one forward of ``network`` on a ``shape`` (B, C, *spatial) input creates.

    With ``fake`` the input is a fake tensor (``FakeTensorMode``: shapes, dtypes and memory
    formats only), so nothing is computed or allocated; otherwise a real random input is run.
    The input itself is counted, the network's weights are not.
    """
    tracker = _PeakTensorBytes()
    with torch.inference_mode(), FakeTensorMode(allow_non_fake_inputs=True) if fake else nullcontext(), tracker:
        network(torch.randn(*shape, device=device))
    return tracker.peak


def activation_bytes_per_voxel(network: nn.Module, in_channels: int, device: torch.device | str = "cpu") -> float:
    """Peak activation bytes of one forward of ``network`` per input voxel, from a shape-only trace.

    The trace (:func:`peak_activation_bytes`) runs on a fake ``(1, in_channels, *PROBE_SHAPE)``
    input (rounded up to the network's :func:`size_multiple`); under autocast
    (:class:`~wmhseg.networks.precision.PrecisionNetwork`) the bf16 activations count two bytes
    each.  Activations grow linearly with the window, so the value scales to any window size.
    """
    shape = [math.ceil(s / m) * m for s, m in zip(PROBE_SHAPE, size_multiple(network))]
    return peak_activation_bytes(network, (1, in_channels, *shape), device) / math.prod(shape)


def windows_along(size: int, roi: int, overlap: float) -> int:
    """Windows of ``roi`` voxels that MONAI's ``sliding_window_inference`` places along an axis of ``size`` voxels."""
    if roi >= size:
        return 1
    interval = max(int(roi * (1 - overlap)), 1)
    return math.ceil((size - roi) / interval) + 1


def _splits(most: Sequence[int], bound: int, prefix: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    """Every tuple of splits per axis (at most ``most[i]`` on axis i) whose product is at most ``bound``."""
    if len(prefix) == len(most):
        yield prefix
        return
    used = math.prod(prefix)
    for n in range(1, min(most[len(prefix)], bound // used) + 1):
        yield from _splits(most, bound, (*prefix, n))


@dataclass(frozen=True)
class WindowPlan:
    """The windows for one volume: ``roi_size`` per axis and how many windows that makes (``count``)."""

    roi_size: tuple[int, int, int]
    count: int

    @property
    def voxels(self) -> int:
        """Voxels of one window."""
        return math.prod(self.roi_size)


def plan_windows(shape: Sequence[int], multiple: Sequence[int], max_voxels: int, overlap: float) -> WindowPlan:
    """The window for a volume of ``shape``: the whole (padded) volume if it fits, else the fewest windows that fit.

    Args:
        shape: spatial size of the volume on the network grid.
        multiple: the network's size contract per axis; windows are multiples of it.
        max_voxels: the largest window (in voxels) that fits the memory budget.
        overlap: overlap of neighbouring windows (fraction of the window) when there are several.

    Raises:
        ValueError: not even the smallest window (one ``multiple``) fits.
    """
    whole = tuple(math.ceil(s / m) * m for s, m in zip(shape, multiple))
    if math.prod(whole) <= max_voxels:
        return WindowPlan(whole, 1)
    most = [math.ceil(s / m) for s, m in zip(shape, multiple)]  # splits per axis down to one multiple

    def window(splits: Sequence[int]) -> tuple[int, ...]:
        """The smallest window (multiple of the contract) covering each axis with its number of overlapping windows."""
        return tuple(
            math.ceil(math.ceil(s / (n - (n - 1) * overlap)) / m) * m for s, m, n in zip(shape, multiple, splits)
        )

    def count(roi: Sequence[int]) -> int:
        return math.prod(windows_along(s, r, overlap) for s, r in zip(shape, roi))

    # splitting every axis alike fits for some k; its window count bounds the splits worth trying
    even = next(
        (k for k in range(1, max(most) + 1) if math.prod(window([min(k, n) for n in most])) <= max_voxels), None
    )
    if even is None:
        raise ValueError(
            f"no window fits the memory budget ({max_voxels} voxels; the smallest window is "
            f"{'x'.join(map(str, multiple))}); raise memory_budget_mb"
        )
    roi = window([min(even, n) for n in most])
    best = (count(roi), count(roi) * math.prod(roi), roi)
    for splits in _splits(most, best[0]):
        roi = window(splits)
        if math.prod(roi) <= max_voxels and (count(roi), count(roi) * math.prod(roi)) < best[:2]:
            best = (count(roi), count(roi) * math.prod(roi), roi)
    return WindowPlan(best[2], best[0])
