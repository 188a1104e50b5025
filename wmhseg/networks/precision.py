"""Numerical precision of a network's forward pass: fp32, or bf16 autocast with channels-last on the CPU.

On CPUs with native bf16 support (AVX512-BF16 or AMX), a bf16 autocast forward of the 3D
SA-UNet in ``torch.channels_last_3d`` memory format is 2-3x faster than fp32 (see
``benchmarks/bench_network.py``). MONAI's engines only autocast on CUDA, so the CPU path is a
wrapper module: it autocasts inside ``forward`` and returns fp32 logits, so losses, softmax and
blending stay in fp32, and training (backward through autocast) works unchanged. On CUDA the
same wrapper uses fp16/bf16 autocast (AMP).
"""

from __future__ import annotations

import torch
import torch.nn as nn

PRECISIONS = ("auto", "fp32", "bf16")


def cpu_supports_bf16() -> bool:
    """True where this CPU computes bf16 natively (AVX512-BF16 or AMX), so autocast pays off."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """The precision to run: ``"fp32"`` or ``"bf16"`` (``"auto"``: bf16 where the device supports it).

    On CUDA, ``"bf16"`` means autocast (AMP): bf16 where the GPU supports it, else fp16.
    Raises ValueError for an unknown name, or for ``"bf16"`` on a CPU without bf16 support.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    device = torch.device(device)
    supported = device.type == "cuda" or (device.type == "cpu" and cpu_supports_bf16())
    if precision == "auto":
        return "bf16" if supported else "fp32"
    if precision == "bf16" and not supported:
        raise ValueError(f"precision 'bf16' is not supported on this {device.type} (no native bf16); use fp32 or auto")
    return precision


class PrecisionNetwork(nn.Module):
    """``network`` run at a precision: fp32 as is, or bf16 autocast (CPU: also channels-last memory format).

    The wrapped network's parameters stay fp32 (autocast casts per operation), and its state dict
    is the wrapped network's own (``self.network``), so checkpoints do not depend on the wrapper.

    Args:
        network: the network to run (on its final device already).
        precision: ``"auto"``, ``"fp32"`` or ``"bf16"`` (see :func:`resolve_precision`).
        device: where it runs; defaults to the device of the network's first parameter.

    ``forward(x)``: ``x`` (B, C, *spatial) → the network's output in fp32.
    """

    def __init__(self, network: nn.Module, precision: str = "auto", device: torch.device | str | None = None) -> None:
        super().__init__()
        if device is None:
            first = next(network.parameters(), None)
            device = first.device if first is not None else torch.device("cpu")
        self.device_type = torch.device(device).type
        self.precision = resolve_precision(precision, device)
        self.channels_last = self.precision == "bf16" and self.device_type == "cpu"
        self.autocast_dtype = torch.bfloat16
        if self.device_type == "cuda" and not torch.cuda.is_bf16_supported():
            self.autocast_dtype = torch.float16
        if self.channels_last:  # the 3D convolutions' weights; networks mixing in 2D layers keep those as they are
            for module in network.modules():
                if isinstance(module, (nn.Conv3d, nn.ConvTranspose3d)):
                    module.to(memory_format=torch.channels_last_3d)
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.precision == "fp32":
            return self.network(x)
        if self.channels_last and x.dim() == 5:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        with torch.autocast(self.device_type, dtype=self.autocast_dtype):
            out = self.network(x)
        return out.float().contiguous()


def with_precision(network: nn.Module, precision: str = "auto", device: torch.device | str | None = None) -> nn.Module:
    """``network`` wrapped in :class:`PrecisionNetwork` (fp32 returns the network itself)."""
    wrapped = PrecisionNetwork(network, precision, device)
    return wrapped.network if wrapped.precision == "fp32" else wrapped
