"""SAU-Net: inter-slice attention uses exactly the k neighbouring slices; slice-parallel execution."""

from __future__ import annotations

import pytest
import torch

from wmhseg.networks import DenseUNet2D, InterSliceAttention, SAUNetISA

TINY = {"channels": (8, 16, 32), "growth_rate": 4, "layers_per_block": 2, "bn_size": 2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def changed_slices(before: torch.Tensor, after: torch.Tensor) -> list[int]:
    """Indices along Z where the two outputs differ."""
    diff = (before - after).abs().amax(dim=(0, 1, 2, 3))
    return [int(i) for i in torch.nonzero(diff > 0).flatten()]


@pytest.mark.parametrize("k", [1, 2])
def test_isa_uses_exactly_k_neighbours(k: int) -> None:
    torch.manual_seed(0)
    isa = InterSliceAttention(4, num_neighbours=k)
    x = torch.randn(2, 4, 5, 6, 9)
    changed = x.clone()
    changed[..., 4] += 1.0
    assert changed_slices(isa(x), isa(changed)) == list(range(4 - k, 4 + k + 1))


def test_isa_formula_with_replicate_padding() -> None:
    torch.manual_seed(1)
    isa = InterSliceAttention(3, num_neighbours=1)
    x = torch.randn(1, 3, 4, 4, 5)
    gates = torch.sigmoid(isa.gates(x))
    below, above = gates[:, :3], gates[:, 3:]  # offsets -1 and +1
    expected = torch.empty_like(x)
    for i in range(5):
        lo, hi = max(i - 1, 0), min(i + 1, 4)
        expected[..., i] = x[..., i] * (1 + below[..., lo] + above[..., hi])
    torch.testing.assert_close(isa(x), expected)


@pytest.mark.parametrize("position", ["features", "output"])
def test_sau_net_slice_i_depends_only_on_its_neighbours(position: str) -> None:
    """Changing slice 5 changes the (eval-mode) output of slices 4–6 only; slice 3, two away, is unchanged."""
    torch.manual_seed(0)
    net = SAUNetISA(**TINY, isa_position=position).eval()
    x = torch.randn(1, 1, 16, 16, 9)
    changed = x.clone()
    changed[..., 5] = torch.randn(1, 1, 16, 16)
    assert changed_slices(net(x), net(changed)) == [4, 5, 6]


def test_sau_net_slices_run_through_the_same_2d_network() -> None:
    """Before ISA, each slice's output is the Dense U-Net applied to that slice alone."""
    torch.manual_seed(0)
    net = SAUNetISA(**TINY, out_channels=2).eval()
    x = torch.randn(2, 1, 16, 8, 3)
    volume_features = net.to_volume(net.backbone.features(net.to_slices(x)), batch=2)
    for b in range(2):
        for z in range(3):
            torch.testing.assert_close(volume_features[b, ..., z], net.backbone.features(x[b : b + 1, ..., z])[0])
    assert net(x).shape == (2, 2, 16, 8, 3)


def test_other_slice_axis() -> None:
    net = SAUNetISA(**TINY, slice_axis=0).eval()
    assert net(torch.randn(1, 1, 5, 16, 24)).shape == (1, 3, 5, 16, 24)


def test_dense_unet_layout_and_errors() -> None:
    net = DenseUNet2D(in_channels=1, out_channels=2, **TINY)
    assert net(torch.randn(2, 1, 16, 24)).shape == (2, 2, 16, 24)
    assert net.features(torch.randn(1, 1, 8, 8)).shape == (1, 8, 8, 8)
    with pytest.raises(ValueError, match="multiple of 4"):
        net(torch.randn(1, 1, 10, 8))
    with pytest.raises(ValueError, match="X, Y, Z"):
        SAUNetISA(**TINY)(torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="num_neighbours"):
        InterSliceAttention(4, num_neighbours=0)
