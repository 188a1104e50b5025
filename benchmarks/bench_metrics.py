"""Benchmark: the five WMH challenge metrics, fast numpy/scipy path vs the SimpleITK reference path.

Times :func:`wmhseg.metrics.evaluate_volumes` (median of several runs) and
:func:`wmhseg.metrics.official_sitk.official_scores` (the official evaluation's operations) on synthetic
reference/prediction pairs with realistic WMH loads, on one thread, and checks that both give the same numbers.

    python benchmarks/bench_metrics.py [--repeats 5]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"):
    os.environ[_var] = "1"  # single thread, set before numpy / SimpleITK load

import argparse
import math
import platform
import statistics
import time

import numpy as np
import SimpleITK as sitk

from wmhseg.metrics import evaluate_volumes
from wmhseg.metrics.official_sitk import image_from_array, official_scores


def _ellipsoid(shape, spacing, centre_mm, radii_mm):
    """Boolean ellipsoid and the box it lives in."""
    box = tuple(
        slice(max(0, int((c - r) / s) - 1), min(n, int((c + r) / s) + 2))
        for c, r, s, n in zip(centre_mm, radii_mm, spacing, shape)
    )
    coords = np.ogrid[tuple(slice(b.start, b.stop) for b in box)]
    inside = sum(((g * s - c) / r) ** 2 for g, s, c, r in zip(coords, spacing, centre_mm, radii_mm)) <= 1
    return box, inside


def synthetic_pair(shape, spacing, n_lesions, seed=0):
    """Reference (float32 labels 0/1/2) and prediction (uint8 0/1) with a realistic WMH load.

    Two large periventricular caps plus ``n_lesions`` small deep lesions (radii lognormal around 2.5 mm) inside a
    brain-sized ellipsoid, a few label-2 regions; the prediction misses ~15 % of the small lesions, scales the
    others by 0.7-1.3, under-segments the caps and adds false positives.
    """
    rng = np.random.default_rng(seed)
    extent = np.asarray(shape) * np.asarray(spacing)
    centre = extent / 2
    ref = np.zeros(shape, np.float32)
    pred = np.zeros(shape, np.uint8)
    for side in (-1, 1):  # periventricular caps
        c = centre + np.array([side * 0.12, 0.0, 0.02]) * extent
        radii = np.array([6.0, 20.0, 12.0])
        box, inside = _ellipsoid(shape, spacing, c, radii)
        ref[box][inside] = 1
        box, inside = _ellipsoid(shape, spacing, c, radii * 0.85)
        pred[box][inside] = 1
    for _ in range(n_lesions):
        c = centre + rng.normal(0, 0.16, 3) * extent
        radii = np.maximum(rng.lognormal(np.log(2.5), 0.5, 3), np.asarray(spacing) * 0.6)
        box, inside = _ellipsoid(shape, spacing, c, radii)
        ref[box][inside] = 1
        if rng.random() > 0.15:
            box, inside = _ellipsoid(shape, spacing, c, radii * rng.uniform(0.7, 1.3))
            pred[box][inside] = 1
    for _ in range(n_lesions // 3):  # false positives
        c = centre + rng.normal(0, 0.18, 3) * extent
        box, inside = _ellipsoid(shape, spacing, c, np.maximum(rng.lognormal(np.log(1.8), 0.4, 3), spacing))
        pred[box][inside] = 1
    for _ in range(3):  # other pathology (label 2), where the prediction also fires
        c = centre + rng.normal(0, 0.15, 3) * extent
        box, inside = _ellipsoid(shape, spacing, c, np.array([4.0, 4.0, 4.0]))
        ref[box][inside & (ref[box] == 0)] = 2
        pred[box][inside] = 1
    return ref, pred


def noisy_pair(shape, spacing, seed=0):
    """A realistic reference with the prediction of an untrained network: 30 % salt noise (worst case for HD95)."""
    ref, _ = synthetic_pair(shape, spacing, 60, seed)
    return ref, (np.random.default_rng(seed + 1).random(shape) < 0.3).astype(np.uint8)


CASES = [
    ("Utrecht-like", (240, 240, 48), (0.96, 0.95, 3.0), lambda s, sp: synthetic_pair(s, sp, 60)),
    ("high-res", (512, 512, 200), (0.45, 0.45, 0.9), lambda s, sp: synthetic_pair(s, sp, 150)),
    ("noisy pred", (240, 240, 48), (0.96, 0.95, 3.0), noisy_pair),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of the fast path per case (median reported)")
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)

    print(f"python {platform.python_version()}, numpy {np.__version__}, SimpleITK {sitk.Version.VersionString()}, "
          f"1 thread, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")  # fmt: skip
    header = f"{'case':<13} {'shape':<13} {'WMH ml':>7} {'fast s':>7} {'sitk s':>7} {'speed-up':>8} {'max |diff|':>10}"
    print(header)
    print("-" * len(header))
    for name, shape, spacing, make in CASES:
        ref, pred = make(shape, spacing)
        fast_times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fast = evaluate_volumes(ref, pred, spacing).metrics()
            fast_times.append(time.perf_counter() - start)
        ref_image, pred_image = image_from_array(ref, spacing), image_from_array(pred)
        start = time.perf_counter()
        official = official_scores(ref_image, pred_image)
        official_time = time.perf_counter() - start
        diff = max(0.0 if (math.isnan(fast[k]) and math.isnan(v)) else abs(fast[k] - v) for k, v in official.items())
        median = statistics.median(fast_times)
        wmh_ml = float((ref == 1).sum()) * float(np.prod(spacing)) / 1000
        print(f"{name:<13} {'x'.join(map(str, shape)):<13} {wmh_ml:>7.1f} {median:>7.3f} {official_time:>7.2f} "
              f"{official_time / median:>7.1f}x {diff:>10.1e}")  # fmt: skip
        print(f"{'':<13} fast: " + ", ".join(f"{k} {v:.4f}" for k, v in fast.items()))


if __name__ == "__main__":
    main()
