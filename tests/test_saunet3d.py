"""3D SA-UNet: topology, parameter counts, ablation switches and the input-size contract."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from wmhseg.networks import ASPP, TABLE1, SAUNet3D, SpatialAttention, get_network, list_networks

TINY = {"channels": (8, 8, 16, 16)}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def modules_of(net: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, kind)]


def test_default_parameter_count_and_breakdown():
    net = SAUNet3D()
    assert n_params(net) == 5_340_315
    # breakdown by part (Guo, arXiv:2309.08402)
    assert sum(n_params(m) for m in net.encoders) == 161_928
    assert n_params(net.bottleneck[0]) + n_params(net.bottleneck[2]) == 1_494_144
    assert n_params(net.bottleneck[1]) == 3_246_528
    assert sum(n_params(m) for m in net.attentions) == 1_176
    assert sum(n_params(m) for m in net.decoders) == 436_464
    assert n_params(net.head) == 75


@pytest.mark.parametrize(
    "name, expected",
    [
        ("backbone_333_bn", 3_285_363),
        ("backbone_331_bn", 2_092_611),
        ("backbone_gn", 2_092_611),
        ("backbone_gn_aspp", 5_339_139),
        ("backbone_gn_sam", 2_093_787),
        ("saunet3d", 5_340_315),
        # Table 2 baselines built from MONAI networks: no published count, values as built here
        ("unet3d", 2_668_942),
        ("attention_unet3d", 3_297_723),
    ],
)
def test_preset_parameter_counts(name, expected):
    assert n_params(get_network(name)) == expected


def test_every_preset_is_listed_and_table1_is_complete():
    names = list_networks()
    assert set(TABLE1) <= set(names)
    assert {"unet3d", "attention_unet3d"} <= set(names)
    with pytest.raises(KeyError, match="unknown network"):
        get_network("no_such_net")


def test_overrides_reach_the_constructor():
    net = get_network("backbone_gn_sam", out_channels=2, channels=(8, 8, 16, 16))
    assert net.head.out_channels == 2
    assert not modules_of(net, ASPP)


@pytest.mark.parametrize("shape", [(8, 8, 1), (16, 24, 5), (32, 16, 7), (24, 40, 12)])
def test_output_shape_anisotropic(shape):
    net = SAUNet3D(in_channels=2, out_channels=4, **TINY).eval()
    with torch.no_grad():
        y = net(torch.randn(2, 2, *shape))
    assert y.shape == (2, 4, *shape)


def test_output_shape_default_network_matches_spec_example():
    net = SAUNet3D().eval()
    with torch.no_grad():
        y = net(torch.randn(1, 1, 32, 32, 3))
    assert y.shape == (1, 3, 32, 32, 3)


@pytest.mark.parametrize("shape", [(8, 8, 8), (16, 24, 32)])
def test_output_shape_isotropic(shape):
    net = get_network("backbone_333_bn", **TINY).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 1, *shape)).shape == (1, 3, *shape)


def test_sam_kernel_padding_and_channels():
    net = SAUNet3D()
    sams = modules_of(net, SpatialAttention)
    assert len(sams) == 3
    for sam in sams:
        conv = sam.conv
        assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.bias) == (2, 1, (14, 14, 1), None)
        assert n_params(sam) == 392
        # F.pad order (z, y, x): 6 before and 7 after in X and Y, none in Z
        assert sam.padding == [0, 0, 6, 7, 6, 7]


def test_sam_equals_tensorflow_same_padding():
    sam = SpatialAttention(3, (14, 14, 1))
    x = torch.randn(2, 5, 20, 18, 3)
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
    # TF "same" for an even kernel pads 6 before, 7 after: explicit pad, then a valid convolution
    padded = nn.functional.pad(pooled, (0, 0, 6, 7, 6, 7))
    expected = x * torch.sigmoid(nn.functional.conv3d(padded, sam.conv.weight))
    torch.testing.assert_close(sam(x), expected)


def test_aspp_branches_dilations_and_channels():
    aspp = modules_of(SAUNet3D(), ASPP)[0]
    convs = [b.conv for b in aspp.branches]
    assert [c.kernel_size for c in convs] == [(1, 1, 1), (3, 3, 3), (3, 3, 3), (3, 3, 3)]
    assert [c.dilation for c in convs] == [(1, 1, 1), (6, 6, 6), (12, 12, 12), (16, 16, 16)]
    assert [c.padding for c in convs] == [(0, 0, 0), (6, 6, 6), (12, 12, 12), (16, 16, 16)]
    assert all(c.in_channels == 192 and c.out_channels == 192 and c.bias is None for c in convs)
    assert aspp.pool_conv.conv.bias is not None and aspp.pool_conv.conv.kernel_size == (1, 1, 1)
    assert aspp.project.conv.in_channels == 960 and aspp.project.conv.out_channels == 192
    norms = modules_of(aspp, nn.GroupNorm)
    assert len(norms) == 6 and all(n.num_groups == 8 and n.eps == 1e-3 for n in norms)


@pytest.mark.parametrize("size", [(1, 1, 1), (3, 5, 2), (4, 4, 4)])
def test_aspp_works_at_any_bottleneck_size(size):
    aspp = ASPP(3, 16, 16).eval()
    assert aspp(torch.randn(1, 16, *size)).shape == (1, 16, *size)


def test_custom_dilations_and_sam_kernel():
    net = SAUNet3D(aspp_dilations=(2, 4), sam_kernel_size=(7, 7, 1), **TINY)
    aspp = modules_of(net, ASPP)[0]
    assert [b.conv.dilation[0] for b in aspp.branches] == [1, 2, 4]
    assert aspp.project.conv.in_channels == 16 * 4
    assert all(s.conv.kernel_size == (7, 7, 1) for s in modules_of(net, SpatialAttention))


def test_every_parameter_receives_a_gradient():
    net = SAUNet3D().train()
    net(torch.randn(2, 1, 16, 16, 3)).square().mean().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_ablation_switches_change_the_graph():
    full = SAUNet3D(**TINY)
    assert len(modules_of(full, SpatialAttention)) == 3 and len(modules_of(full, ASPP)) == 1
    no_sam = SAUNet3D(use_sam=False, **TINY)
    assert not modules_of(no_sam, SpatialAttention) and len(modules_of(no_sam, ASPP)) == 1
    no_aspp = SAUNet3D(use_aspp=False, **TINY)
    assert not modules_of(no_aspp, ASPP) and len(no_aspp.bottleneck) == 2
    batch = SAUNet3D(norm="batch", **TINY)
    assert not modules_of(batch, nn.GroupNorm)
    bns = modules_of(batch, nn.BatchNorm3d)
    assert bns and all(bn.momentum == 0.01 and bn.eps == 1e-3 for bn in bns)
    iso = get_network("backbone_333_bn", **TINY)
    assert [pool.kernel_size for pool in iso.pools] == [(2, 2, 2)] * 3
    assert {c.kernel_size for c in modules_of(iso, nn.Conv3d) if c.kernel_size != (1, 1, 1)} == {(3, 3, 3)}
    aniso = get_network("backbone_331_bn", **TINY)
    kernels = [c.kernel_size for c in modules_of(aniso, nn.Conv3d)]
    assert kernels.count((3, 3, 3)) == 2  # only the two bottleneck convolutions see Z
    assert kernels.count((3, 3, 1)) == 12


def test_anisotropic_mode_never_pools_depth():
    net = SAUNet3D(**TINY).eval()
    depths: list[int] = []
    global_pool_branch = set(modules_of(net, ASPP)[0].pool_conv.modules())  # 1×1×1 by design
    for module in net.modules():
        if isinstance(module, (nn.Conv3d, nn.MaxPool3d, nn.Upsample)) and module not in global_pool_branch:
            module.register_forward_hook(lambda _m, _i, out: depths.append(out.shape[-1]))
    with torch.no_grad():
        net(torch.randn(1, 1, 16, 16, 5))
    assert depths and set(depths) == {5}


@pytest.mark.parametrize(
    "name, shape, multiple",
    [("saunet3d", (30, 32, 5), 8), ("saunet3d", (32, 20, 5), 8), ("backbone_333_bn", (16, 16, 12), 8)],
)
def test_invalid_size_raises_before_any_computation(name, shape, multiple):
    net = get_network(name, **TINY)
    calls: list[str] = []
    for module in net.modules():
        if isinstance(module, nn.Conv3d):
            module.register_forward_pre_hook(lambda *_: calls.append("conv"))
    with pytest.raises(ValueError, match=f"multiple of {multiple}"):
        net(torch.randn(1, 1, *shape))
    assert not calls


def test_invalid_configuration_is_rejected():
    with pytest.raises(ValueError, match="spatial_dims"):
        SAUNet3D(spatial_dims=2)
    with pytest.raises(ValueError, match="4 widths"):
        SAUNet3D(channels=(8, 16, 32))


def test_per_level_kernels_and_pooling_as_dynunet():
    uniform = SAUNet3D(**TINY)
    listed = SAUNet3D(kernel_size=[(3, 3, 1)] * 3, pool_size=[(2, 2, 1)] * 3, **TINY)
    listed.load_state_dict(uniform.state_dict())  # the same keys and shapes
    x = torch.randn(1, 1, 16, 16, 4)
    torch.testing.assert_close(listed.eval()(x), uniform.eval()(x), rtol=0, atol=0)

    mixed = SAUNet3D(kernel_size=[(3, 3, 1), (3, 3, 1), 3], pool_size=[(2, 2, 1), (2, 2, 1), 2], **TINY).eval()
    assert mixed.size_multiple == [8, 8, 2]
    assert [p.kernel_size for p in mixed.pools] == [(2, 2, 1), (2, 2, 1), (2, 2, 2)]
    assert mixed.encoders[2][0].conv.kernel_size == (3, 3, 3) and mixed.decoders[0][0].conv.kernel_size == (3, 3, 3)
    assert mixed.encoders[0][0].conv.kernel_size == (3, 3, 1) and mixed.decoders[2][0].conv.kernel_size == (3, 3, 1)
    assert mixed(torch.randn(1, 1, 16, 16, 6)).shape == (1, 3, 16, 16, 6)
    with pytest.raises(ValueError, match="multiple of 2"):
        mixed(torch.randn(1, 1, 16, 16, 5))
    with pytest.raises(ValueError, match="one entry per stage"):
        SAUNet3D(pool_size=[2, (2, 2, 1)], **TINY)
