"""Throughput of the label-map synthetic generator, and how long bundle training waits for it.

1. Samples per second per core: ``FLAIRSynthesizer`` volumes drawn on one thread (and the training
   patches per second that the rolling pool makes of them, ``patches_per_volume`` per volume).
2. Data wait: the real training workflow (``train.json`` + ``synthetic.json``: on-the-fly stream in one
   loader worker, SAUNet3D, bf16 where supported) for a few iterations after the pool has filled; the
   share of each iteration the trainer blocks on the data loader (target: under 10 %).

    python benchmarks/bench_synthetic.py --label-maps ../shared/data/synthseg_label_maps
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch
from monai.bundle import ConfigWorkflow
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_train import IterationTimer  # noqa: E402

from wmhseg.data.synthetic.labelmaps import FLAIRSynthesizer, load_label_maps, split_label_maps  # noqa: E402

CONFIGS = ROOT / "bundle" / "configs"


def generator_rate(files: list[str], n: int) -> tuple[float, float, tuple]:
    """(seconds to load the maps, seconds per volume on one thread, mean volume shape)."""
    threads = torch.get_num_threads()
    with threadpool_limits(1):
        torch.set_num_threads(1)
        start = time.perf_counter()
        maps = load_label_maps(files)
        loaded = time.perf_counter() - start
        synthesizer = FLAIRSynthesizer(maps)
        synthesizer(0)  # warm-up
        shapes, start = [], time.perf_counter()
        for seed in range(1, n + 1):
            shapes.append(synthesizer(seed).image.shape)
        per_volume = (time.perf_counter() - start) / n
    torch.set_num_threads(threads)
    mean_shape = tuple(int(sum(s[i] for s in shapes) / n) for i in range(3))
    return loaded / len(files), per_volume, mean_shape


def data_wait(label_maps: Path, iterations: int, warmup: int, threads: int) -> tuple[float, float, float, dict]:
    logging.disable(logging.WARNING)
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as scratch:
        workflow = ConfigWorkflow(
            config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "synthetic.json")],
            meta_file=str(CONFIGS / "metadata.json"),
            logging_file=False,
            workflow_type="train",
            run_id="training",
            bundle_root=scratch,
            label_maps_dir=str(label_maps),
            epochs=1,
            epoch_length=iterations + warmup,
            val_interval=1000,
            experiment_name="bench_synthetic",
            validation_subjects=1,
            validation_dir=str(Path(scratch) / "validation"),
        )
        workflow.initialize()
        settings = {
            k: workflow.parser.get_parsed_content(k)
            for k in ("patch_size", "batch_size", "pool_size", "patches_per_volume", "num_workers", "precision")
        }
        timer = IterationTimer(workflow.parser.get_parsed_content("train#trainer"))
        workflow.run()
        workflow.finalize()
    logging.disable(logging.NOTSET)
    return (*timer.means(warmup), settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-maps", type=Path, default=ROOT.parent / "shared" / "data" / "synthseg_label_maps")
    parser.add_argument("--volumes", type=int, default=6, help="volumes timed for the generator rate")
    parser.add_argument("--maps", type=int, default=4, help="label maps loaded for the generator rate")
    parser.add_argument("--iterations", type=int, default=12, help="timed training iterations")
    parser.add_argument("--warmup", type=int, default=6, help="untimed iterations (the pool fills)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the trainer")
    args = parser.parse_args()

    files = split_label_maps(args.label_maps)["training"][: args.maps]
    load_s, volume_s, shape = generator_rate(files, args.volumes)
    print(
        f"generator: {load_s:.2f} s to load one label map; {volume_s:.2f} s per volume on 1 thread "
        f"(mean network-grid shape {shape}) = {1 / volume_s:.2f} volumes/s per core"
    )
    total, wait, compute, settings = data_wait(args.label_maps, args.iterations, args.warmup, args.threads)
    per_iteration_patches = settings["batch_size"]
    patches_s = settings["patches_per_volume"] / volume_s
    print(
        f"rolling pool of {settings['pool_size']} volumes, {settings['patches_per_volume']} patches per new volume: "
        f"{patches_s:.2f} training patches/s per core; training needs {per_iteration_patches / total:.2f} "
        f"patches/s ({per_iteration_patches} per iteration)"
    )
    print(
        f"training ({settings['patch_size']}, batch {settings['batch_size']}, precision {settings['precision']}, "
        f"{settings['num_workers']} loader worker, {args.threads} trainer threads, torch {torch.__version__}):"
    )
    print(
        f"  {total:.3f} s/iteration, data wait {wait:.3f} s ({100 * wait / total:.1f} % of the iteration), "
        f"compute {compute:.3f} s"
    )


if __name__ == "__main__":
    main()
