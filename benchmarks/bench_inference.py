"""CPU benchmark of whole-subject inference (what ``wmhseg predict`` runs) against the hardware limit, today's
settings and nnU-Net-style settings, with the bf16/fp32 agreement on the real cases.

Two synthetic FLAIR heads written by this script:

- ``thick``: 240×240×48 at 0.96×0.96×3 mm (a WMH-challenge-like 2D FLAIR);
- ``iso``: 182×218×182 at 1 mm (an MNI-like 3D FLAIR).

The network is the bundle's (``inference.json``'s ``network_def``) with random weights: timing does not
depend on them.  Every measurement is a fresh subprocess, so that its peak resident memory (``ru_maxrss``)
is its own and its network runs cold, as in a real run:

- ``ours``: the bundle's defaults (``--precision auto``: bf16 with channels-last on CPUs with native bf16;
  the network over the head's bounding box only, ``crop_foreground``; windows planned under
  ``memory_budget_mb``), end to end through the bundle workflow;
- ``limit``: one bf16 channels-last forward of the same network over the whole network grid (padded to its
  size contract) and nothing else; the first forward of its process (the one comparable with ours), and a
  second, warm one for reference;
- ``today``: the settings before window planning, precision and cropping, through the same pipeline: fp32,
  256×256×32 windows over the whole grid, overlap 0.5, gaussian blending;
- ``nnunet``: nnU-Net v2's default prediction settings with the same network and pipeline (whose crop to the
  head stands for nnU-Net's crop to the non-zero region): fp32, tiles of the training patch (256×256×32), tile
  step 0.5, gaussian weighting, mirroring on all three axes (8 passes per tile), run by nnU-Net's own ``nnUNetPredictor.predict_sliding_window_return_logits`` when
  ``nnunetv2`` is installed (``pip install -e ".[bench]"``), else emulated with MONAI windows and flips
  (the output says which).

Per case the runs go limit, ours, today, nnunet, ours, limit: the ratios use the means of the two ``ours`` and
the two ``limit`` runs, so that a machine load that drifts during the slow settings weighs on both sides.
For ``ours`` it prints seconds per stage: ``check`` (read + checks) and ``hash`` (SHA-256) of the run plan;
``read``, ``reorient``, ``resample``, ``normalise`` (the data loader's preprocessing, re-run transform by
transform after the run in the same process); ``network`` (with ``plan``, the window planning);
``invert`` (back to the input grid); ``lesions`` (threshold, labelling, lesion table); each write; the wall
time of the whole run and the setup before it (network, weights, activation measure: in no setting's figure); then the total and peak RSS of every setting and the ratios ours / limit,
today / ours, nnU-Net-style / ours.

Agreement: where ``../shared/data/ljubljana_ms_mni`` exists, the three real cases are segmented in bf16 and
in fp32 (both as one window, so that only the precision differs) with ``bundle/models/model.pt`` when it
exists, else random weights.  With the model the masks are compared at its threshold (0.5); random weights
give flat probability maps (every voxel near 1/classes), so their masks are compared at the 99th
percentile of the fp32 map, and the probability maps themselves are compared too.

    python benchmarks/bench_inference.py [--threads N] [--cases thick iso] [--modes ours limit today nnunet]
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

from monai.inferers import Inferer

ROOT = Path(__file__).resolve().parents[1]
INFERENCE_JSON = ROOT / "bundle" / "configs" / "inference.json"
SHIPPED_MODEL = ROOT / "bundle" / "models" / "model.pt"
LJUBLJANA = ROOT.parent / "shared" / "data" / "ljubljana_ms_mni"
REAL_CASES = ("patient07", "patient19", "patient26")
CASES = {
    "thick": ((240, 240, 48), (0.9583, 0.9583, 3.0)),
    "iso": ((182, 218, 182), (1.0, 1.0, 1.0)),
}
TODAY_PATCH = [256, 256, 32]
MODES = {
    "ours": {},
    "today": {"precision": "fp32", "patch_size": TODAY_PATCH, "overlap": 0.5, "crop_foreground": False},
    "nnunet": {"precision": "fp32", "patch_size": TODAY_PATCH},
}
"""Bundle overrides of each pipeline setting (``nnunet`` also replaces the inferer)."""
PRE_STAGES = {
    "LoadImaged": "read",
    "EnsureChannelFirstd": "read",
    "Orientationd": "reorient",
    "Spacingd": "resample",
    "NormalizeFLAIRd": "normalise",
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


class NnUNetStyleInferer(Inferer):
    """nnU-Net v2's default sliding-window prediction (tile step 0.5, gaussian, mirroring on all axes), fp32.

    With ``nnunetv2`` installed it calls ``nnUNetPredictor.predict_sliding_window_return_logits`` (its
    tiling, gaussian weighting, mirroring and fp16 accumulation of logits) on the given network; the
    softmax of the averaged logits is returned, as nnU-Net exports it.  Without ``nnunetv2`` it emulates
    the same work with MONAI's sliding windows (overlap 0.5, gaussian sigma 1/8 of the tile) and the 7
    mirrored passes per tile.  ``driver`` says which.
    """

    def __init__(self, patch_size: list[int], num_classes: int) -> None:
        super().__init__()
        try:
            from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
        except ImportError:
            from wmhseg.inference import ProbabilitySlidingWindowInferer

            mirrors = [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]]
            self.emulation = ProbabilitySlidingWindowInferer(
                patch_size, flip_axes=mirrors, overlap=0.5, mode="gaussian", sigma_scale=0.125, device="cpu"
            )
            self.driver = "emulated (nnunetv2 not installed): MONAI windows, overlap 0.5, gaussian, 8 mirrors"
            return
        from types import SimpleNamespace

        import torch

        self.emulation = None
        self.predictor = nnUNetPredictor(
            tile_step_size=0.5,
            use_gaussian=True,
            use_mirroring=True,
            perform_everything_on_device=False,
            device=torch.device("cpu"),
            allow_tqdm=False,
        )
        self.predictor.configuration_manager = SimpleNamespace(patch_size=list(patch_size))
        self.predictor.label_manager = SimpleNamespace(num_segmentation_heads=num_classes)
        self.predictor.allowed_mirroring_axes = (0, 1, 2)
        self.driver = "nnunetv2 nnUNetPredictor.predict_sliding_window_return_logits"

    def __call__(self, inputs, network, *args, **kwargs):
        import torch
        from monai.data import MetaTensor

        if self.emulation is not None:
            return self.emulation(inputs, network)
        self.predictor.network = network
        data = inputs.as_tensor() if isinstance(inputs, MetaTensor) else inputs
        logits = self.predictor.predict_sliding_window_return_logits(data[0])
        probabilities = torch.softmax(logits.float(), dim=0)[None]
        return (
            MetaTensor(probabilities).copy_meta_from(inputs, copy_attr=False)
            if isinstance(inputs, MetaTensor)
            else probabilities
        )


def _workflow(work: Path, inputs, output_dir: Path, ckpt: Path, **overrides):
    from monai.bundle import ConfigWorkflow

    return ConfigWorkflow(
        config_file=str(INFERENCE_JSON),
        meta_file=[],
        logging_file=False,
        workflow_type="infer",
        run_id="inference",
        bundle_root=str(work),
        input=inputs,
        output_dir=str(output_dir),
        ckpt_file=str(ckpt),
        device="$torch.device('cpu')",
        progress=False,
        overwrite=True,
        **overrides,
    )


def preprocessing_stages(workflow, image: Path) -> dict[str, float]:
    """Seconds of each preprocessing transform of the workflow on ``image``, grouped into read/reorient/resample/normalise."""
    stages: dict[str, float] = {}
    data: object = {"image": str(image)}
    for transform in workflow.parser.get_parsed_content("preprocessing").transforms:
        start = time.perf_counter()
        data = transform(data)
        name = PRE_STAGES.get(type(transform).__name__, type(transform).__name__)
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - start
    return stages


def run_pipeline(args: argparse.Namespace) -> dict:
    """Child: segment one case through the bundle workflow with the overrides of ``args.mode``."""
    work = Path(args.work)
    image = work / f"{args.case}.nii.gz"
    overrides = dict(MODES[args.mode])
    if args.mode == "nnunet":
        overrides["inferer"] = {
            "_target_": "bench_inference.NnUNetStyleInferer",
            "patch_size": TODAY_PATCH,
            "num_classes": args.num_classes,
        }
    start = time.perf_counter()
    workflow = _workflow(work, [str(image)], work / f"out_{args.mode}", work / "model.pt", **overrides)
    workflow.initialize()  # builds the network, loads the weights, measures its activations (planned windows)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    workflow.run()
    workflow.finalize()
    wall = time.perf_counter() - start
    peak = peak_rss_mb()
    summary = json.loads((work / f"out_{args.mode}" / args.case / "summary.json").read_text())
    inferer = workflow.parser.get_parsed_content("inferer")
    return {
        "timing": summary["timing_s"],
        "runtime": summary["runtime"],
        "stages": preprocessing_stages(workflow, image) if args.mode == "ours" else {},
        "setup_s": setup,
        "wall_s": wall,
        "peak_rss_mb": peak,
        "driver": getattr(inferer, "driver", ""),
    }


def run_limit(args: argparse.Namespace) -> dict:
    """Child: one bf16 channels-last forward of the network over the case's whole network grid, cold then warm."""
    import torch
    from monai.bundle import ConfigParser

    from wmhseg.inference import load_network_weights, network_grid_shape, size_multiple
    from wmhseg.io import read_native
    from wmhseg.networks import cpu_supports_bf16, with_precision

    parser = ConfigParser()
    parser.read_config(str(INFERENCE_JSON))
    network = load_network_weights(parser.get_parsed_content("network_def"), Path(args.work) / "model.pt").eval()
    precision = "bf16" if cpu_supports_bf16() else "fp32"
    network = with_precision(network, precision, "cpu")
    grid, _ = network_grid_shape(
        read_native(Path(args.work) / f"{args.case}.nii.gz", load_data=False),
        parser.get_parsed_content("target_spacing"),
    )
    shape = [math.ceil(g / m) * m for g, m in zip(grid, size_multiple(network))]
    x = torch.randn(1, 1, *shape)
    seconds = []
    with torch.inference_mode():
        for _ in range(2):
            start = time.perf_counter()
            network(x)
            seconds.append(time.perf_counter() - start)
    return {
        "shape": shape,
        "precision": precision,
        "cold_s": seconds[0],
        "warm_s": seconds[1],
        "peak_rss_mb": peak_rss_mb(),
    }


