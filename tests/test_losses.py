"""The reference code's loss, 100 x (BCE + 1 - pooled Dice), against the formula written out in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bundle_helpers import CONFIGS, TRAIN
from monai.bundle import ConfigParser

from wmhseg.losses import ReferenceDiceBCELoss


def _numpy_reference(logits: np.ndarray, labels: np.ndarray) -> float:
    """Keras-style: softmax, one-hot, clipped BCE over all elements, one Dice over everything."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    y = np.stack([labels[:, 0] == c for c in range(logits.shape[1])], axis=1).astype(np.float64)
    q = np.clip(p, 1e-7, 1 - 1e-7)
    bce = -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))
    dice = 2 * np.sum(p * y) / (np.sum(p) + np.sum(y) + 1e-5)
    return 100 * (bce + 1 - dice)


def test_matches_the_formula_for_label_maps_and_one_hot_targets():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (2, 3, 6, 5, 4))
    labels = rng.integers(0, 3, (2, 1, 6, 5, 4))
    loss = ReferenceDiceBCELoss()
    value = loss(torch.tensor(logits), torch.tensor(labels, dtype=torch.float64))
    assert float(value) == pytest.approx(_numpy_reference(logits, labels), rel=1e-9)
    one_hot = torch.nn.functional.one_hot(torch.tensor(labels[:, 0]), 3).permute(0, 4, 1, 2, 3)
    assert float(loss(torch.tensor(logits), one_hot)) == pytest.approx(float(value), rel=1e-12)


def test_confident_right_answers_cost_almost_nothing_and_gradients_flow():
    labels = torch.randint(0, 3, (1, 1, 4, 4, 2))
    logits = (torch.nn.functional.one_hot(labels[:, 0], 3).permute(0, 4, 1, 2, 3).float() * 40.0).requires_grad_()
    assert float(ReferenceDiceBCELoss()(logits, labels)) < 1e-3
    wrong = torch.zeros(1, 3, 4, 4, 2, requires_grad=True)
    value = ReferenceDiceBCELoss()(wrong, labels)
    value.backward()
    assert float(value) > 10 and wrong.grad.abs().sum() > 0


def test_mismatched_target_is_refused():
    with pytest.raises(ValueError, match="matches neither"):
        ReferenceDiceBCELoss()(torch.zeros(1, 3, 4, 4, 2), torch.zeros(1, 2, 4, 4, 2))


def test_bundle_overlay_swaps_the_loss():
    parser = ConfigParser()
    parser.read_config([TRAIN, str(CONFIGS / "reference_loss.json")])
    loss = parser.get_parsed_content("loss")
    assert isinstance(loss, ReferenceDiceBCELoss) and loss.scale == 100.0
    logits, labels = torch.randn(1, 3, 8, 8, 4), torch.randint(0, 3, (1, 1, 8, 8, 4)).float()
    assert float(loss(logits, labels)) == pytest.approx(
        _numpy_reference(logits.double().numpy(), labels.numpy()), rel=1e-5
    )
