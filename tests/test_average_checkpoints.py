"""Weight averaging of training snapshots: wmhseg.inference.average_state_dicts and pipelines/average_checkpoints.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
import torch.nn as nn

from wmhseg.inference import load_network_weights

SCRIPT = Path(__file__).resolve().parents[1] / "pipelines" / "average_checkpoints.py"


def tiny(channels: int = 4) -> nn.Module:
    return nn.Sequential(nn.Conv3d(1, channels, 3), nn.GroupNorm(2, channels), nn.Conv3d(channels, 2, 1))


def average(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_mean_of_a_state_dict_and_a_training_checkpoint(tmp_path):
    torch.manual_seed(0)
    a, b, c = tiny(), tiny(), tiny()
    torch.save(a.state_dict(), tmp_path / "a.pt")
    torch.save({"network": b.state_dict(), "trainer": {"iteration": 100}}, tmp_path / "latest.pt")  # latest.pt form
    torch.save({"model": c.state_dict()}, tmp_path / "c.pt")
    result = average(
        "-o", str(tmp_path / "swa.pt"), str(tmp_path / "a.pt"), str(tmp_path / "latest.pt"), str(tmp_path / "c.pt")
    )
    assert result.returncode == 0, result.stderr

    averaged = load_network_weights(tiny(), tmp_path / "swa.pt")
    for name, value in averaged.state_dict().items():
        expected = (a.state_dict()[name] + b.state_dict()[name] + c.state_dict()[name]) / 3
        torch.testing.assert_close(value, expected)
    saved = torch.load(tmp_path / "swa.pt", weights_only=True)
    assert set(saved) == set(a.state_dict()) and all(v.dtype == torch.float32 for v in saved.values())


def test_other_shapes_fail_naming_the_file_and_write_nothing(tmp_path):
    torch.save(tiny(4).state_dict(), tmp_path / "a.pt")
    torch.save(tiny(6).state_dict(), tmp_path / "wider.pt")
    result = average("-o", str(tmp_path / "swa.pt"), str(tmp_path / "a.pt"), str(tmp_path / "wider.pt"))
    assert result.returncode == 2
    assert "wider.pt" in result.stderr and "names or shapes" in result.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"a.pt", "wider.pt"}