def run_agreement(args: argparse.Namespace) -> dict:
    """Child: the three real cases in bf16 and in fp32 (one window each); masks and probability maps compared."""
    import nibabel as nib
    import numpy as np

    from wmhseg.metrics import avd, dice

    work = Path(args.work)
    shipped = SHIPPED_MODEL.is_file()
    ckpt = SHIPPED_MODEL if shipped else work / "model.pt"
    datalist = work / "real.json"
    datalist.write_text(
        json.dumps({"test": [{"image": str(LJUBLJANA / c / "FLAIR.nii.gz"), "subject": c} for c in REAL_CASES]})
    )
    seconds = {}
    for precision in ("bf16", "fp32"):
        start = time.perf_counter()
        workflow = _workflow(
            work,
            str(datalist),
            work / f"real_{precision}",
            ckpt,
            precision=precision,
            memory_budget_mb=4096,
            save_qc=False,
        )
        workflow.initialize()
        workflow.run()
        workflow.finalize()
        seconds[precision] = time.perf_counter() - start
    rows = []
    for case in REAL_CASES:
        prob = {
            p: np.asarray(nib.load(work / f"real_{p}" / case / "wmh_prob.nii.gz").dataobj) for p in ("bf16", "fp32")
        }
        threshold = 0.5 if shipped else float(np.quantile(prob["fp32"], 0.99))
        masks = {p: (prob[p] >= threshold) for p in prob}
        diff = np.abs(prob["bf16"] - prob["fp32"])
        rows.append(
            {
                "case": case,
                "threshold": threshold,
                "voxels_fp32": int(masks["fp32"].sum()),
                "voxels_bf16": int(masks["bf16"].sum()),
                "dsc": dice(masks["fp32"], masks["bf16"]),
                "volume_diff_pct": avd(masks["fp32"], masks["bf16"]),
                "mean_abs_dp": float(diff.mean()),
                "max_abs_dp": float(diff.max()),
                "r": float(np.corrcoef(prob["bf16"].ravel(), prob["fp32"].ravel())[0, 1]),
            }
        )
    return {"model": str(ckpt) if shipped else "random weights", "rows": rows, "seconds": seconds}


