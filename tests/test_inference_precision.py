"""Inference precision: ``--precision {auto,fp32,bf16}`` / bundle ``precision``, the fp32 fallback, and bf16 = fp32
on the real cases.

bf16 runs need a CPU with native bf16 (AVX512-BF16 or AMX) and are skipped elsewhere; the fallback
is checked everywhere by switching the detection off.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from infer_support import (
    AFFINES,
    INFERENCE_JSON,
    ROOT,
    TINY_SAUNET,
    phantom,
    run_bundle,
    tiny_saunet_checkpoint,
    write_nifti,
)
from monai.bundle import ConfigParser

import wmhseg.networks.precision as precision_module
from wmhseg.cli import main
from wmhseg.metrics import avd, dice
from wmhseg.networks import PrecisionNetwork, cpu_supports_bf16, get_network, with_precision

needs_bf16 = pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bf16")
SHIPPED_MODEL = ROOT / "bundle" / "models" / "model.pt"
REAL_CASES = ("patient07", "patient19", "patient26")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("precision")
    src = write_nifti(folder / "las.nii.gz", phantom(seed=3), AFFINES["LAS"])
    return folder, src, tiny_saunet_checkpoint(folder / "tiny.pt")


def _predict(case, out: Path, *options: str) -> int:
    folder, src, ckpt = case
    return main(
        [
            "predict",
            str(src),
            "-o",
            str(out),
            "--ckpt",
            str(ckpt),
            "--device",
            "cpu",
            "--no-progress",
            "--no-qc",
            "--set",
            f"network_options={json.dumps(TINY_SAUNET)}",
            *options,
        ]
    )


@needs_bf16
def test_precision_option_runs_the_network_in_bf16_or_fp32(case, tmp_path):
    probs = {}
    for name in ("bf16", "fp32"):
        assert _predict(case, tmp_path / name, "--precision", name, "--threshold", "0.3") == 0
        summary = json.loads((tmp_path / name / "las" / "summary.json").read_text())
        assert summary["runtime"]["precision"] == summary["config"]["precision"] == name
        probs[name] = np.asarray(nib.load(tmp_path / name / "las" / "wmh_prob.nii.gz").dataobj)
    diff = np.abs(probs["bf16"] - probs["fp32"])  # bf16 rounding, nothing more
    assert 0 < diff.mean() < 0.01 and np.corrcoef(probs["bf16"].ravel(), probs["fp32"].ravel())[0, 1] > 0.99, (
        diff.mean()
    )


def test_auto_uses_fp32_where_the_cpu_has_no_bf16(case, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: False)
    assert _predict(case, tmp_path / "auto") == 0
    summary = json.loads((tmp_path / "auto" / "las" / "summary.json").read_text())
    assert summary["runtime"]["precision"] == summary["config"]["precision"] == "fp32"
    assert _predict(case, tmp_path / "forced", "--precision", "bf16") == 2
    assert "precision 'bf16' is not supported on this cpu" in capsys.readouterr().err
    assert not (tmp_path / "forced" / "las").exists()


@needs_bf16
def test_channels_last_touches_only_the_3d_convolutions():
    """SAU-Net mixes 2D convolutions into a 3D network: bf16 must still run it."""
    net = with_precision(get_network("sau_net").eval(), "bf16", "cpu")
    assert isinstance(net, PrecisionNetwork)
    with torch.inference_mode():
        out = net(torch.randn(1, 1, 32, 32, 4))
    assert out.dtype == torch.float32 and out.shape[2:] == (32, 32, 4)


def _inference_config() -> ConfigParser:
    """The bundle's inference config, unparsed."""
    parser = ConfigParser()
    parser.read_config(str(INFERENCE_JSON))
    return parser


def _default_network_checkpoint(path: Path) -> Path:
    """The shipped model when it exists, else random weights of the bundle's default network."""
    if SHIPPED_MODEL.is_file():
        return SHIPPED_MODEL
    torch.manual_seed(0)
    torch.save(_inference_config().get_parsed_content("network_def").state_dict(), path)
    return path


@pytest.mark.slow
@needs_bf16
def test_bf16_and_fp32_agree_on_the_real_cases(tmp_path, ljubljana_dir):
    """With the shipped model: masks agree to DSC >= 0.985 and volumes within 2.5 %.

    Issue 12 asks for DSC >= 0.99 and volumes within 1 %.  Measured with the shipped model and the
    head crop (one window each, so only the precision differs): DSC 0.991 / 0.992 / 0.993 and
    volumes 1.9 / 1.5 / 0.7 % apart (patient 07 / 19 / 26; the previous weights: DSC 0.986 and
    1.8 % on patient 07).  Earlier, running the last decoder stage and the head in fp32 only brought
    the volume differences to 0.3 / 0.6 / 1.2 %.  bf16 rounding moves the voxels whose WMH
    probability is within a few hundredths of the threshold (max |dp| 0.02-0.04), and the small
    loads make them a large share of a mask.  This test guards the precision path with a margin
    under what was reached (another CPU's bf16 kernels round differently); the issue's targets
    stay open in issue 12.

    Until it exists the default network has random weights, whose WMH probability is nearly flat
    (every voxel close to 1/classes), so a mask at any threshold is mostly voxels on the edge of it;
    there the probability maps themselves are compared.  Both runs use one window, so that only
    the precision differs.
    """
    datalist = tmp_path / "real.json"
    datalist.write_text(
        json.dumps({"test": [{"image": str(ljubljana_dir / c / "FLAIR.nii.gz"), "subject": c} for c in REAL_CASES]})
    )
    ckpt = _default_network_checkpoint(tmp_path / "random.pt")
    for name in ("bf16", "fp32"):
        assert (
            run_bundle(
                tmp_path / name,
                str(datalist),
                ckpt,
                network_options=_inference_config().get_parsed_content("network_options"),
                patch_size=None,
                normalisation="zscore_brain",
                precision=name,
                memory_budget_mb=4096,
                save_qc=False,
            )
            is None
        )
    for subject in REAL_CASES:
        mask = {
            n: np.asarray(nib.load(tmp_path / n / subject / "wmh_mask.nii.gz").dataobj) > 0 for n in ("bf16", "fp32")
        }
        prob = {n: np.asarray(nib.load(tmp_path / n / subject / "wmh_prob.nii.gz").dataobj) for n in ("bf16", "fp32")}
        for n in ("bf16", "fp32"):
            summary = json.loads((tmp_path / n / subject / "summary.json").read_text())
            assert summary["runtime"]["precision"] == n and summary["runtime"]["windows"]["count"] == 1
        if ckpt == SHIPPED_MODEL:
            assert mask["fp32"].sum() > 0
            assert dice(mask["fp32"], mask["bf16"]) >= 0.985 and avd(mask["fp32"], mask["bf16"]) <= 2.5, subject
        else:
            diff = np.abs(prob["bf16"] - prob["fp32"])
            assert diff.mean() <= 0.005 and diff.max() <= 0.05, subject
            assert np.corrcoef(prob["bf16"].ravel(), prob["fp32"].ravel())[0, 1] >= 0.995, subject
