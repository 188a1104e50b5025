"""Parameters, GFLOPs and CPU forward time of every registered network, in one table.

Representative inputs: 1×3×256×256 for the 2D SA-UNets (the LGG slice size), and a
1×1×128×128×32 FLAIR slab for the 3D networks (SAU-Net runs its 2D network on the 32
slices of the same slab).  GFLOPs count one forward pass with
``torch.utils.flop_counter.FlopCounterMode`` (2 FLOPs per multiply-add; convolutions,
matrix products and attention only).  Time is the median of ``--repeats`` forward
passes after one warm-up, in eval mode under ``torch.no_grad``, on the CPU threads
torch is given; the fastest pass is printed too, since on a shared machine it is the
less noisy figure.  The last column is the median time relative to ``saunet3d``
measured in the same run.

Run: ``PYTHONPATH=$PWD python benchmarks/bench_related_networks.py [--repeats 2] [--threads 2] [--names a b]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from wmhseg.networks import get_network, list_networks

INPUT_2D = (1, 3, 256, 256)
INPUT_3D = (1, 1, 128, 128, 32)
TWO_D = {"saunet2d_guo2020", "saunet2d_lgg"}


def measure(name: str, repeats: int) -> dict[str, object]:
    """Parameters, GFLOPs and median forward seconds of network ``name`` on its representative input."""
    torch.manual_seed(0)
    net = get_network(name).eval()
    shape = INPUT_2D if name in TWO_D else INPUT_3D
    x = torch.randn(shape)
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            net(x)  # also the warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    return {
        "name": name,
        "input": "x".join(str(s) for s in shape),
        "params": params,
        "gflops": counter.get_total_flops() / 1e9,
        "seconds": statistics.median(times),
        "fastest": min(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed forward passes per network (default 2)")
    parser.add_argument("--names", nargs="*", default=None, help="networks to measure (default: all registered)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.names or list_networks()
    rows = [measure(name, args.repeats) for name in names]
    baseline = next((r["seconds"] for r in rows if r["name"] == "saunet3d"), None)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, median of {args.repeats} forward passes")
    header = (
        f"| {'network':<18} | {'input':<17} | {'parameters':>12} | {'GFLOPs':>8} | {'CPU median (s)':>14} "
        f"| {'fastest (s)':>11} | {'vs saunet3d':>11} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for r in rows:
        ratio = f"{r['seconds'] / baseline:.2f}x" if baseline else "n/a"
        print(
            f"| {r['name']:<18} | {r['input']:<17} | {r['params']:>12,} | {r['gflops']:>8.2f} | "
            f"{r['seconds']:>14.3f} | {r['fastest']:>11.3f} | {ratio:>11} |"
        )


if __name__ == "__main__":
    main()
