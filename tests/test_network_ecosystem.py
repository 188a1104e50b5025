"""The 3D SA-UNet inside MONAI's tooling: sliding windows, bundle export, memory formats, autocast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from monai.inferers import SlidingWindowInferer

from wmhseg.networks import SAUNet3D, get_network

ROOT = Path(__file__).resolve().parents[1]
TINY = {"channels": [8, 8, 16, 16]}


@pytest.fixture(scope="module")
def tiny_net() -> SAUNet3D:
    torch.manual_seed(0)
    return SAUNet3D(**TINY).eval()


def test_sliding_window_inferer_on_odd_volume(tiny_net):
    inferer = SlidingWindowInferer(roi_size=(16, 16, 4), sw_batch_size=2, overlap=0.25, mode="gaussian")
    volume = torch.randn(1, 1, 37, 29, 11)  # the whole volume need not fit the size contract
    with torch.no_grad():
        out = inferer(volume, tiny_net)
    assert out.shape == (1, 3, 37, 29, 11)
    assert torch.isfinite(out).all()


def test_sliding_window_with_full_window_equals_direct_call(tiny_net):
    volume = torch.randn(1, 1, 16, 24, 6)
    with torch.no_grad():
        direct = tiny_net(volume)
        windowed = SlidingWindowInferer(roi_size=(16, 24, 6), overlap=0)(volume, tiny_net)
    torch.testing.assert_close(windowed, direct)


@pytest.mark.parametrize("use_trace", [False, True])
def test_bundle_ckpt_export_matches_eager(tmp_path, tiny_net, use_trace):
    torch.save(tiny_net.state_dict(), tmp_path / "model.pt")
    (tmp_path / "inference.json").write_text(
        json.dumps({"network_def": {"_target_": "wmhseg.networks.SAUNet3D", **TINY}})
    )
    (tmp_path / "metadata.json").write_text(json.dumps({"version": "0.1.0"}))
    cmd = [
        sys.executable,
        "-m",
        "monai.bundle",
        "ckpt_export",
        "network_def",
        "--filepath",
        "model.ts",
        "--ckpt_file",
        "model.pt",
        "--meta_file",
        "metadata.json",
        "--config_file",
        "inference.json",
    ]
    if use_trace:
        cmd += ["--use_trace", "True", "--input_shape", "[1,1,32,32,4]"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True)
    exported = torch.jit.load(str(tmp_path / "model.ts"))
    x = torch.randn(1, 1, 32, 40, 6)  # another size than the trace example
    with torch.no_grad():
        torch.testing.assert_close(exported(x), tiny_net(x), atol=1e-5, rtol=1e-5)


def test_scripted_network_keeps_the_size_check(tiny_net):
    scripted = torch.jit.script(tiny_net)
    with pytest.raises(Exception, match="multiple of 8"):
        scripted(torch.randn(1, 1, 12, 16, 3))


def test_channels_last_3d_matches_contiguous(tiny_net):
    x = torch.randn(2, 1, 16, 16, 5)
    with torch.no_grad():
        expected = tiny_net(x)
        net_cl = SAUNet3D(**TINY).eval()
        net_cl.load_state_dict(tiny_net.state_dict())
        net_cl = net_cl.to(memory_format=torch.channels_last_3d)
        got = net_cl(x.to(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("saunet3d", TINY),
        ("backbone_331_bn", TINY),
        ("attention_unet3d", {"channels": [8, 16, 16], "strides": [[2, 2, 1], [2, 2, 1]]}),
    ],
)
def test_cpu_bf16_autocast(name, overrides):
    torch.manual_seed(0)
    net = get_network(name, **overrides).eval()
    x = torch.randn(1, 1, 16, 16, 4)
    with torch.no_grad():
        reference = net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x)
    assert low.shape == reference.shape and torch.isfinite(low).all()
    # bf16 keeps ~3 significant digits: the predicted class agrees almost everywhere
    agree = (low.float().argmax(1) == reference.argmax(1)).float().mean()
    assert agree > 0.9
