"""The full training and inference transform pipelines, end to end, on a phantom and a real FLAIR."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset, decollate_batch, load_decathlon_datalist
from monai.inferers import SlidingWindowInferer
from monai.losses import DiceCELoss
from monai.transforms import AsDiscreted, Compose, Invertd
from monai.utils import set_determinism

from wmhseg.data.synthetic import generate_phantoms
from wmhseg.networks import get_network
from wmhseg.transforms import augmentation, patch_sampling, preprocessing

PATCH = (64, 64, 16)


@pytest.fixture(scope="module")
def phantom_item(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("phantom")
    path = generate_phantoms(folder, 1, seed=4, protocols=["utrecht"], orientations=("LPS",))
    return load_decathlon_datalist(path, data_list_key="training", base_dir=path.parent)[0]


@pytest.fixture(params=["phantom", "ljubljana"])
def case(request) -> dict:
    """A phantom on the Utrecht-like grid (LPS), or a real Ljubljana case (LAS, 1 mm; skipped where absent)."""
    if request.param == "phantom":
        return request.getfixturevalue("phantom_item")
    folder = request.getfixturevalue("ljubljana_dir") / "patient26"
    return {"image": str(folder / "FLAIR.nii.gz"), "label": str(folder / "lesion.nii.gz")}


def tiny_network() -> torch.nn.Module:
    return get_network("saunet3d", channels=(8, 8, 16, 16))


def test_training_pipeline_feeds_a_training_step(case: dict) -> None:
    set_determinism(0)
    keys = ("image", "label")
    transforms = Compose(
        preprocessing(keys) + patch_sampling(keys, PATCH, num_samples=2) + augmentation(keys, patch_size=PATCH)
    )
    loader = DataLoader(Dataset([{k: case[k] for k in keys}], transform=transforms), batch_size=2, num_workers=0)
    batch = next(iter(loader))
    image, label = batch["image"], batch["label"]
    assert tuple(image.shape) == (2, 1, *PATCH) and image.dtype == torch.float32
    assert tuple(label.shape) == (2, 1, *PATCH) and set(torch.unique(label).tolist()) <= {0.0, 1.0, 2.0}
    assert (label == 1).any(), "lesion-favouring sampling drew no lesion in two patches"
    net = tiny_network()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss = DiceCELoss(to_onehot_y=True, softmax=True)(net(image.as_tensor()), label.as_tensor())
    loss.backward()
    optimiser.step()
    assert torch.isfinite(loss)
    set_determinism(None)


def test_inference_pipeline_writes_back_to_the_native_grid(case: dict) -> None:
    native = nib.load(case["image"])
    preprocess = Compose(preprocessing(("image",)))
    data = preprocess({"image": case["image"]})
    assert data["image"].pixdim.tolist() == [1.0, 1.0, 3.0]
    net = torch.nn.Conv3d(1, 3, kernel_size=1).eval()  # the pipeline is under test here, not the network
    with torch.inference_mode():
        data["pred"] = SlidingWindowInferer(roi_size=PATCH, sw_batch_size=4, overlap=0.0)(data["image"][None], net)[0]
    post = Compose(
        [
            Invertd("pred", transform=preprocess, orig_keys="image", nearest_interp=False),
            AsDiscreted("pred", argmax=True),
        ]
    )
    pred = post(data)["pred"]
    assert tuple(pred.shape) == (1, *native.shape)
    np.testing.assert_allclose(pred.affine.numpy(), native.affine, atol=1e-4)
    assert nib.aff2axcodes(pred.affine.numpy()) == nib.aff2axcodes(native.affine)

    # the round trip is exact in geometry: the reference label, pushed through and back, lands on itself
    with_label = Compose(preprocessing(("image", "label")))
    both = with_label({"image": case["image"], "label": case["label"]})
    both["pred"] = both["label"].clone()
    back = Invertd("pred", transform=with_label, orig_keys="image", nearest_interp=True)(both)["pred"]
    reference = np.asarray(nib.load(case["label"]).dataobj) > 0
    restored = back[0].numpy() > 0
    dice = 2 * (reference & restored).sum() / (reference.sum() + restored.sum())
    assert dice > 0.85, dice


def test_batches_collate_from_a_phantom_datalist(phantom_item: dict) -> None:
    keys = ("image", "label", "brain_mask")
    transforms = Compose(preprocessing(keys, target_spacing=None) + patch_sampling(keys, PATCH, num_samples=2))
    batch = next(iter(DataLoader(Dataset([phantom_item], transform=transforms), batch_size=2)))
    for item in decollate_batch(batch):
        assert tuple(item["brain_mask"].shape) == (1, *PATCH)
        assert set(torch.unique(item["brain_mask"]).tolist()) <= {0.0, 1.0}
        # with a brain mask the z-score is taken inside it: the brain is centred on zero
        inside = item["image"][item["brain_mask"] > 0]
        assert inside.numel() == 0 or abs(float(inside.mean())) < 1.0
