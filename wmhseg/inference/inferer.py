"""Sliding-window inference that returns class probabilities, optionally averaged over flips."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.inferers import SlidingWindowInferer


class ProbabilitySlidingWindowInferer(SlidingWindowInferer):
    """:class:`~monai.inferers.SlidingWindowInferer` whose output is the softmax over classes.

    Each window's logits are turned into probabilities (in float32, also under AMP)
    before blending, so the stitched output is a probability map whatever the blending
    mode.  With ``flip_axes`` the probabilities of each window are averaged over the
    identity and one flipped copy per entry (test-time augmentation): ``[[0], [1]]``
    adds a flip along the first and one along the second spatial axis.

    Args:
        roi_size: window size (see the parent class).
        flip_axes: spatial axes (0-based) to flip, one list per extra pass.
        kwargs: the other arguments of :class:`~monai.inferers.SlidingWindowInferer`
            (``sw_batch_size``, ``overlap``, ``mode``, ``device``, ``progress``, ...).
    """

    def __init__(self, roi_size: Sequence[int] | int, flip_axes: Sequence[Sequence[int]] = (), **kwargs: Any) -> None:
        super().__init__(roi_size, **kwargs)
        self.flip_axes = [tuple(int(a) + 2 for a in axes) for axes in flip_axes]

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any, **kwargs: Any) -> Any:
        def probabilities(window: torch.Tensor, *a: Any, **k: Any) -> torch.Tensor:
            total = torch.softmax(network(window, *a, **k).float(), dim=1)
            for dims in self.flip_axes:
                flipped = torch.softmax(network(torch.flip(window, dims), *a, **k).float(), dim=1)
                total = total + torch.flip(flipped, dims)
            return total / (1 + len(self.flip_axes))

        return super().__call__(inputs, probabilities, *args, **kwargs)
