"""WMH challenge metrics as a MONAI metric and as Ignite handlers in a real SupervisedEvaluator."""

from __future__ import annotations

import csv
import math

import nibabel as nib
import numpy as np
import pytest
import scipy.ndimage
import torch
from monai.data import DataLoader, Dataset, MetaTensor
from monai.engines import SupervisedEvaluator
from monai.handlers import MetricsSaver, from_engine
from monai.transforms import AsDiscreted, Compose, EnsureChannelFirstd, LoadImaged

from wmhseg.metrics import METRIC_NAMES, WMHChallengeMetric, WMHChallengeMetricHandler, evaluate_volumes


def random_pair(seed: int, shape=(20, 18, 6)):
    """A reference label map {0,1,2} and a predicted label map {0,1,2} that overlaps it partly."""
    rng = np.random.default_rng(seed)
    ref = (scipy.ndimage.uniform_filter(rng.random(shape), 3) > 0.56).astype(np.float32)
    ref[rng.random(shape) < 0.05] = 2
    pred = np.roll(ref == 1, 1, axis=0).astype(np.float32)
    pred[(rng.random(shape) < 0.03)] = 2  # class 2 predictions are not WMH
    pred[ref == 2] = 1  # WMH predicted in the don't-care region
    return ref, pred


def affine_for(spacing, angle=0.3):
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation * np.asarray(spacing)
    affine[:3, 3] = [-40.0, 10.0, 5.0]
    return affine


def expected(ref, pred, spacing, name):
    return evaluate_volumes(ref, (pred == 1).astype(np.uint8), spacing).metrics()[name]


SPACINGS = [(0.9, 1.1, 3.0), (0.5, 0.5, 1.5)]


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_label_maps_lists_and_batches(name):
    pairs = [random_pair(seed) for seed in (1, 2)]
    affines = [torch.tensor(affine_for(s)) for s in SPACINGS]
    y_pred = [MetaTensor(torch.from_numpy(p)[None], affine=a) for (_, p), a in zip(pairs, affines)]
    y = [MetaTensor(torch.from_numpy(r)[None], affine=a) for (r, _), a in zip(pairs, affines)]
    want = [expected(r, p, s, name) for (r, p), s in zip(pairs, SPACINGS)]

    metric = WMHChallengeMetric(metric_name=name)
    values = metric(y_pred=y_pred, y=y)  # decollated lists, as SupervisedEvaluator passes them
    assert values.shape == (2, 1)
    np.testing.assert_allclose(values[:, 0].numpy(), want, atol=1e-12)

    batched = WMHChallengeMetric(metric_name=name)
    y_batch = MetaTensor(torch.stack([t.as_tensor() for t in y]), affine=torch.stack([t.affine for t in y]))
    batched(y_pred=torch.stack([t.as_tensor() for t in y_pred]), y=y_batch)  # affine (B, 4, 4) on y only
    np.testing.assert_allclose(batched.get_buffer()[:, 0].numpy(), want, atol=1e-12)
    assert metric.aggregate().item() == pytest.approx(np.nanmean(want))


def test_one_hot_and_probabilities():
    ref, pred = random_pair(3)
    spacing = (1.0, 0.8, 2.5)
    want = expected(ref, pred, spacing, "hd95")
    onehot_pred = torch.from_numpy(np.stack([pred == c for c in range(3)]).astype(np.float32))[None]
    onehot_ref = torch.from_numpy(np.stack([ref == c for c in range(3)]).astype(np.float32))[None]
    label_ref = torch.from_numpy(ref)[None, None]
    metric = WMHChallengeMetric("hd95", spacing=spacing)
    assert metric(onehot_pred, onehot_ref).item() == pytest.approx(want, abs=1e-12)
    assert metric(onehot_pred, label_ref).item() == pytest.approx(want, abs=1e-12)
    # probabilities: the WMH channel is thresholded at 0.5 as the official script thresholds a float map
    rng = np.random.default_rng(4)
    p1 = rng.uniform(0, 1, size=ref.shape).astype(np.float32)
    probabilities = torch.from_numpy(np.stack([(1 - p1) / 2, p1, (1 - p1) / 2]))[None]
    want_p = evaluate_volumes(ref, p1, spacing).metrics()["dsc"]
    assert WMHChallengeMetric("dsc")(probabilities, label_ref).item() == pytest.approx(want_p)
    # two-channel one-hot reference: no don't-care channel
    two = torch.from_numpy(np.stack([ref != 1, ref == 1]).astype(np.float32))[None]
    ref_no2 = (ref == 1).astype(np.float32)
    assert WMHChallengeMetric("avd")(onehot_pred, two).item() == pytest.approx(
        evaluate_volumes(ref_no2, (pred == 1).astype(np.uint8), spacing).avd
    )


