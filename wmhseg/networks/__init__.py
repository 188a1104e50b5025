"""Networks of wmhseg, reachable by dotted ``_target_`` from bundle configs.

``get_network(name, **overrides)`` builds any registered network by name and
``list_networks()`` lists the names.
"""

from . import presets
from .blocks import ASPP, SpatialAttention
from .presets import TABLE1, TABLE2
from .registry import get_network, list_networks, network_preset, register_network
from .saunet3d import SAUNet3D

__all__ = [
    "ASPP",
    "SAUNet3D",
    "SpatialAttention",
    "TABLE1",
    "TABLE2",
    "get_network",
    "list_networks",
    "network_preset",
    "presets",
    "register_network",
]
