"""The related networks by name: registry, TorchScript, bundle-style verification, a short training run.

The training runs use small synthetic blob images and volumes generated here (the phantom
generator lives in another part of the project).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from monai.bundle import verify_net_in_out
from monai.losses import DiceCELoss

from wmhseg.networks import RELATED, TABLE1, RecurrentSliceAttention, get_network, list_networks

# (input shape for a check, in_channels, out_channels) of each registered related network.
SHAPES = {
    "saunet2d_guo2020": ((1, 3, 32, 32), 3, 1),
    "saunet2d_lgg": ((1, 3, 32, 32), 3, 1),
    "rsanet3d": ((1, 1, 16, 16, 16), 1, 3),
    "saunet3d_rsa": ((1, 1, 16, 16, 8), 1, 3),
    "sau_net": ((1, 1, 16, 16, 5), 1, 3),
}
# Small widths for the training runs; everything else is the registered preset.
TINY = {
    "saunet2d_guo2020": {"in_channels": 1, "channels": (8, 16, 32, 64), "block_size": 3},
    "saunet2d_lgg": {"in_channels": 1, "channels": (8, 16, 32, 64)},
    "rsanet3d": {"channels": (8, 8, 16, 16, 32)},
    "saunet3d_rsa": {"channels": (8, 16, 16, 16), "aspp_dilations": (1, 2, 3)},
    "sau_net": {"channels": (8, 16, 32), "growth_rate": 4, "layers_per_block": 2, "bn_size": 2},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_related_networks_are_listed_next_to_the_3d_presets() -> None:
    names = list_networks()
    assert set(RELATED) == set(SHAPES)
    assert set(RELATED) <= set(names) and set(TABLE1) <= set(names)


@pytest.mark.parametrize("name", RELATED)
def test_torchscript_matches_eager(name: str) -> None:
    torch.manual_seed(0)
    shape, _, out_channels = SHAPES[name]
    net = get_network(name).eval()
    scripted = torch.jit.script(net)
    x = torch.randn(shape)
    with torch.no_grad():
        expected = net(x)
        torch.testing.assert_close(scripted(x), expected)
    assert expected.shape == (shape[0], out_channels) + shape[2:]


@pytest.mark.parametrize("name", RELATED)
def test_verify_net_in_out(name: str, tmp_path: Path) -> None:
    """MONAI's bundle check builds the network from a config by name and checks its I/O contract."""
    shape, in_channels, out_channels = SHAPES[name]
    spatial = [f"{s}*n" for s in shape[2:]]
    meta = {
        "network_data_format": {
            "inputs": {"image": {"num_channels": in_channels, "spatial_shape": spatial, "dtype": "float32"}},
            "outputs": {"pred": {"num_channels": out_channels, "dtype": "float32"}},
        }
    }
    config = {"network_def": {"_target_": "wmhseg.networks.get_network", "name": name}}
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    (tmp_path / "inference.json").write_text(json.dumps(config))
    verify_net_in_out(
        "network_def",
        meta_file=str(tmp_path / "metadata.json"),
        config_file=str(tmp_path / "inference.json"),
        device="cpu",
        n=1,
    )


def blobs(shape: tuple[int, ...], generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy images with one bright ellipsoid each, and its mask, of shape (B, 1, *spatial)."""
    grids = torch.meshgrid(*[torch.linspace(-1, 1, s) for s in shape[2:]], indexing="ij")
    labels = []
    for _ in range(shape[0]):
        centre = (torch.rand(len(grids), generator=generator) - 0.5) * 0.8
        radius = 0.25 + 0.25 * torch.rand(len(grids), generator=generator)
        distance = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radius))
        labels.append((distance < 1).float())
    label = torch.stack(labels)[:, None]
    image = label + 0.3 * torch.randn(label.shape, generator=generator)
    return image, label


# Training batch shape per network: 8 slices of 32×32, or one small volume.
TRAIN_SHAPES = {
    "saunet2d_guo2020": (8, 1, 32, 32),
    "saunet2d_lgg": (8, 1, 32, 32),
    "rsanet3d": (1, 1, 32, 32, 16),
    "saunet3d_rsa": (1, 1, 32, 32, 8),
    "sau_net": (1, 1, 32, 32, 6),
}


@pytest.mark.parametrize("name", RELATED)
def test_short_training_reduces_the_loss(name: str) -> None:
    """40 Adam steps on fresh blob batches bring the Dice+CE loss below 70 % of its start."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    net = get_network(name, **TINY[name]).train()
    out_channels = SHAPES[name][2]
    loss_fn = DiceCELoss(sigmoid=True) if out_channels == 1 else DiceCELoss(to_onehot_y=True, softmax=True)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        image, label = blobs(TRAIN_SHAPES[name], generator)
        loss = loss_fn(net(image), label)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.7 * first, losses
    # The RSA blocks, the identity at the start, take part in training.
    for block in (m for m in net.modules() if isinstance(m, RecurrentSliceAttention)):
        assert block.beta.abs().min() > 0
