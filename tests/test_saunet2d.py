"""SAUNet2D: published parameter counts, topology per preset, options, input-size contract."""

from __future__ import annotations

import pytest
import torch

from wmhseg.networks import SAUNET2D_PRESETS, SAUNet2D, SpatialAttention, get_network
from wmhseg.networks.layers import DropBlock2d, DropBlock3d

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def test_guo2020_has_the_published_537299_parameters() -> None:
    net = SAUNet2D.from_preset("guo2020")
    assert n_params(net) == 537_299
    # One SA (98 parameters: 2·7·7 weights, no bias) between the two bottleneck units.
    attention = [m for m in net.modules() if isinstance(m, SpatialAttention)]
    assert len(attention) == 1 and n_params(attention[0]) == 98
    assert isinstance(net.bottleneck[1], SpatialAttention)
    drop = [m for m in net.modules() if isinstance(m, DropBlock2d)]
    assert len(drop) == 14 and all(m.p == 0.18 and m.block_size == [7, 7] for m in drop)


def test_lgg_brain_parameter_count_and_layout() -> None:
    """Spec: "about 1.128 M"; 1,128,020 = encoder 294,480 + SA 99 + decoder 833,424 + head 17."""
    net = get_network("saunet2d_lgg")
    assert n_params(net) == 1_128_020
    assert len(net.encoders) == 4 and len(net.decoders) == 4
    (attention,) = [m for m in net.modules() if isinstance(m, SpatialAttention)]
    assert n_params(attention) == 99 and not attention.mean_first
    assert not any(isinstance(m, DropBlock2d) for m in net.modules())
    dropouts = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 16 and all(m.p == 0.2 for m in dropouts)


@pytest.mark.parametrize("preset, size", [("guo2020", 64), ("lgg_brain", 64)])
def test_output_shape_and_eval_determinism(preset: str, size: int) -> None:
    net = SAUNet2D.from_preset(preset).eval()
    x = torch.randn(2, 3, size, size)
    y = net(x)
    assert y.shape == (2, 1, size, size)
    assert torch.equal(net(x), y)


def test_training_mode_is_stochastic_through_dropblock() -> None:
    torch.manual_seed(0)
    net = SAUNet2D.from_preset("guo2020").train()
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(net(x), net(x))
    plain = SAUNet2D.from_preset("guo2020", regulariser="none").train()
    assert torch.equal(plain(x), plain(x))


def test_regulariser_and_sa_options() -> None:
    no_sa = SAUNet2D(use_sa=False)
    assert n_params(no_sa) == 537_299 - 98
    plain = SAUNet2D(regulariser="dropout", drop_prob=0.2)
    assert n_params(plain) == 537_299
    assert not any(isinstance(m, DropBlock2d) for m in plain.modules())
    assert SAUNet2D(sa_bias=True, sa_kernel=5).bottleneck[1].conv.weight.shape == (1, 2, 5, 5)


def test_3d_generalisation() -> None:
    net = SAUNet2D(
        spatial_dims=3,
        in_channels=1,
        out_channels=2,
        channels=(8, 16, 32),
        kernel_size=(3, 3, 1),
        pool_size=(2, 2, 1),
        block_size=(3, 3, 1),
        sa_kernel=(7, 7, 1),
    )
    assert any(isinstance(m, DropBlock3d) for m in net.modules())
    assert net.train()(torch.randn(2, 1, 16, 16, 3)).shape == (2, 2, 16, 16, 3)


def test_input_size_contract() -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        get_network("saunet2d_lgg")(torch.randn(1, 3, 40, 48))
    with pytest.raises(ValueError, match="sa_position"):
        SAUNet2D(sa_position="middle")
    with pytest.raises(KeyError, match="guo2020"):
        SAUNet2D.from_preset("drive")


def test_presets_are_json_friendly() -> None:
    import json

    for kwargs in SAUNET2D_PRESETS.values():
        restored = json.loads(json.dumps(kwargs))
        assert n_params(SAUNet2D(**restored)) == n_params(SAUNet2D(**kwargs))
