"""Networks of wmhseg, reachable by dotted ``_target_`` from bundle configs.

Importing this package registers the ``"dropblock"`` entry of MONAI's Dropout factory.

``get_network(name, options, **overrides)`` builds any registered network by name and
``list_networks()`` lists the names.
"""

from . import layers, presets
from .blocks import ASPP, DenseBlock, InterSliceAttention, RecurrentSliceAttention, SpatialAttention
from .dense_unet import DenseUNet2D
from .dense_unet_isa import SAUNetISA
from .encoder_decoder import EncoderDecoder
from .layers import BATCH_NORM, GROUP_NORM, DropBlock, DropBlock2d, DropBlock3d
from .precision import PRECISIONS, PrecisionNetwork, cpu_supports_bf16, resolve_precision, with_precision
from .presets import RELATED, TABLE1, TABLE2
from .registry import get_network, list_networks, network_arguments, network_preset, register_network
from .rsanet3d import RSANet3D
from .saunet2d import SAUNET2D_PRESETS, SAUNet2D
from .saunet3d import SAUNet3D

__all__ = [
    "ASPP",
    "BATCH_NORM",
    "DenseBlock",
    "DenseUNet2D",
    "DropBlock",
    "DropBlock2d",
    "DropBlock3d",
    "EncoderDecoder",
    "GROUP_NORM",
    "InterSliceAttention",
    "PRECISIONS",
    "PrecisionNetwork",
    "RELATED",
    "RSANet3D",
    "RecurrentSliceAttention",
    "SAUNET2D_PRESETS",
    "SAUNet2D",
    "SAUNet3D",
    "SAUNetISA",
    "SpatialAttention",
    "TABLE1",
    "TABLE2",
    "cpu_supports_bf16",
    "get_network",
    "layers",
    "list_networks",
    "network_arguments",
    "network_preset",
    "presets",
    "register_network",
    "resolve_precision",
    "with_precision",
]
