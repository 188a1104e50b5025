"""The related networks by name: registry, TorchScript, bundle-style verification, a short training run.

The training runs use crops of small real phantoms (``tiny_phantoms`` in conftest.py): 3D
crops with the three-class label for the 3D networks, axial slices with the binary WMH
target for the 2D ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
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


@pytest.fixture(scope="module")
def phantoms(tiny_phantoms: Path) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(image, label) of each tiny phantom in RAS voxel order, the image z-scored over the brain mask."""
    volumes = []
    for item in json.loads(tiny_phantoms.read_text())["training"]:
        read = [
            np.asarray(nib.as_closest_canonical(nib.load(tiny_phantoms.parent / item[key])).dataobj)
            for key in ("image", "label", "brain_mask")
        ]
        image, label, brain = read[0].astype(np.float32), read[1].astype(np.int64), read[2] > 0
        image = (image - image[brain].mean()) / image[brain].std()
        volumes.append((torch.from_numpy(image), torch.from_numpy(label)))
    return volumes


def phantom_batch(volumes, shape: tuple[int, ...], generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of crops of ``shape`` (B, 1, *spatial), each centred (as far as it fits) on a random WMH voxel.

    3D shapes give crops with the label map (0, 1, 2), zero-padded in depth where the phantom
    is thinner; 2D shapes give axial slices with the binary WMH target."""
    images, labels = [], []
    spatial = shape[2:]
    for _ in range(shape[0]):
        image, label = volumes[int(torch.randint(len(volumes), (1,), generator=generator))]
        lesions = torch.nonzero(label == 1)
        centre = lesions[int(torch.randint(len(lesions), (1,), generator=generator))].tolist()
        if len(spatial) == 2:
            image, label, centre = image[:, :, centre[2]], (label[:, :, centre[2]] == 1).long(), centre[:2]
        window = []
        for axis, size in enumerate(spatial):
            size = min(size, image.shape[axis])
            start = min(max(centre[axis] - size // 2, 0), image.shape[axis] - size)
            window.append(slice(start, start + size))
        crop_image, crop_label = image[tuple(window)], label[tuple(window)]
        pad = [p for axis in reversed(range(len(spatial))) for p in (0, spatial[axis] - crop_image.shape[axis])]
        images.append(F.pad(crop_image, pad))
        labels.append(F.pad(crop_label, pad))
    return torch.stack(images)[:, None], torch.stack(labels)[:, None].float()


# Training batch shape per network: 8 slices of 32×32, or one small volume.
TRAIN_SHAPES = {
    "saunet2d_guo2020": (8, 1, 32, 32),
    "saunet2d_lgg": (8, 1, 32, 32),
    "rsanet3d": (1, 1, 32, 32, 16),
    "saunet3d_rsa": (1, 1, 32, 32, 8),
    "sau_net": (1, 1, 32, 32, 6),
}


@pytest.mark.parametrize("name", RELATED)
def test_short_training_reduces_the_loss(name: str, phantoms) -> None:
    """40 Adam steps on fresh phantom crops bring the Dice+CE loss below 70 % of its start."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    net = get_network(name, **TINY[name]).train()
    out_channels = SHAPES[name][2]
    loss_fn = DiceCELoss(sigmoid=True) if out_channels == 1 else DiceCELoss(to_onehot_y=True, softmax=True)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        image, label = phantom_batch(phantoms, TRAIN_SHAPES[name], generator)
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
