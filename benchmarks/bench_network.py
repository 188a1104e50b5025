"""CPU forward-pass benchmark of the 3D SA-UNet against MONAI's BasicUNet.

For each network and mode it prints the median forward time, the FLOPs counted by
``torch.utils.flop_counter`` (one multiply-add = 2 FLOPs), the achieved GFLOP/s and
that rate as a fraction of the machine's fp32 matmul GFLOP/s measured in the same
run.  Modes: plain fp32, ``channels_last_3d`` memory format, and bf16 autocast.

    python benchmarks/bench_network.py [--size 240 240 48] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from monai.networks.nets import BasicUNet
from torch.utils.flop_counter import FlopCounterMode

from wmhseg.networks import SAUNet3D


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / median_seconds(lambda: a @ b, repeats, warmup=2) / 1e9


def counted_gflops(net: torch.nn.Module, x: torch.Tensor) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        net(x)
    return counter.get_total_flops() / 1e9


def run_mode(net: torch.nn.Module, x: torch.Tensor, mode: str, repeats: int) -> float:
    if mode == "channels_last_3d":
        net = net.to(memory_format=torch.channels_last_3d)
        x = x.to(memory_format=torch.channels_last_3d)

    def forward() -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16 autocast"):
            net(x)

    seconds = median_seconds(forward, repeats)
    net.to(memory_format=torch.contiguous_format)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, default=(240, 240, 48), metavar=("X", "Y", "Z"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    x = torch.randn(1, 1, *args.size)
    networks = {
        "SAUNet3D (default)": SAUNet3D().eval(),
        "BasicUNet (24-192)": BasicUNet(3, 1, 3, features=(24, 24, 48, 96, 192, 24)).eval(),
    }
    peak = matmul_gflops()
    print(f"input {tuple(x.shape)}, {args.threads} threads, torch {torch.__version__}")
    print(f"machine fp32 matmul (2048x2048): {peak:.1f} GFLOP/s\n")
    header = f"{'network':<22} {'mode':<18} {'params':>10} {'GFLOP':>8} {'median s':>9} {'GFLOP/s':>8} {'of matmul':>9} {'vs fp32':>8}"
    print(header)
    print("-" * len(header))
    for name, net in networks.items():
        params = sum(p.numel() for p in net.parameters())
        gflop = counted_gflops(net, x)
        baseline = None
        for mode in ("fp32", "channels_last_3d", "bf16 autocast"):
            seconds = run_mode(net, x, mode, args.repeats)
            baseline = baseline or seconds
            rate = gflop / seconds
            print(
                f"{name:<22} {mode:<18} {params:>10,} {gflop:>8.1f} {seconds:>9.2f} {rate:>8.1f} "
                f"{rate / peak:>9.0%} {baseline / seconds:>7.2f}x"
            )


if __name__ == "__main__":
    main()
