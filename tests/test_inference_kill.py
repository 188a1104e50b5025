"""``kill -9`` of a real ``wmhseg predict`` process, then a rerun: outputs byte-identical to an uninterrupted run.

Three head-sized phantoms (240 x 240 x 40 voxels of 0.95 x 0.95 x 3 mm) are segmented
with the voxel-wise intensity network of ``infer_support`` (so the network costs nothing
and writing dominates: the probability map takes about 0.2 s to compress).  A first
process is killed while it writes a file, a second one between two subjects; a last run
completes.  Every output except the timings of ``summary.json`` must equal those of an
uninterrupted run, byte for byte, and no temporary file may be left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from infer_support import INTENSITY_NET, ROOT, affine, intensity_checkpoint, phantom, read_csv, write_nifti

from wmhseg.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SUBJECTS = ("s0", "s1", "s2")
OUTPUTS = ("wmh_mask.nii.gz", "wmh_prob.nii.gz", "lesions.csv", "qc.png")
TIMING_KEYS = ("elapsed_s", "timing_s", "runtime")
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill")
    (folder / "in").mkdir()
    shape = (240, 240, 40)
    for index, subject in enumerate(SUBJECTS):
        blob = (slice(100 + 5 * index, 110 + 5 * index), slice(90, 100), slice(18, 22))
        write_nifti(
            folder / "in" / f"{subject}.nii.gz",
            phantom(shape, blob, seed=index),
            affine(np.diag([0.95, 0.95, 3.0]), (-114.0, -114.0, -60.0)),
        )
    return folder, intensity_checkpoint(folder / "model.pt")


def _args(folder: Path, checkpoint: Path, out: Path) -> list[str]:
    return [
        "predict",
        str(folder / "in"),
        "-o",
        str(out),
        "--ckpt",
        str(checkpoint),
        "--device",
        "cpu",
        "--no-progress",
        "--set",
        f"network_def={json.dumps(INTENSITY_NET)}",
        "--set",
        "normalisation=zscore_nonzero",
    ]


def _run_until_killed(args: list[str], out: Path, kill_when) -> None:
    """Start ``wmhseg predict`` in a subprocess and SIGKILL it as soon as ``kill_when(out)`` holds."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wmhseg.cli", *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while not kill_when(out):
        assert process.poll() is None, f"finished before the kill: {process.stderr.read().decode()[-3000:]}"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL


def _partial_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".partial" in p.name]


def _summary(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k not in TIMING_KEYS}


def test_kill_9_at_any_moment_then_rerun_gives_the_uninterrupted_outputs(cohort):
    folder, checkpoint = cohort
    reference, out = folder / "reference", folder / "out"
    assert main(_args(folder, checkpoint, reference)) == 0

    # killed while writing the first subject's probability map: a temporary file is left, no summary.json
    _run_until_killed(_args(folder, checkpoint, out), out, lambda o: any((o / "s0").glob(".wmh_prob.*.partial*")))
    assert _partial_files(out) and not (out / "s0" / "summary.json").exists()
    # rerun, killed between subjects: s0 and s1 complete, s2 not yet
    _run_until_killed(_args(folder, checkpoint, out), out, lambda o: (o / "s1" / "summary.json").is_file())

    assert main(_args(folder, checkpoint, out)) == 0
    statuses = {row["subject"]: row["status"] for row in read_csv(out / "summary.csv")}
    assert statuses["s0"] == "skipped" and statuses["s2"] == "ok"
    assert _partial_files(out) == []
    for subject in SUBJECTS:
        for name in OUTPUTS:
            assert (out / subject / name).read_bytes() == (reference / subject / name).read_bytes(), (subject, name)
        assert _summary(out / subject / "summary.json") == _summary(reference / subject / "summary.json")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == sorted(
        p.relative_to(reference) for p in reference.rglob("*")
    )
