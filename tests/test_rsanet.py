"""RSA block and RSANet3D: identity at initialisation, the attention formula, parameter counts, placement."""

from __future__ import annotations

import pytest
import torch

from wmhseg.networks import RecurrentSliceAttention, RSANet3D, SAUNet3D
from wmhseg.networks.blocks import slice_attention

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def reference_slice_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dim: int) -> torch.Tensor:
    """The paper's formula written out with the released code's permutations (tensor dims 2, 3, 4)."""
    perm = {2: (0, 2, 1, 3, 4), 3: (0, 3, 2, 1, 4), 4: (0, 4, 2, 3, 1)}[dim]
    b, length = q.shape[0], q.shape[dim]

    def tokens(t: torch.Tensor) -> torch.Tensor:
        return t.permute(perm).reshape(b, length, -1).double()

    attention = torch.softmax(tokens(q) @ tokens(k).transpose(1, 2), dim=-1)
    moved_shape = v.permute(perm).shape
    return (attention @ tokens(v)).reshape(moved_shape).permute(perm).float()  # each perm is its own inverse


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_slice_attention_matches_direct_softmax(axis: int) -> None:
    torch.manual_seed(axis)
    q, k, v = (0.1 * torch.randn(2, 3, 5, 6, 4) for _ in range(3))
    torch.testing.assert_close(slice_attention(q, k, v, axis), reference_slice_attention(q, k, v, axis + 2))


def test_rsa_is_identity_at_initialisation() -> None:
    block = RecurrentSliceAttention(8)
    x = torch.randn(2, 8, 6, 5, 4)
    assert torch.equal(block(x), x)
    assert torch.equal(block.beta, torch.zeros(3))


def test_rsa_recurrence_matches_step_by_step_computation() -> None:
    """x1 = x0 + β1 SA_H(x0), x2 = x1 + β2 SA_W(x1), x3 = x2 + β3 SA_D(x2) with shared θ, φ, g."""
    torch.manual_seed(0)
    block = RecurrentSliceAttention(4)
    with torch.no_grad():
        block.beta.copy_(torch.tensor([0.3, -0.2, 0.5]))
    x = 0.5 * torch.randn(1, 4, 5, 6, 7)
    expected = x
    for beta, dim in zip((0.3, -0.2, 0.5), (3, 4, 2)):
        q, k, v = block.theta(expected), block.phi(expected), block.g(expected)
        expected = expected + beta * reference_slice_attention(q, k, v, dim)
    torch.testing.assert_close(block(x), expected, rtol=1e-4, atol=1e-5)


def test_rsa_parameter_formula() -> None:
    for channels in (8, 192, 512):
        assert n_params(RecurrentSliceAttention(channels)) == 3 * (channels**2 + channels) + 3
    assert n_params(RecurrentSliceAttention(512)) == 787_971


def test_rsa_attention_in_float32_under_autocast() -> None:
    torch.manual_seed(1)
    block = RecurrentSliceAttention(4)
    with torch.no_grad():
        block.beta.fill_(1.0)
    x = torch.randn(1, 4, 4, 4, 4).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = block(x)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_rsanet3d_parameter_counts() -> None:
    """3 inputs, 2 classes: backbone 23,766,368 (spec ≈ 23.77 M) + RSA 787,971 = 24,554,339 (≈ 24.55 M)."""
    net = RSANet3D()
    assert n_params(net) == 24_554_339
    assert n_params(RSANet3D(positions=())) == 23_766_368


def test_rsanet3d_positions_and_shapes() -> None:
    net = RSANet3D(
        in_channels=1, out_channels=3, channels=(8, 16, 32, 64, 128), positions=("enc4", "bottleneck", "dec4")
    )
    blocks = [m for m in net.modules() if isinstance(m, RecurrentSliceAttention)]
    assert sorted(b.theta.in_channels for b in blocks) == [64, 64, 128]
    assert net(torch.randn(1, 1, 32, 32, 16)).shape == (1, 3, 32, 32, 16)
    # Sizes that are not multiples of 16 go through the pad path and keep their shape.
    assert net.eval()(torch.randn(1, 1, 24, 20, 17)).shape == (1, 3, 24, 20, 17)
    with pytest.raises(ValueError, match="unknown RSA positions"):
        RSANet3D(positions=("centre",))


def test_rsanet3d_with_identity_rsa_equals_the_backbone() -> None:
    """At initialisation the RSA block adds nothing: same output as the network without it."""
    torch.manual_seed(0)
    with_rsa = RSANet3D(in_channels=1, channels=(8, 16, 32, 64, 128)).eval()
    without = RSANet3D(in_channels=1, channels=(8, 16, 32, 64, 128), positions=()).eval()
    without.load_state_dict({k: v for k, v in with_rsa.state_dict().items() if not k.startswith("bottleneck.1.")})
    x = torch.randn(1, 1, 16, 16, 16)
    torch.testing.assert_close(with_rsa(x), without(x))


def test_saunet3d_rsa_option() -> None:
    assert n_params(SAUNet3D()) == 5_340_315
    assert not any(isinstance(m, RecurrentSliceAttention) for m in SAUNet3D().modules())
    net = SAUNet3D(use_rsa=True)
    assert n_params(net) == 5_340_315 + 3 * (192**2 + 192) + 3
    assert isinstance(net.bottleneck[-1], RecurrentSliceAttention)
