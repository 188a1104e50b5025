"""Sliding-window inference that returns class probabilities, with windows planned from the volume.

With ``roi_size=None`` (the default) the window is planned per volume
(:mod:`~wmhseg.inference.windows`): the whole volume, padded to the network's size contract,
in one forward pass whenever the network's activations for it fit ``memory_budget_mb``, with
no blending at all; otherwise the fewest windows that fit, blended by MONAI's
``sliding_window_inference`` with ``overlap``.  A fixed ``roi_size`` gives MONAI's sliding
windows of that size, as before.

With ``crop_foreground`` the network sees only the head: the bounding box of the voxels well above
the background (:func:`wmhseg.reporting.qc.foreground`, the QC mosaics' head), plus ``crop_margin``
voxels.  Outside it every voxel is background (probability 1 for class 0).  For a skull-stripped
1 mm MNI volume the box is about 41 % of the grid.  nnU-Net crops to the non-zero region in the
same way (Isensee et al., Nat. Methods 2021).  GroupNorm takes its statistics over the input, so
the crop also keeps the empty field of view around the head from changing the result.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.inferers import SlidingWindowInferer
from monai.transforms.utils import generate_spatial_bounding_box

from ..reporting.qc import foreground
from .windows import WindowPlan, activation_bytes_per_voxel, plan_windows, size_multiple

DEFAULT_MEMORY_BUDGET_MB = 1536.0
"""Default activation budget of one window: with the 3D SA-UNet it keeps the whole process under 3 GB of RSS."""


def foreground_box(inputs: torch.Tensor, margin: Sequence[int] | int = 0) -> tuple[slice, ...] | None:
    """Spatial slices of the head in ``inputs`` (B, C, *spatial); None when nothing stands out or the box is all.

    The head is :func:`wmhseg.reporting.qc.foreground` of the whole batch (the voxels well above the
    background, whatever the intensity normalisation) in any batch item and channel; the box grows by
    ``margin`` voxels per side, within the image.
    """
    data = inputs.as_tensor() if isinstance(inputs, MetaTensor) else inputs
    head = torch.from_numpy(foreground(data.detach().float().cpu().numpy())).flatten(0, 1).any(0, keepdim=True)
    start, end = generate_spatial_bounding_box(head, margin=margin, allow_smaller=True)
    if not all(e > s for s, e in zip(start, end)) or (not any(start) and list(end) == list(data.shape[2:])):
        return None
    return tuple(slice(int(s), int(e)) for s, e in zip(start, end))


class ProbabilitySlidingWindowInferer(SlidingWindowInferer):
    """:class:`~monai.inferers.SlidingWindowInferer` whose output is the softmax over classes.

    Each window's logits are turned into probabilities (in float32, also under autocast)
    before blending, so the stitched output is a probability map whatever the blending
    mode.  With ``flip_axes`` the probabilities of each window are averaged over the
    identity and one flipped copy per entry (test-time augmentation): ``[[0], [1]]``
    adds a flip along the first and one along the second spatial axis.  With
    ``crop_foreground`` only the head's bounding box (:func:`foreground_box`) is inferred.

    Args:
        roi_size: fixed window size, or None to plan the windows per volume (see the module docstring).
        flip_axes: spatial axes (0-based) to flip, one list per extra pass.
        memory_budget_mb: planned windows only: the most memory the network's activations of
            one window may take (their peak during the forward pass, in MB of 2**20 bytes).
        crop_foreground: infer the head's bounding box only; background (class 0) elsewhere.
        crop_margin: voxels added to each side of that box (one value, or one per spatial axis).
        kwargs: the other arguments of :class:`~monai.inferers.SlidingWindowInferer`
            (``sw_batch_size``, ``overlap``, ``mode``, ``device``, ``progress``, ...).

    After each call, ``last_plan`` holds the windows used (None with a fixed ``roi_size``),
    ``last_plan_seconds`` the time taken to plan them (with the trace of :meth:`measure` if it was not
    done before) and ``last_crop`` the spatial slices inferred (None: the whole input).

    ``forward``: ``inputs`` (B, C_in, *spatial) → probabilities (B, C_out, *spatial), float32.
    """

    def __init__(
        self,
        roi_size: Sequence[int] | int | None = None,
        flip_axes: Sequence[Sequence[int]] = (),
        memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
        crop_foreground: bool = False,
        crop_margin: Sequence[int] | int = 0,
        **kwargs: Any,
    ) -> None:
        if memory_budget_mb <= 0:
            raise ValueError(f"memory_budget_mb must be positive, got {memory_budget_mb}")
        super().__init__(roi_size if roi_size is not None else -1, **kwargs)
        self.planned = roi_size is None
        self.memory_budget_mb = float(memory_budget_mb)
        self.flip_axes = [tuple(int(a) + 2 for a in axes) for axes in flip_axes]
        self.last_plan: WindowPlan | None = None
        self.last_plan_seconds = 0.0
        self.crop_foreground = bool(crop_foreground)
        self.crop_margin = crop_margin
        self.last_crop: tuple[slice, ...] | None = None
        self._bytes_per_voxel: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def measure(self, network: torch.nn.Module, in_channels: int, device: torch.device | str = "cpu") -> float:
        """Measure (once per network) and return the activation bytes per voxel of ``network``.

        The shape-only trace (:func:`~wmhseg.inference.windows.activation_bytes_per_voxel`) takes
        about a second the first time in a process (torch sets up its fake tensors), so the bundle
        calls this while it initialises, with the network; otherwise the first planned call does.
        """
        if network not in self._bytes_per_voxel:
            self._bytes_per_voxel[network] = activation_bytes_per_voxel(network, in_channels, device)
        return self._bytes_per_voxel[network]

    def plan(self, inputs: torch.Tensor, network: torch.nn.Module) -> WindowPlan:
        """The windows for ``inputs`` (B, C, *spatial) under the memory budget."""
        bytes_per_voxel = self.measure(network, inputs.shape[1], self.sw_device or inputs.device)
        max_voxels = int(self.memory_budget_mb * 2**20 / bytes_per_voxel)
        return plan_windows(inputs.shape[2:], size_multiple(network), max_voxels, self.overlap)

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any, **kwargs: Any) -> Any:
        self.last_crop = crop = foreground_box(inputs, self.crop_margin) if self.crop_foreground else None
        if crop is None:
            return self._infer(inputs, network, *args, **kwargs)
        data = inputs.as_tensor() if isinstance(inputs, MetaTensor) else inputs
        inner = self._infer(data[(slice(None), slice(None), *crop)], network, *args, **kwargs)
        out = inner.new_zeros((inner.shape[0], inner.shape[1], *data.shape[2:]))
        out[:, 0] = 1.0
        out[(slice(None), slice(None), *crop)] = inner
        if isinstance(inputs, MetaTensor):
            out = MetaTensor(out).copy_meta_from(inputs, copy_attr=False)
        return out

    def _infer(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any, **kwargs: Any) -> Any:
        """Probabilities over all of ``inputs``: planned (one window or the fewest) or fixed windows."""

        def probabilities(window: torch.Tensor, *a: Any, **k: Any) -> torch.Tensor:
            total = torch.softmax(network(window, *a, **k).float(), dim=1)
            for dims in self.flip_axes:
                flipped = torch.softmax(network(torch.flip(window, dims), *a, **k).float(), dim=1)
                total = total + torch.flip(flipped, dims)
            return total / (1 + len(self.flip_axes))

        if not self.planned:
            return super().__call__(inputs, probabilities, *args, **kwargs)
        start = time.perf_counter()
        self.last_plan = plan = self.plan(inputs, network)
        self.last_plan_seconds = time.perf_counter() - start
        if plan.count > 1:
            self.roi_size = plan.roi_size
            return super().__call__(inputs, probabilities, *args, **kwargs)
        return self._whole(inputs, probabilities, plan.roi_size, *args, **kwargs)

    def _whole(
        self,
        inputs: torch.Tensor,
        probabilities: Callable[..., torch.Tensor],
        roi: Sequence[int],
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        """One forward pass over ``inputs`` padded (centred, like MONAI's windows) to ``roi``; no blending."""
        data = inputs.as_tensor() if isinstance(inputs, MetaTensor) else inputs
        spatial = data.shape[2:]
        pad: list[int] = []
        for size, target in zip(reversed(spatial), reversed(tuple(roi))):  # F.pad lists the last axis first
            diff = target - size
            pad += [diff // 2, diff - diff // 2]
        window = F.pad(data, pad, mode=self.padding_mode, value=self.cval) if any(pad) else data
        out = probabilities(window.to(self.sw_device or data.device), *args, **kwargs)
        crop = tuple(slice(pad[2 * i], pad[2 * i] + size) for i, size in enumerate(reversed(spatial)))[::-1]
        out = out[(slice(None), slice(None), *crop)].to(self.device or inputs.device)
        if isinstance(inputs, MetaTensor):
            out = MetaTensor(out).copy_meta_from(inputs, copy_attr=False)
        return out
