"""The U-shaped encoder–decoder skeleton shared by SAUNet3D, SAUNet2D and DenseUNet2D, and per-stage sizes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from .size_contract import check_spatial_size

__all__ = ["EncoderDecoder", "per_stage"]


def per_stage(value: Sequence | int, stages: int, spatial_dims: int, name: str) -> list[tuple[int, ...]]:
    """One per-axis size per stage, from a single size or a per-stage list (as DynUNet's ``kernel_size``).

    * an int: that size on every axis of every stage;
    * a sequence of ints, one per axis (e.g. ``(3, 3, 1)``): that size at every stage;
    * a sequence of ``stages`` entries, each an int or one int per axis (e.g.
      ``[(3, 3, 1), (3, 3, 1), (3, 3, 3)]``): one size per stage, the first stage first.
    """
    if isinstance(value, int):
        return [(value,) * spatial_dims] * stages
    value = list(value)
    if all(isinstance(v, int) for v in value):
        if len(value) != spatial_dims:
            raise ValueError(f"{name} {tuple(value)} needs one size per spatial axis ({spatial_dims}).")
        return [tuple(value)] * stages
    if len(value) != stages:
        raise ValueError(f"{name} needs one entry per stage ({stages}), got {len(value)}: {value}.")
    sizes = [(v,) * spatial_dims if isinstance(v, int) else tuple(int(s) for s in v) for v in value]
    if any(len(s) != spatial_dims for s in sizes):
        raise ValueError(f"{name} {value}: every stage needs one size per spatial axis ({spatial_dims}).")
    return sizes


class EncoderDecoder(nn.Module):
    """A U-Net skeleton: stem → encoder levels with pooling → bottleneck → decoder levels → head.

    ``forward`` checks the input size (:func:`~wmhseg.networks.size_contract.check_spatial_size`),
    then runs ``stem``; each encoder level ``encoders[i]`` keeps its output as skip ``i`` and is
    followed by ``pools[i]``; then ``bottleneck``; decoder level ``j`` (deepest first) computes
    ``decoders[j](cat([ups[j](x), attentions[j](skip)], dim=1))`` with the skip of encoder level
    ``n - 1 - j``; ``head`` maps the last decoder output to the outputs.

    The subclasses build the modules and pass them here; the attribute names are the networks'
    state_dict prefixes (``stem`` and ``attentions`` default to parameter-free identities).

    Args:
        network_name: the network's name in size-contract errors.
        size_multiple: the required multiple of every spatial size, one per axis.
        encoders: one module per encoder level.
        pools: the down-sampling after each encoder level.
        bottleneck: the module between the last pooling and the first decoder level.
        ups: the up-sampling before each decoder level, deepest first.
        decoders: one module per decoder level, deepest first.
        head: the module after the last decoder level.
        stem: a module before the first encoder level.
        attentions: a module applied to each skip before concatenation, deepest first.
    """

    def __init__(
        self,
        network_name: str,
        size_multiple: Sequence[int],
        encoders: Sequence[nn.Module],
        pools: Sequence[nn.Module],
        bottleneck: nn.Module,
        ups: Sequence[nn.Module],
        decoders: Sequence[nn.Module],
        head: nn.Module,
        stem: nn.Module | None = None,
        attentions: Sequence[nn.Module] | None = None,
    ) -> None:
        super().__init__()
        levels = len(encoders)
        if not len(pools) == len(ups) == len(decoders) == levels or (
            attentions is not None and len(attentions) != levels
        ):
            raise ValueError("encoders, pools, ups, decoders and attentions need one module per level each.")
        self.network_name = network_name
        self.size_multiple: list[int] = [int(m) for m in size_multiple]
        self.stem = nn.Identity() if stem is None else stem
        self.encoders = nn.ModuleList(encoders)
        self.pools = nn.ModuleList(pools)
        self.bottleneck = bottleneck
        self.ups = nn.ModuleList(ups)
        self.attentions = nn.ModuleList([nn.Identity() for _ in range(levels)] if attentions is None else attentions)
        self.decoders = nn.ModuleList(decoders)
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last decoder level's output, before the head.

        Args:
            x: (B, in_channels, *spatial), every spatial size a multiple of ``size_multiple``.

        Returns:
            (B, C, *spatial): C the width of the first encoder level.
        """
        if not torch.jit.is_tracing():  # a traced graph cannot keep the check; it only warns
            check_spatial_size(self.network_name, list(x.shape[2:]), self.size_multiple)
        x = self.stem(x)
        skips: list[torch.Tensor] = []
        for encoder, pool in zip(self.encoders, self.pools):
            x = encoder(x)
            skips.append(x)
            x = pool(x)
        x = self.bottleneck(x)
        for level, (up, attention, decoder) in enumerate(zip(self.ups, self.attentions, self.decoders)):
            x = decoder(torch.cat([up(x), attention(skips[len(skips) - 1 - level])], dim=1))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits.

        Args:
            x: (B, in_channels, *spatial), every spatial size a multiple of ``size_multiple``
                (otherwise ``ValueError``, before any computation).

        Returns:
            (B, out_channels, *spatial) logits, the input's spatial size.
        """
        return self.head(self.features(x))
