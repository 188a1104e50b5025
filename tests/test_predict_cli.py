"""The two front doors: ``python -m monai.bundle run inference`` (a subprocess) and ``wmhseg predict`` (``wmhseg.cli.main``).

Both run the same bundle config on the same inputs (one of them unreadable) with a
tiny SA-UNet: they must write byte-identical masks, exit non-zero because of the bad
file, and name it.  Also: TorchScript export of the config's ``network_def``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from infer_support import AFFINES, INFERENCE_JSON, ROOT, phantom, read_csv, tiny_saunet_checkpoint, write_nifti

from wmhseg.cli import main

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
TINY_OVERRIDES = {"network_options": '{"channels": [8,8,16,16]}', "patch_size": "[32,32,8]", "threshold": "0.4"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    files = [
        write_nifti(folder / "las.nii.gz", phantom(seed=1), AFFINES["LAS"]),
        write_nifti(folder / "oblique.nii.gz", phantom(seed=2), AFFINES["oblique"]),
    ]
    (folder / "broken.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    return folder, [str(f) for f in files] + [str(folder / "broken.nii.gz")], tiny_saunet_checkpoint(folder / "tiny.pt")


def _start(cmd, cwd):
    return subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process):
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_console_and_bundle_commands_give_identical_masks_and_fail_on_the_bad_file(inputs, capsys):
    folder, files, ckpt = inputs
    bundle_out, cli_out = folder / "bundle_out", folder / "cli_out"
    bundle_cmd = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "inference",
        "--config_file",
        str(INFERENCE_JSON),
        "--bundle_root",
        str(folder),
        "--input",
        json.dumps(files),
        "--output_dir",
        str(bundle_out),
        "--ckpt_file",
        str(ckpt),
        "--progress",
        "False",
    ]
    for key, value in TINY_OVERRIDES.items():
        bundle_cmd += [f"--{key}", value]
    bundle = _start(bundle_cmd, folder)
    # the console command runs in this process meanwhile: the same entry point as the installed `wmhseg`
    code = main(
        [
            "predict",
            *files,
            "-o",
            str(cli_out),
            "--ckpt",
            str(ckpt),
            "--threshold",
            "0.4",
            "--device",
            "cpu",
            "--no-progress",
            "--set",
            'network_options={"channels": [8,8,16,16]}',
            "--set",
            "patch_size=[32,32,8]",
        ]
    )
    cli_stderr = capsys.readouterr().err
    bundle = _finish(bundle)

    assert bundle.returncode != 0 and "broken.nii.gz" in bundle.stderr + bundle.stdout
    assert code == 1, cli_stderr
    assert "1 of 3 subject(s) failed" in cli_stderr and "broken.nii.gz: cannot be read" in cli_stderr
    for out in (bundle_out, cli_out):
        rows = {r["subject"]: r for r in read_csv(out / "summary.csv")}
        assert {s: r["status"] for s, r in rows.items()} == {"las": "ok", "oblique": "ok", "broken": "failed"}
    for subject in ("las", "oblique"):
        a = (bundle_out / subject / "wmh_mask.nii.gz").read_bytes()
        b = (cli_out / subject / "wmh_mask.nii.gz").read_bytes()
        assert a == b
        assert json.loads((cli_out / subject / "summary.json").read_text())["wmh_voxels"] > 0


def test_predict_without_weights_exits_2_and_says_how_to_train(inputs, tmp_path, capsys):
    _, files, _ = inputs
    code = main(
        ["predict", files[0], "-o", str(tmp_path / "out"), "--ckpt", str(tmp_path / "none.pt"), "--no-progress"]
    )
    stderr = capsys.readouterr().err
    assert code == 2
    assert "no trained weights" in stderr and "train.json" in stderr and "--ckpt" in stderr
    assert not (tmp_path / "out" / "las").exists()


def test_predict_rejects_a_malformed_override(inputs, tmp_path, capsys):
    _, files, _ = inputs
    assert main(["predict", files[0], "-o", str(tmp_path / "out"), "--set", "threshold"]) == 2
    assert "use ID=VALUE" in capsys.readouterr().err


def test_ckpt_export_of_the_inference_network_matches_eager(tmp_path):
    ckpt = tiny_saunet_checkpoint(tmp_path / "model.pt")
    (tmp_path / "metadata.json").write_text(json.dumps({"version": "0.0.0-test"}))
    cmd = [
        sys.executable,
        "-m",
        "monai.bundle",
        "ckpt_export",
        "network_def",
        "--filepath",
        str(tmp_path / "model.ts"),
        "--ckpt_file",
        str(ckpt),
        "--meta_file",
        str(tmp_path / "metadata.json"),
        "--config_file",
        str(INFERENCE_JSON),
        "--network_options",
        '{"channels": [8,8,16,16]}',
    ]
    result = _finish(_start(cmd, tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    exported = torch.jit.load(str(tmp_path / "model.ts"))
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(INFERENCE_JSON))
    parser["network_options"] = {"channels": [8, 8, 16, 16]}
    eager = parser.get_parsed_content("network_def")
    eager.load_state_dict(torch.load(ckpt, weights_only=True))
    eager.eval()
    x = torch.randn(1, 1, 48, 40, 7)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), eager(x), atol=1e-4, rtol=1e-4)


def _bad_checkpoints(folder):
    """Checkpoint files that must not load into the tiny 3-class SA-UNet, and a phrase of the error each must give."""
    from wmhseg.networks import get_network

    good = tiny_saunet_checkpoint(folder / "good.pt").read_bytes()
    (folder / "truncated.pt").write_bytes(good[: len(good) // 2])
    (folder / "random.pt").write_bytes(bytes(range(256)) * 8)
    torch.save(get_network("saunet3d", channels=[8, 8, 16, 16]), folder / "pickled.pt")
    torch.save(get_network("backbone_333_bn", channels=[8, 8, 16, 16]).state_dict(), folder / "preset.pt")
    torch.save(get_network("saunet3d", channels=[8, 8, 16, 16], out_channels=6).state_dict(), folder / "six.pt")
    torch.save(get_network("saunet3d", channels=[16, 16, 32, 32]).state_dict(), folder / "wide.pt")
    return {
        "truncated": "is a damaged or truncated PyTorch checkpoint",
        "random": "is not a PyTorch checkpoint",
        "pickled": "holds a pickled Python object (wmhseg.networks.saunet3d.SAUNet3D), not a state_dict",
        "preset": "trained with another network (26 missing",
        "six": "wrong number of classes for the network SAUNet3D: the checkpoint's output head has 6 classes, the "
        "network's 3; set the network's out_channels to 6",
        "wide": "has the layers of the network SAUNet3D but other widths",
    }


FIXES = {  # how each message says to fix it
    "truncated": "--ckpt PATH",
    "random": "--ckpt PATH",
    "pickled": "torch.save(model.state_dict(), PATH)",
    "preset": "its layers are those of the presets backbone_333_bn or backbone_331_bn; pick the network",
    "six": '--set network_options={"out_channels": 6}',
    "wide": "--network NAME",
}


def test_bad_checkpoints_exit_2_naming_the_file_the_problem_and_the_fix(inputs, tmp_path, capsys):
    _, files, _ = inputs
    tiny = ["--set", 'network_options={"channels": [8,8,16,16]}', "--set", "patch_size=[32,32,8]", "--no-progress"]
    for name, problem in _bad_checkpoints(tmp_path).items():
        out = tmp_path / f"out_{name}"
        code = main(
            ["predict", files[0], "-o", str(out), "--ckpt", str(tmp_path / f"{name}.pt"), "--device", "cpu", *tiny]
        )
        stderr = capsys.readouterr().err
        assert code == 2, (name, stderr)
        message = stderr.strip().splitlines()[-1]
        assert message.startswith(f"wmhseg predict: {tmp_path / f'{name}.pt'}: "), (name, message)
        assert problem in message and FIXES[name] in message, (name, message)
        assert "Unsupported operand" not in stderr and "Check the documentation of torch.load" not in stderr
        assert not (out / "las").exists()
    # the fix the message gives for the 6-class head works
    six = ["--set", 'network_options={"channels": [8,8,16,16], "out_channels": 6}', "--set", "patch_size=[32,32,8]"]
    code = main(
        [
            "predict",
            files[0],
            "-o",
            str(tmp_path / "out_six"),
            "--ckpt",
            str(tmp_path / "six.pt"),
            "--device",
            "cpu",
            "--no-progress",
            *six,
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "out_six" / "las" / "summary.json").read_text())["status"] == "ok"


def test_bundle_names_a_truncated_checkpoint(inputs, tmp_path):
    folder, files, ckpt = inputs
    truncated = tmp_path / "model.pt"
    truncated.write_bytes(ckpt.read_bytes()[:1000])
    cmd = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "inference",
        "--config_file",
        str(INFERENCE_JSON),
        "--bundle_root",
        str(folder),
        "--input",
        files[0],
        "--output_dir",
        str(tmp_path / "out"),
        "--ckpt_file",
        str(truncated),
        "--progress",
        "False",
        "--network_options",
        '{"channels": [8,8,16,16]}',
    ]
    result = _finish(_start(cmd, tmp_path))
    assert result.returncode != 0
    assert f"CheckpointError: {truncated}: is a damaged or truncated PyTorch checkpoint" in result.stderr, (
        result.stderr[-3000:]
    )
    assert "Unsupported operand" not in result.stderr


def test_no_input_segments_the_embedded_sample(tmp_path, default_phantom_root, monkeypatch):
    """``wmhseg predict -o OUT`` with no INPUT segments the embedded sample phantom."""
    monkeypatch.setenv("WMHSEG_DATA_DIR", str(default_phantom_root[0]))
    ckpt = tiny_saunet_checkpoint(tmp_path / "tiny.pt")
    code = main(
        [
            "predict",
            "-o",
            str(tmp_path / "out"),
            "--ckpt",
            str(ckpt),
            "--device",
            "cpu",
            "--no-progress",
            "--set",
            'network_options={"channels": [8,8,16,16]}',
        ]
    )
    assert code == 0
    (row,) = read_csv(tmp_path / "out" / "summary.csv")
    assert row["subject"] == "phantom-000" and row["status"] == "ok" and float(row["wmh_volume_ml"]) >= 0
    for name in ("wmh_mask.nii.gz", "lesions.csv", "qc.png", "summary.json"):
        assert (tmp_path / "out" / "phantom-000" / name).is_file()