def test_aggregate_skips_nan_and_spacing_is_required_for_hd95():
    ref, pred = random_pair(5)
    empty = torch.zeros(1, 1, *ref.shape)
    good = torch.from_numpy(pred)[None, None]
    label = torch.from_numpy(ref)[None, None]
    metric = WMHChallengeMetric("hd95", spacing=(1, 1, 3), get_not_nans=True)
    metric(empty, label)  # empty prediction: HD95 is NaN
    metric(good, label)
    mean, not_nans = metric.aggregate()
    assert not_nans.item() == 1
    assert mean.item() == pytest.approx(expected(ref, pred, (1, 1, 3), "hd95"))
    assert torch.isnan(metric.aggregate(reduction="none")[0][0, 0])
    only_nan = WMHChallengeMetric("hd95", spacing=(1, 1, 1))
    only_nan(empty, label)
    assert math.isnan(only_nan.aggregate().item())

    with pytest.raises(ValueError, match="spacing"):
        WMHChallengeMetric("hd95")(good, label)  # plain tensors carry no affine
    assert WMHChallengeMetric("dsc")(good, label).item() == pytest.approx(expected(ref, pred, (1, 1, 1), "dsc"))
    with pytest.raises(ValueError, match="metric_name"):
        WMHChallengeMetric("hausdorff")
    with pytest.raises(ValueError, match="spatial shape"):
        WMHChallengeMetric("dsc")(good, label[..., :-1])


class ThresholdNet(torch.nn.Module):
    """A real 1x1x1 convolution whose argmax is class 1 where the input exceeds 0.5 (class 2 never wins)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 3, kernel_size=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([0.0, 1.0, 0.0]).reshape(3, 1, 1, 1, 1))
            self.conv.bias.copy_(torch.tensor([0.5, 0.0, -10.0]))

    def forward(self, x):
        return self.conv(x)


def test_supervised_evaluator_with_metrics_saver(tmp_path):
    spacings = [(0.9, 1.1, 3.0), (0.5, 0.5, 1.5), (1.0, 1.0, 2.0)]
    items, want = [], {name: [] for name in METRIC_NAMES}
    for index, spacing in enumerate(spacings):
        ref, pred = random_pair(10 + index)
        image = (pred == 1).astype(np.float32)
        if index == 2:
            image[:] = 0  # empty prediction: HD95 NaN
        paths = {k: tmp_path / f"case{index}_{k}.nii.gz" for k in ("image", "label")}
        nib.save(nib.Nifti1Image(image, affine_for(spacing)), paths["image"])
        nib.save(nib.Nifti1Image(ref.astype(np.uint8), affine_for(spacing)), paths["label"])
        items.append({k: str(v) for k, v in paths.items()})
        stored = nib.load(paths["label"]).affine  # the header holds float32: use the spacing as stored
        scores = evaluate_volumes(ref.astype(np.uint8), (image > 0.5).astype(np.uint8), stored).metrics()
        for name in METRIC_NAMES:
            want[name].append(scores[name])

    keys = ["image", "label"]
    loader = DataLoader(Dataset(items, Compose([LoadImaged(keys), EnsureChannelFirstd(keys)])), batch_size=2)
    transform = from_engine(["pred", "label"])
    handlers = {name: WMHChallengeMetricHandler(name, output_transform=transform) for name in METRIC_NAMES}
    save_dir = tmp_path / "metrics"
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=loader,
        network=ThresholdNet(),
        postprocessing=AsDiscreted(keys="pred", argmax=True),
        key_val_metric={"val_dsc": handlers["dsc"]},
        additional_metrics={f"val_{n}": h for n, h in handlers.items() if n != "dsc"},
        val_handlers=[
            MetricsSaver(str(save_dir), metric_details="*", batch_transform=lambda b: [x["image"].meta for x in b])
        ],
    )
    evaluator.run()

    for name in METRIC_NAMES:
        assert evaluator.state.metrics[f"val_{name}"] == pytest.approx(np.nanmean(want[name]), abs=1e-9)
        with open(save_dir / f"val_{name}_raw.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert [r["filename"] for r in rows] == [item["image"] for item in items]
        got = [float(r["class0"]) for r in rows]
        np.testing.assert_allclose(got, want[name], atol=5e-5)  # MetricsSaver writes 4 decimals
    assert math.isnan(want["hd95"][2]) and not math.isnan(want["hd95"][0])
    assert 0 < want["dsc"][0] < 1


def test_handler_from_bundle_config():
    from monai.bundle import ConfigParser

    parser = ConfigParser({
        "key_metric": {"val_dsc": {"_target_": "wmhseg.metrics.WMHChallengeMetricHandler", "metric_name": "dsc",
                                   "output_transform": "$monai.handlers.from_engine(['pred', 'label'])"}},
        "additional_metrics": {"val_hd95": {"_target_": "wmhseg.metrics.WMHChallengeMetricHandler",
                                            "metric_name": "hd95", "save_details": True,
                                            "output_transform": "$monai.handlers.from_engine(['pred', 'label'])"}},
    })  # fmt: skip
    hd95_handler = parser.get_parsed_content("additional_metrics")["val_hd95"]
    assert isinstance(hd95_handler, WMHChallengeMetricHandler) and hd95_handler.metric_fn.metric_name == "hd95"
    ref, pred = random_pair(6)
    spacing = (1.2, 0.9, 3.0)
    output = [
        {
            "pred": MetaTensor(torch.from_numpy(pred)[None], affine=torch.tensor(affine_for(spacing))),
            "label": MetaTensor(torch.from_numpy(ref)[None], affine=torch.tensor(affine_for(spacing))),
        }
    ]
    hd95_handler.update(hd95_handler._output_transform(output))
    assert hd95_handler.metric_fn.aggregate().item() == pytest.approx(expected(ref, pred, spacing, "hd95"))
