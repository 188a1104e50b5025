"""Time to generate one synthetic FLAIR phantom per scanner grid, on one core.

Target (issue 3): under 2 s per subject on one core. Prints, per protocol, the median
over seeds of ``make_phantom`` alone and of generation plus writing the three NIfTI files,
as wall-clock and as CPU time of this process (threads pinned to 1, so CPU time is the
one-core cost even when other processes share the machine), and, as a baseline measured
in the same run, the time to read the written FLAIR back with nibabel (decompress
included); the ratio says how many reads one generation plus writing costs.

Run: ``python benchmarks/phantom_speed.py [--seeds 3]`` from the repository root.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wmhseg.data.synthetic import PROTOCOLS, make_phantom  # noqa: E402
from wmhseg.data.synthetic.atlas import load_atlas  # noqa: E402
from wmhseg.io import save_nifti  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="phantoms per protocol (median reported)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    load_atlas()
    print(
        f"atlas load (once per process): {time.perf_counter() - start:.2f} s; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"{'protocol':<10} {'grid':<13} {'generate s':>10} {'+ write s':>10} {'cpu s':>7} {'read s':>7} "
        f"{'ratio':>6} cpu<2s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, protocol in PROTOCOLS.items():
            generate, total, cpu, read = [], [], [], []
            for seed in range(args.seeds):
                c0 = time.process_time()
                t0 = time.perf_counter()
                phantom = make_phantom(seed, name, other_pathology=seed % 2 == 0, skull_stripped=seed % 3 == 0)
                t1 = time.perf_counter()
                folder = Path(tmp) / f"{name}-{seed}"
                save_nifti(phantom.image, phantom.affine, folder / "FLAIR.nii.gz", np.int16)
                save_nifti(phantom.label, phantom.affine, folder / "wmh.nii.gz", np.uint8)
                save_nifti(phantom.brain_mask, phantom.affine, folder / "brain_mask.nii.gz", np.uint8)
                t2 = time.perf_counter()
                cpu.append(time.process_time() - c0)
                np.asarray(nib.load(folder / "FLAIR.nii.gz").dataobj)
                t3 = time.perf_counter()
                generate.append(t1 - t0)
                total.append(t2 - t0)
                read.append(t3 - t2)
            g, w, c, r = (statistics.median(v) for v in (generate, total, cpu, read))
            grid = "x".join(str(s) for s in protocol.shape)
            print(
                f"{name:<10} {grid:<13} {g:>10.2f} {w:>10.2f} {c:>7.2f} {r:>7.3f} {w / r:>6.1f} "
                f"{'yes' if c < 2.0 else 'NO'}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
