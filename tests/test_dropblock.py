"""DropBlock: drop statistics, eval-mode identity, block shapes, rescaling, MONAI factory registration."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Dropout

from wmhseg.networks.layers import DropBlock, DropBlock2d, DropBlock3d

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    "layer, shape",
    [
        (DropBlock2d(p=0.18, block_size=7), (8, 16, 64, 64)),
        (DropBlock2d(p=0.1, block_size=3), (8, 16, 48, 48)),
        (DropBlock3d(p=0.15, block_size=(5, 5, 1)), (4, 8, 32, 32, 12)),
    ],
)
def test_expected_drop_fraction(layer: DropBlock, shape: tuple[int, ...]) -> None:
    """Over many feature maps the dropped fraction is close to p (blocks overlap a little: slightly below)."""
    torch.manual_seed(0)
    layer.train()
    out = layer(torch.ones(shape))
    dropped = (out == 0).float().mean().item()
    # Overlapping blocks make the fraction 1 - exp(-p) rather than p in the limit.
    expected = 1 - torch.exp(torch.tensor(-layer.p)).item()
    assert abs(dropped - expected) < 0.015, (dropped, expected)


def test_identity_in_eval_mode_and_at_zero_probability() -> None:
    x = torch.randn(2, 4, 16, 16)
    layer = DropBlock2d(p=0.5, block_size=5).eval()
    assert layer(x) is x
    assert DropBlock2d(p=0.0).train()(x) is x


def test_kept_values_are_rescaled_by_numel_over_kept() -> None:
    torch.manual_seed(1)
    x = torch.randn(2, 3, 32, 32)
    out = DropBlock2d(p=0.3, block_size=5).train()(x)
    kept = out != 0
    scale = x.numel() / kept.sum().item()
    torch.testing.assert_close(out[kept], x[kept] * scale, rtol=1e-4, atol=1e-5)


def test_single_seed_grows_into_one_block_per_channel() -> None:
    """At a tiny rate, every dropped region is an exact block_size square, drawn per channel."""
    torch.manual_seed(3)
    layer = DropBlock2d(p=0.02, block_size=5).train()
    out = layer(torch.ones(64, 2, 21, 21))
    found = 0
    for sample in range(out.shape[0]):
        for channel in range(2):
            holes = (out[sample, channel] == 0).nonzero()
            if len(holes) == 25:  # a single (non-overlapping) seed
                rows, cols = holes[:, 0], holes[:, 1]
                assert rows.max() - rows.min() == 4 and cols.max() - cols.min() == 4
                # Seeds lie where a whole block fits: the block never touches the border.
                assert rows.min() >= 0 and rows.max() <= 20 and cols.min() >= 0 and cols.max() <= 20
                found += 1
    assert found > 5
    masks = out == 0
    assert not torch.equal(masks[:, 0], masks[:, 1]), "masks must be drawn independently per channel"


def _opening(mask: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """Morphological opening (erosion then dilation) of a (B, C, X, Y, Z) 0/1 mask with a box."""
    pad = [k // 2 for k in size]
    eroded = -F.max_pool3d(-mask, size, stride=1, padding=pad)
    return F.max_pool3d(eroded, size, stride=1, padding=pad)


def test_anisotropic_3d_dropped_region_is_a_union_of_blocks() -> None:
    """Dropped voxels form whole (5, 5, 1) blocks: the opening by that box leaves the mask unchanged,
    while the opening by a box 3 slices deep removes them (no block spans slices)."""
    torch.manual_seed(4)
    out = DropBlock3d(p=0.05, block_size=(5, 5, 1)).train()(torch.ones(16, 2, 20, 20, 6))
    holes = (out == 0).float()
    assert holes.sum() > 0
    assert torch.equal(_opening(holes, (5, 5, 1)), holes)
    assert _opening(holes, (5, 5, 3)).sum() < 0.5 * holes.sum()
    assert _opening(holes, (7, 7, 1)).sum() < holes.sum()


def test_block_larger_than_feature_map_is_cut_to_fit() -> None:
    out = DropBlock2d(p=0.5, block_size=7).train()(torch.ones(4, 8, 4, 4))
    assert out.shape == (4, 8, 4, 4)
    assert torch.isfinite(out).all()


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="odd"):
        DropBlock2d(block_size=4)
    with pytest.raises(ValueError, match="p must be"):
        DropBlock3d(p=1.5)
    with pytest.raises(ValueError, match="2 or 3"):
        DropBlock(1)


def test_registered_in_monai_dropout_factory() -> None:
    assert Dropout["dropblock", 2] is DropBlock2d
    assert Dropout["dropblock", 3] is DropBlock3d
    conv = Convolution(2, 4, 8, adn_ordering="DNA", dropout=("dropblock", {"p": 0.2, "block_size": 3}), dropout_dim=2)
    assert isinstance(conv.adn.D, DropBlock2d) and conv.adn.D.p == 0.2 and conv.adn.D.block_size == [3, 3]


def test_torchscript() -> None:
    layer = DropBlock3d(p=0.2, block_size=(3, 3, 1))
    scripted = torch.jit.script(layer)
    x = torch.randn(2, 3, 8, 8, 4)
    assert torch.equal(scripted.eval()(x), x)
    torch.manual_seed(5)
    eager = layer.train()(x)
    torch.manual_seed(5)
    assert torch.equal(scripted.train()(x), eager)
