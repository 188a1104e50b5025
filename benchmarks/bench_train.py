"""Seconds per training iteration of the bundle on CPU, split into data wait, compute and the rest.

Runs the bundle's ``training`` workflow (``train.json`` + ``quick.json``) for a few
iterations without validation, in three data-loading set-ups:

* ``no cache, main process``: every transform re-run in the training process (baseline);
* ``cache, main process``: deterministic transforms cached by ``CacheDataset``;
* ``cache, N workers``: cached, and the random transforms in ``N`` loader workers (the default).

Per iteration: *data wait* is the time the trainer blocks on the data loader, *compute*
the trainer's forward, loss, backward and optimizer step, *other* everything else
(post-processing, metrics, MLflow and console logging).  Means exclude warm-up iterations.

    PYTHONPATH=$PWD python benchmarks/bench_train.py [--datalist path/to/datalist.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import torch
from ignite.engine import Events
from monai.bundle import ConfigWorkflow

CONFIGS = Path(__file__).resolve().parents[1] / "bundle" / "configs"


class IterationTimer:
    """Ignite hooks timing the data fetch, the process function and the whole iteration."""

    def __init__(self, trainer) -> None:
        self.data, self.compute, self.total = [], [], []
        self._fetch_start = self._last_start = None
        process = trainer._process_function

        def timed_process(engine, batch):
            start = time.perf_counter()
            output = process(engine, batch)
            self.compute.append(time.perf_counter() - start)
            return output

        trainer._process_function = timed_process
        trainer.add_event_handler(Events.GET_BATCH_STARTED, self._fetch_started)
        trainer.add_event_handler(Events.GET_BATCH_COMPLETED, self._fetch_completed)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)

    def _fetch_started(self, engine) -> None:
        now = time.perf_counter()
        if self._last_start is not None:
            self.total.append(now - self._last_start)
        self._last_start = self._fetch_start = now

    def _fetch_completed(self, engine) -> None:
        self.data.append(time.perf_counter() - self._fetch_start)

    def _epoch_completed(self, engine) -> None:
        self.total.append(time.perf_counter() - self._last_start)

    def means(self, warmup: int) -> tuple[float, float, float]:
        data = statistics.mean(self.data[warmup:])
        compute = statistics.mean(self.compute[warmup:])
        total = statistics.mean(self.total[warmup:])
        return total, data, compute


def measure(datalist: str, cache_rate: float, workers: int, iterations: int, warmup: int, preset: str) -> tuple:
    logging.disable(logging.WARNING)  # only the table on stdout: no per-iteration console logging
    with tempfile.TemporaryDirectory() as scratch:
        workflow = ConfigWorkflow(
            config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "quick.json")],
            meta_file=str(CONFIGS / "metadata.json"),
            logging_file=False,
            workflow_type="train",
            run_id="training",
            bundle_root=scratch,
            datalist=datalist,
            network_preset=preset,
            cache_rate=cache_rate,
            num_workers=workers,
            epochs=1,
            epoch_length=iterations + warmup,
            val_interval=1000,
            experiment_name="bench_train",
        )
        workflow.initialize()
        timer = IterationTimer(workflow.parser.get_parsed_content("train#trainer"))
        workflow.run()
        workflow.finalize()
    logging.disable(logging.NOTSET)
    return timer.means(warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datalist", default=None, help="datalist JSON (default: the embedded phantom set)")
    parser.add_argument("--iterations", type=int, default=6, help="timed iterations per set-up")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first iterations")
    parser.add_argument("--workers", type=int, default=2, help="loader workers of the last set-up")
    parser.add_argument("--network_preset", default="saunet3d")
    args = parser.parse_args()

    from wmhseg.bundle import load_split, resolve_datalist

    datalist = resolve_datalist(args.datalist)
    quick = json.loads((CONFIGS / "quick.json").read_text())
    print(f"datalist {datalist} ({len(load_split(datalist, 'training', 0))} training cases)")
    print(
        f"network {args.network_preset}, patch {quick['patch_size']}, batch {quick['batch_size']}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{args.iterations} timed iterations after {args.warmup} warm-up"
    )
    setups = [
        ("no cache, main process", 0.0, 0),
        ("cache, main process", 1.0, 0),
        (f"cache, {args.workers} workers", 1.0, args.workers),
    ]
    print(f"{'set-up':<24} {'s/iter':>8} {'data wait':>10} {'compute':>9} {'other':>7} {'data wait share':>16}")
    baseline_wait = None
    for name, cache_rate, workers in setups:
        total, data, compute = measure(datalist, cache_rate, workers, args.iterations, args.warmup, args.network_preset)
        baseline_wait = baseline_wait or data
        print(
            f"{name:<24} {total:8.3f} {data:10.3f} {compute:9.3f} {total - data - compute:7.3f} {100 * data / total:15.1f}%"
            + ("" if data == baseline_wait else f"  (data wait {baseline_wait / data:.1f}x shorter than baseline)")
        )


if __name__ == "__main__":
    main()
