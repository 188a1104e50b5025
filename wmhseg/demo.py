"""Placeholder main job: one forward pass of a named network on a synthetic FLAIR-sized volume."""

from __future__ import annotations

import argparse
import time

import torch

from .networks import get_network, list_networks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--network", default="saunet3d", choices=list_networks(), help="network preset")
    parser.add_argument("--size", type=int, nargs=3, default=(96, 96, 16), metavar=("X", "Y", "Z"))


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(0)
    net = get_network(args.network).eval()
    x = torch.randn(1, 1, *args.size)
    start = time.perf_counter()
    with torch.inference_mode():
        y = net(x)
    n_params = sum(p.numel() for p in net.parameters())
    print(f"{args.network}: {n_params:,} parameters; input {tuple(x.shape)} -> logits {tuple(y.shape)} "
          f"in {time.perf_counter() - start:.2f} s")
    return 0
