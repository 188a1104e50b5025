"""The training loss of the 3D SA-UNet reference code, as an alternative to MONAI's ``DiceCELoss``.

Guo C., 3D SA-UNet, arXiv:2309.08402, 2023: the published Keras code trains with
``100 * (binary_crossentropy + 1 - dice)`` on the softmax of the three classes.
Both terms pool every element of the batch:

* BCE: Keras binary cross-entropy of the softmax probabilities, clipped to
  ``[1e-7, 1 - 1e-7]``, against the one-hot target, averaged over all elements;
* Dice: one soft Dice over the whole flattened batch with the three channels pooled
  (background included), ``2 Σ p y / (Σ p + Σ y + 1e-5)``. Since both sums equal the number
  of voxels, this is in effect the mean probability of the true class, not a per-class Dice;
  it is reproduced as written.
"""

from __future__ import annotations

import torch
from monai.networks import one_hot
from torch import nn

__all__ = ["ReferenceDiceBCELoss"]


class ReferenceDiceBCELoss(nn.Module):
    """``scale * (BCE + 1 - pooled Dice)`` of softmax probabilities (see the module docstring).

    Args:
        scale: factor on the sum (100 in the reference code).
        clip: probabilities are clipped to ``[clip, 1 - clip]`` for the cross-entropy (Keras epsilon).
        smooth: added to the Dice denominator.

    ``forward(input, target)``: ``input`` holds logits ``(B, C, *spatial)``; ``target`` is a label
    map ``(B, 1, *spatial)`` with values in ``0..C-1`` or a one-hot ``(B, C, *spatial)`` tensor.
    """

    def __init__(self, scale: float = 100.0, clip: float = 1e-7, smooth: float = 1e-5) -> None:
        super().__init__()
        if not 0.0 <= clip < 0.5:
            raise ValueError(f"clip must lie in [0, 0.5), got {clip}")
        self.scale = float(scale)
        self.clip = float(clip)
        self.smooth = float(smooth)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n_classes = input.shape[1]
        if target.shape[1] == 1 and n_classes > 1:
            target = one_hot(target, num_classes=n_classes, dim=1)
        if target.shape != input.shape:
            raise ValueError(
                f"target {tuple(target.shape)} matches neither input {tuple(input.shape)} nor its label map"
            )
        target = target.to(input.dtype)
        probs = torch.softmax(input, dim=1)
        clipped = probs.clamp(self.clip, 1.0 - self.clip)
        bce = -(target * torch.log(clipped) + (1.0 - target) * torch.log(1.0 - clipped)).mean()
        dice = 2.0 * (probs * target).sum() / (probs.sum() + target.sum() + self.smooth)
        return self.scale * (bce + 1.0 - dice)
