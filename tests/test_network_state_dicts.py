"""Checkpoints stay loadable: every preset's state_dict keys, shapes and parameter count, and its
forward output for given weights, are pinned to the values of the networks as first released.

A refactoring of the networks must not rename, add or drop a parameter or buffer (a trained
``model.pt`` is a state_dict), nor change what the same weights compute.  The weights here are
filled from the key names (so they do not depend on the order the modules are created in) and the
outputs are compared with a tolerance that allows for float summation order only.
"""

from __future__ import annotations

import hashlib
import zlib

import pytest
import torch

from wmhseg.networks import get_network, list_networks

# name: (overrides, parameters, sha256[:16] of the sorted "key:shape;" list, input shape,
#        (mean, std) of the output, output values at 0, n/3, n/2 and n-1 of the flattened output)
PINNED = {
    "saunet3d": ({}, 5340315, "2e9bc48a52831a4e", (1, 1, 16, 16, 4),
                 (0.345651, 0.454152), (0.18147, 0.427028, 0.0219129, 0.419685)),
    "saunet3d_out6": ({"out_channels": 6}, 5340390, "7f72918e130a9a3d", (1, 1, 16, 16, 4),
                      (0.250095, 0.600791), (0.18147, 0.0052875, 0.40111, 0.374642)),
    "backbone_333_bn": ({}, 3285363, "912a59ab0a9d4bb1", (1, 1, 8, 8, 8),
                        (0.259845, 0.10137), (0.284513, 0.188682, 0.133866, 0.332931)),
    "backbone_331_bn": ({}, 2092611, "6c1019a114092c3c", (1, 1, 16, 16, 4),
                        (0.198511, 0.169281), (0.336649, 0.209611, 0.357378, 0.322764)),
    "backbone_gn": ({}, 2092611, "a815a7696c3ea9c6", (1, 1, 16, 16, 4),
                    (0.295844, 0.479134), (0.245203, 0.122785, 0.281238, 0.561222)),
    "backbone_gn_aspp": ({}, 5339139, "824e5aaac249f5af", (1, 1, 16, 16, 4),
                         (0.296398, 0.469821), (0.149908, 0.187518, 0.083672, 0.518815)),
    "backbone_gn_sam": ({}, 2093787, "9b437bc701b9775b", (1, 1, 16, 16, 4),
                        (0.335315, 0.501348), (0.373405, 0.240346, 0.280205, 0.377493)),
    "unet3d": ({}, 2668942, "897744ce5af57d9e", (1, 1, 16, 16, 4),
               (0.107226, 1.41062), (-0.612546, 0.798275, -1.10489, -0.236674)),
    "attention_unet3d": ({}, 3297723, "492a3a6a88b01f09", (1, 1, 16, 16, 4),
                         (-0.0467574, 1.21478), (-0.272771, 0.287686, 0.817825, 1.0661)),
    "saunet2d_guo2020": ({}, 537299, "308eb250f1f9de72", (1, 3, 16, 16),
                         (-0.0424117, 0.225427), (0.222291, -0.290338, 0.199263, 0.246566)),
    "saunet2d_lgg": ({}, 1128020, "01a89a9166beee9d", (1, 3, 16, 16),
                     (0.0163437, 0.181421), (0.098833, -0.132595, 0.126844, -0.00154337)),
    "rsanet3d": ({}, 24552643, "f95c202debc11f92", (1, 1, 16, 16, 16),
                 (-0.305459, 0.564725), (-0.186485, 0.106678, 0.242653, -0.00784851)),
    "saunet3d_rsa": ({}, 5451486, "5b19962f85c9d4c9", (1, 1, 16, 16, 4),
                     (0.348274, 0.452498), (0.178351, 0.409774, 0.085495, 0.42376)),
    "sau_net": ({}, 1015203, "06595727dc482824", (1, 1, 16, 16, 4),
                (0.404061, 0.801085), (0.22816, 1.46969, 1.70737, -0.493903)),
}  # fmt: skip


def key_digest(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(f"{key}:{tuple(state[key].shape)};".encode())
    return digest.hexdigest()[:16]


def fill_from_names(net: torch.nn.Module) -> torch.nn.Module:
    """Load weights drawn from a generator seeded by each key's name; eval mode."""
    weights = {}
    for key, value in net.state_dict().items():
        generator = torch.Generator().manual_seed(zlib.crc32(key.encode()))
        if not value.is_floating_point():
            weights[key] = value
        elif key.endswith("running_var"):
            weights[key] = torch.rand(value.shape, generator=generator) + 0.5
        elif value.dim() > 1:
            weights[key] = torch.randn(value.shape, generator=generator) / value[0].numel() ** 0.5
        elif key.endswith("weight"):
            weights[key] = 1 + 0.1 * torch.randn(value.shape, generator=generator)
        else:
            weights[key] = 0.1 * torch.randn(value.shape, generator=generator)
    net.load_state_dict(weights)
    return net.eval()


def test_every_preset_is_pinned():
    assert set(list_networks()) <= set(PINNED)


@pytest.mark.parametrize("name", list(PINNED))
def test_state_dict_and_output_are_unchanged(name):
    overrides, parameters, digest, shape, (mean, std), values = PINNED[name]
    net = get_network(name.removesuffix("_out6"), **overrides)
    assert sum(p.numel() for p in net.parameters()) == parameters
    assert key_digest(net.state_dict()) == digest
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = fill_from_names(net)(x).double()
    flat = out.flatten()
    picked = [flat[i].item() for i in (0, flat.numel() // 3, flat.numel() // 2, flat.numel() - 1)]
    assert [out.mean().item(), out.std().item()] == pytest.approx([mean, std], rel=1e-4, abs=1e-5)
    assert picked == pytest.approx(list(values), rel=1e-4, abs=1e-5)