def child(args: argparse.Namespace, mode: str, work: Path, case: str = "", num_classes: int = 0) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--work",
        str(work),
        "--case",
        case,
        "--num-classes",
        str(num_classes),
    ] + (["--threads", str(args.threads)] if args.threads else [])
    path = os.pathsep.join([str(ROOT), str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{mode} {case} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _mean(runs: list[dict], key: str) -> float:
    return sum(r[key] for r in runs) / len(runs)


def report(case: str, shape, results: dict) -> None:
    """Print the stage table of the first ``ours`` run, then every setting and the ratios (means of repeated runs)."""
    ours, limit = results["ours"][0], results.get("limit")
    t = ours["timing"]
    windows = ours["runtime"]["windows"]
    crop = windows.get("crop")
    print(
        f"\n{case}: {'x'.join(map(str, shape))} voxels; ours: {ours['runtime']['precision']}, "
        f"{windows['count']} window(s) of {'x'.join(map(str, windows['roi_size']))} over "
        + ("the whole network grid" if crop is None else f"the head's box {'x'.join(str(b - a) for a, b in crop)}")
    )
    stages = {
        "check": t["check"],
        "hash": t["hash"],
        **{f"{k} *": v for k, v in ours["stages"].items()},
        "network": t["network"],
        "  of which plan": t["plan"],
        "invert": t["invert"],
        "lesions": t["lesions"],
        **{k: v for k, v in t.items() if k.startswith("write_")},
        "write (all, parallel)": t["write"],
        "total (summary)": t["total"],
        "run wall time": ours["wall_s"],
        "setup before the run": ours["setup_s"],
    }
    for name, seconds in stages.items():
        print(f"  {name:<24}{seconds:8.2f} s")
    print(
        f"  (* re-run transform by transform after the run; their sum is the data loader's "
        f"'load' stage, {t['load']:.2f} s in the run; the setup, outside every setting's figures below, builds the "
        "network, loads its weights and measures its activations for the window plan)"
    )
    print(f"  {'setting':<16}{'network s':>10}{'total s':>10}{'peak RSS MB':>13}   (runs in order: {results['order']})")
    for mode in ("ours", "today", "nnunet"):
        for i, r in enumerate(results.get(mode, [])):
            print(
                f"  {mode + (f' #{i + 1}' if len(results[mode]) > 1 else ''):<16}{r['timing']['network']:>10.2f}"
                f"{r['wall_s']:>10.2f}{r['peak_rss_mb']:>13.0f}"
            )
    for i, r in enumerate(limit or []):
        print(
            f"  {f'limit #{i + 1}':<16}{r['cold_s']:>10.2f}{r['cold_s']:>10.2f}{r['peak_rss_mb']:>13.0f}   "
            f"{r['precision']} channels-last forward over {'x'.join(map(str, r['shape']))}, first of its process; "
            f"second (warm): {r['warm_s']:.2f} s"
        )
    wall = _mean(results["ours"], "wall_s")
    print(f"  ours (mean of {len(results['ours'])}): {wall:.2f} s")
    if limit:
        print(
            f"  ours / limit = {wall / _mean(limit, 'cold_s'):.2f} (first forward, as in a run), "
            f"{wall / _mean(limit, 'warm_s'):.2f} (warm forward)"
        )
    if "today" in results:
        print(f"  today / ours = {_mean(results['today'], 'wall_s') / wall:.2f}")
    if "nnunet" in results:
        print(
            f"  nnU-Net-style / ours = {_mean(results['nnunet'], 'wall_s') / wall:.2f}   "
            f"[{results['nnunet'][0]['driver']}]"
        )


def report_agreement(result: dict) -> None:
    print(
        f"\nbf16 vs fp32 on the real Ljubljana cases ({result['model']}; one window each; "
        f"bf16 {result['seconds']['bf16']:.1f} s, fp32 {result['seconds']['fp32']:.1f} s for the three)"
    )
    if result["model"] == "random weights":
        print("  random weights give flat probability maps: masks at the 99th percentile of the fp32 map")
    print(
        f"  {'case':<11}{'threshold':>10}{'fp32 vox':>10}{'bf16 vox':>10}{'DSC':>8}{'vol diff %':>11}"
        f"{'mean|dp|':>10}{'max|dp|':>9}{'r':>9}"
    )
    for r in result["rows"]:
        print(
            f"  {r['case']:<11}{r['threshold']:>10.4f}{r['voxels_fp32']:>10}{r['voxels_bf16']:>10}{r['dsc']:>8.4f}"
            f"{r['volume_diff_pct']:>11.3f}{r['mean_abs_dp']:>10.4f}{r['max_abs_dp']:>9.4f}{r['r']:>9.5f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core)")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=["ours", "limit", "today", "nnunet"],
        default=["ours", "limit", "today", "nnunet"],
        help="settings to measure (ours always runs)",
    )
    parser.add_argument("--no-agreement", action="store_true", help="skip the bf16/fp32 comparison on the real cases")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--num-classes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        run = {"limit": run_limit, "agreement": run_agreement}.get(args.child, run_pipeline)
        args.mode = args.child
        print(json.dumps(run(args)))
        return

    import torch
    from monai.bundle import ConfigParser

    config = ConfigParser()
    config.read_config(str(INFERENCE_JSON))
    with tempfile.TemporaryDirectory(prefix="bench_inference_") as tmp:
        work = Path(tmp)
        torch.manual_seed(0)
        network = config.get_parsed_content("network_def")
        torch.save(network.state_dict(), work / "model.pt")
        with torch.no_grad():
            num_classes = int(network(torch.zeros(1, 1, 16, 16, 8)).shape[1])
        for case, (shape, spacing) in CASES.items():
            write_volume(work / f"{case}.nii.gz", shape, spacing)
        print(
            f"{config['network_preset']} ({num_classes} classes, random weights), CPU, "
            f"{args.threads or torch.get_num_threads()} thread(s), torch {torch.__version__}; "
            f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        # ours and the limit before and after the slow settings: their means even out a drifting machine load
        order = [m for m in ("limit", "ours", "today", "nnunet", "ours", "limit") if m == "ours" or m in args.modes]
        for case in args.cases:
            results: dict = {"order": ", ".join(order)}
            for mode in order:
                results.setdefault(mode, []).append(child(args, mode, work, case, num_classes))
            report(case, CASES[case][0], results)
        if not args.no_agreement and all((LJUBLJANA / c / "FLAIR.nii.gz").is_file() for c in REAL_CASES):
            report_agreement(child(args, "agreement", work))
        print(f"\nload average at the end {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
