"""The named networks: the six rows of the 3D SA-UNet paper's Table 1 and the Table 2 baselines.

Guo C., arXiv:2309.08402.  Table 1 rows are :class:`SAUNet3D` switches; the Table 2
baselines are MONAI's own ``UNet`` and ``AttentionUnet`` at the SA-UNet's widths and
with its anisotropic (2,2,1) down-sampling, so that every preset takes the same inputs
(X and Y multiples of 8, any depth).
"""

from __future__ import annotations

from monai.networks.nets import AttentionUnet, UNet

from .registry import register_network
from .saunet3d import SAUNet3D

_BACKBONE = {"use_sam": False, "use_aspp": False}
_BASELINE = {
    "spatial_dims": 3,
    "in_channels": 1,
    "out_channels": 3,
    "channels": (24, 48, 96, 192),
    "strides": ((2, 2, 1), (2, 2, 1), (2, 2, 1)),
}

register_network("saunet3d", SAUNet3D, "3D SA-UNet: anisotropic GN backbone + 3D SAM on skips + 3D ASPP (Table 1, last row)")
register_network(
    "backbone_333_bn",
    SAUNet3D,
    "Table 1: backbone with (3,3,3) kernels, (2,2,2) pooling and BatchNorm",
    kernel_size=3,
    pool_size=2,
    norm="batch",
    **_BACKBONE,
)
register_network(
    "backbone_331_bn", SAUNet3D, "Table 1: backbone with (3,3,1) kernels, (2,2,1) pooling and BatchNorm", norm="batch", **_BACKBONE
)
register_network("backbone_gn", SAUNet3D, "Table 1: Backbone* (anisotropic, GroupNorm 8)", **_BACKBONE)
register_network("backbone_gn_aspp", SAUNet3D, "Table 1: Backbone* + 3D ASPP", use_sam=False)
register_network("backbone_gn_sam", SAUNet3D, "Table 1: Backbone* + 3D SAM", use_aspp=False)
register_network(
    "unet3d",
    UNet,
    "Table 2 baseline: MONAI UNet (residual units, instance norm) at widths 24-192, (2,2,1) strides",
    num_res_units=2,
    **_BASELINE,
)
register_network(
    "attention_unet3d",
    AttentionUnet,
    "Table 2 baseline: MONAI AttentionUnet (Oktay gates) at widths 24-192, (2,2,1) strides",
    **_BASELINE,
)

TABLE1 = ("backbone_333_bn", "backbone_331_bn", "backbone_gn", "backbone_gn_aspp", "backbone_gn_sam", "saunet3d")
"""Preset names of the paper's Table 1 rows, in the paper's order."""
TABLE2 = ("unet3d", "attention_unet3d", "saunet3d")
"""Preset names of the paper's Table 2 rows that we train (the challenge winner is quoted)."""
