"""Densely connected blocks (DenseNet, Huang et al., CVPR 2017), with the layout of MONAI's DenseNet."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from monai.networks.layers import get_act_layer, get_norm_layer
from monai.networks.layers.factories import Conv, Dropout

__all__ = ["DenseBlock", "DenseLayer"]


class DenseLayer(nn.Module):
    """One dense layer: norm → act → 1×1 conv → norm → act → 3×3 conv (→ dropout), output concatenated.

    Huang G., Liu Z., van der Maaten L., Weinberger K.Q., "Densely Connected Convolutional
    Networks", CVPR 2017, arXiv:1608.06993 (the DenseNet-B bottleneck layer).  The module
    names (``layers.norm1`` … ``layers.conv2``) are those of MONAI's DenseNet, so state_dicts
    carry over.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: input channels.
        growth_rate: channels the layer adds (k in the paper).
        bn_size: width of the 1×1 bottleneck convolution, in multiples of ``growth_rate``.
        dropout_prob: dropout after the layer (none when 0).
        act: MONAI activation factory argument.
        norm: MONAI norm factory argument.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        growth_rate: int,
        bn_size: int,
        dropout_prob: float = 0.0,
        act: str | tuple = "relu",
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        width = bn_size * growth_rate
        conv = Conv[Conv.CONV, spatial_dims]
        self.layers = nn.Sequential()
        self.layers.add_module("norm1", get_norm_layer(name=norm, spatial_dims=spatial_dims, channels=in_channels))
        self.layers.add_module("relu1", get_act_layer(name=act))
        self.layers.add_module("conv1", conv(in_channels, width, kernel_size=1, bias=False))
        self.layers.add_module("norm2", get_norm_layer(name=norm, spatial_dims=spatial_dims, channels=width))
        self.layers.add_module("relu2", get_act_layer(name=act))
        self.layers.add_module("conv2", conv(width, growth_rate, kernel_size=3, padding=1, bias=False))
        if dropout_prob > 0:
            self.layers.add_module("dropout", Dropout[Dropout.DROPOUT, spatial_dims](dropout_prob))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) → (B, C + growth_rate, *spatial): the input, then the new features."""
        return torch.cat([x, self.layers(x)], 1)


class DenseBlock(nn.Sequential):
    """``layers`` :class:`DenseLayer`\\ s (``denselayer1``, ``denselayer2``, …), each seeing all earlier outputs.

    ``forward``: (B, in_channels, *spatial) → (B, in_channels + layers · growth_rate, *spatial).

    Args:
        spatial_dims: number of spatial dimensions.
        layers: number of dense layers.
        in_channels: input channels.
        growth_rate: channels each layer adds.
        layer_options: the other arguments of every :class:`DenseLayer` (``bn_size``,
            ``dropout_prob``, ``act``, ``norm``).
    """

    def __init__(
        self, spatial_dims: int, layers: int, in_channels: int, growth_rate: int, **layer_options: Any
    ) -> None:
        super().__init__()
        for index in range(layers):
            layer = DenseLayer(spatial_dims, in_channels + index * growth_rate, growth_rate, **layer_options)
            self.add_module(f"denselayer{index + 1}", layer)
