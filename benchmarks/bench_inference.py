"""CPU benchmark of whole-subject inference through the bundle workflow (what ``wmhseg predict`` runs).

Two synthetic FLAIR volumes, each segmented in its own subprocess so that its peak
resident memory is its own:

- ``thick``: 240×240×48 at 0.96×0.96×3 mm (a WMH-challenge-like 2D FLAIR);
- ``iso``: 182×218×182 at 1 mm (an MNI-like 3D FLAIR).

The network is the default 3D SA-UNet with random weights (timing does not depend on
them), 256×256×32 windows, overlap 0.5, gaussian blending, no TTA.  Per volume it prints
seconds for: checking the input (read + checks + SHA-256), load/preprocess (data loader:
read, reorient, resample, normalise), network (sliding windows), postprocess/write
(inversion to the input grid, threshold, lesion table, NIfTI/CSV/PNG/JSON writes), the
total, and the peak resident memory (``ru_maxrss``) with the part added after the
network was built.  Baseline, measured in the same process right after the subject: one
bare forward pass of one window of the same network; the ratio ``network stage /
(windows × bare window)`` is the sliding-window overhead (blending, padding, and the
first window's one-off allocations), and ``whole subject / network stage`` is what the
pipeline adds around the network.  The machine's other load moves all figures.

    python benchmarks/bench_inference.py [--threads N] [--roi 256 256 32] [--overlap 0.5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "thick": ((240, 240, 48), (0.9583, 0.9583, 3.0)),
    "iso": ((182, 218, 182), (1.0, 1.0, 1.0)),
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def write_volume(path: Path, shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> None:
    """An ellipsoidal 'head' of tissue around 100 with a few bright blobs, LAS-oriented like many scanners."""
    import nibabel as nib
    import numpy as np

    rng = np.random.default_rng(0)
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    r2 = sum(((g - (s - 1) / 2) / (0.45 * s)) ** 2 for g, s in zip(grids, shape))
    data = np.where(r2 < 1, 100.0, 0.0).astype(np.float32)
    data += (r2 < 1) * rng.normal(0, 5, shape).astype(np.float32)
    for _ in range(6):
        centre = [rng.integers(s // 3, 2 * s // 3) for s in shape]
        box = tuple(slice(c - 3, c + 3) for c in centre)
        data[box] = 250.0
    affine = np.diag([-spacing[0], spacing[1], spacing[2], 1.0])
    affine[:3, 3] = [spacing[0] * shape[0] / 2, -spacing[1] * shape[1] / 2, -spacing[2] * shape[2] / 2]
    nib.save(nib.Nifti1Image(data, affine), str(path))


def windows(size: tuple[int, ...], roi: tuple[int, ...], overlap: float) -> int:
    """Number of sliding windows MONAI uses for a volume of ``size``."""
    count = 1
    for n, r in zip(size, roi):
        if n <= r:
            continue
        step = max(int(r * (1 - overlap)), 1)
        count *= math.ceil((n - r) / step) + 1
    return count


def run_case(args: argparse.Namespace) -> dict:
    """Child process: segment one volume through the bundle workflow and report stage times and memory."""
    import torch
    from monai.bundle import ConfigWorkflow

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    image = work / f"{args.case}.nii.gz"
    workflow = ConfigWorkflow(
        config_file=str(ROOT / "bundle" / "configs" / "inference.json"), meta_file=[], logging_file=False,
        workflow_type="infer", run_id="inference", bundle_root=str(work), input=[str(image)],
        output_dir=str(work / "out"), ckpt_file=str(work / "model.pt"), device="$torch.device('cpu')",
        patch_size=list(args.roi), overlap=args.overlap, progress=False, overwrite=True,
    )
    workflow.initialize()  # builds the network and loads the weights
    setup_rss = peak_rss_mb()
    start = time.perf_counter()
    batch = workflow.parser.get_parsed_content("batch")  # input checks and hashes
    checked = time.perf_counter()
    workflow.run()
    workflow.finalize()
    summary = json.loads((work / "out" / args.case / "summary.json").read_text())
    from wmhseg.inference import network_grid_shape

    grid, _ = network_grid_shape(batch[args.case].image, workflow.parser.get_parsed_content("target_spacing"))
    timing = summary["timing_s"]
    total = time.perf_counter() - start
    peak = peak_rss_mb()
    # baseline, same process and conditions: one bare forward pass of one window of the same (warm) network
    network = workflow.parser.get_parsed_content("network")
    window = torch.randn(1, 1, *args.roi)
    with torch.inference_mode():
        bare_start = time.perf_counter()
        network(window)
        bare = time.perf_counter() - bare_start
    return {
        "case": args.case,
        "shape": summary["input"]["shape"],
        "grid": list(grid),
        "windows": windows(grid, tuple(args.roi), args.overlap),
        "check_s": checked - start,
        "load_s": timing["load"],
        "network_s": timing["network"],
        "write_s": timing["write"],
        "total_s": total,
        "setup_rss_mb": setup_rss,
        "peak_rss_mb": peak,
        "bare_window_s": bare,
    }


def child(args: argparse.Namespace, case: str, work: Path) -> dict:
    cmd = [sys.executable, __file__, "--case", case, "--work", str(work), "--threads", str(args.threads),
           "--overlap", str(args.overlap), "--roi", *map(str, args.roi)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch CPU threads")
    parser.add_argument("--roi", type=int, nargs=3, default=(256, 256, 32), metavar=("X", "Y", "Z"))
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args)))
        return

    import torch

    from wmhseg.networks import get_network

    with tempfile.TemporaryDirectory(prefix="bench_inference_") as tmp:
        work = Path(tmp)
        torch.manual_seed(0)
        torch.save(get_network("saunet3d").state_dict(), work / "model.pt")
        for case, (shape, spacing) in CASES.items():
            write_volume(work / f"{case}.nii.gz", shape, spacing)
        print(f"3D SA-UNet (random weights), CPU, {args.threads} thread(s), windows {tuple(args.roi)}, "
              f"overlap {args.overlap}, gaussian blending, no TTA; torch {torch.__version__}")
        results = [child(args, case, work) for case in CASES]

    header = (f"{'volume':<22}{'net grid':<14}{'win':>4}{'check':>8}{'load':>8}{'network':>9}{'write':>8}"
              f"{'total s':>9}{'setup MB':>10}{'peak MB':>9}{'added MB':>10}")
    print(header)
    for r in results:
        print(f"{'x'.join(map(str, r['shape'])):<22}{'x'.join(map(str, r['grid'])):<14}{r['windows']:>4}"
              f"{r['check_s']:>8.1f}{r['load_s']:>8.1f}{r['network_s']:>9.1f}{r['write_s']:>8.1f}{r['total_s']:>9.1f}"
              f"{r['setup_rss_mb']:>10.0f}{r['peak_rss_mb']:>9.0f}{r['peak_rss_mb'] - r['setup_rss_mb']:>10.0f}")
    for r in results:
        bare = r["windows"] * r["bare_window_s"]
        print(f"{r['case']}: baseline bare window (warm, same process) {r['bare_window_s']:.1f} s; network stage / "
              f"({r['windows']} windows x bare window) = {r['network_s'] / bare:.2f}; "
              f"whole subject / network stage = {r['total_s'] / r['network_s']:.2f}")


if __name__ == "__main__":
    main()
