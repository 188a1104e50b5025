"""The named networks: the six rows of the 3D SA-UNet paper's Table 1, the Table 2 baselines
and the related networks (SA-UNet, Guo et al., ICPR 2020; RSANet, Zhang H. et al., MICCAI 2019;
SAU-Net, Zhang Y. et al., MIDL 2020).

Guo C., arXiv:2309.08402.  Table 1 rows are :class:`SAUNet3D` switches; the Table 2
baselines are MONAI's own ``UNet`` and ``AttentionUnet`` at the SA-UNet's widths and
with its anisotropic (2,2,1) down-sampling, so that every preset takes the same inputs
(X and Y multiples of 8, any depth).

The related networks (:data:`RELATED`): the two 2D SA-UNet variants with their published
inputs and outputs (3-channel slices, one sigmoid-ready logit), and the 3D ones (RSANet,
SAU-Net, 3D SA-UNet with an RSA block) with the WMH pipeline's 1 FLAIR input and 3 classes.
"""

from __future__ import annotations

from monai.networks.nets import AttentionUnet, UNet

from .dense_unet_isa import SAUNetISA
from .registry import register_network
from .rsanet3d import RSANet3D
from .saunet2d import SAUNET2D_PRESETS, SAUNet2D
from .saunet3d import SAUNet3D

_BACKBONE = {"use_sam": False, "use_aspp": False}
_BASELINE = {
    "spatial_dims": 3,
    "in_channels": 1,
    "out_channels": 3,
    "channels": (24, 48, 96, 192),
    "strides": ((2, 2, 1), (2, 2, 1), (2, 2, 1)),
}

TABLE1_ROWS: dict[str, tuple[str, dict]] = {
    "backbone_333_bn": (
        "Table 1: backbone with (3,3,3) kernels, (2,2,2) pooling and BatchNorm",
        {"kernel_size": 3, "pool_size": 2, "norm": "batch", **_BACKBONE},
    ),
    "backbone_331_bn": (
        "Table 1: backbone with (3,3,1) kernels, (2,2,1) pooling and BatchNorm",
        {"norm": "batch", **_BACKBONE},
    ),
    "backbone_gn": ("Table 1: Backbone* (anisotropic, GroupNorm 8)", dict(_BACKBONE)),
    "backbone_gn_aspp": ("Table 1: Backbone* + 3D ASPP", {"use_sam": False}),
    "backbone_gn_sam": ("Table 1: Backbone* + 3D SAM", {"use_aspp": False}),
    "saunet3d": ("3D SA-UNet: anisotropic GN backbone + 3D SAM on skips + 3D ASPP (Table 1, last row)", {}),
}
"""The paper's Table 1 rows as :class:`SAUNet3D` arguments (description, keyword arguments), in the paper's order.

The defaults are the last row: (3,3,1) kernels and (2,2,1) pooling at every level (``kernel_size`` and
``pool_size`` also take one entry per level), GroupNorm(8), SAM on the skips and ASPP in the bottleneck.
"""
TABLE1 = tuple(TABLE1_ROWS)
"""Preset names of the paper's Table 1 rows, in the paper's order."""

for _name in ("saunet3d", *TABLE1[:-1]):  # the default network first
    register_network(_name, SAUNet3D, TABLE1_ROWS[_name][0], **TABLE1_ROWS[_name][1])
del _name

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

TABLE2 = ("unet3d", "attention_unet3d", "saunet3d")
"""Preset names of the paper's Table 2 rows that we train (the challenge winner is quoted)."""

register_network(
    "saunet2d_guo2020",
    SAUNet2D,
    "SA-UNet (Guo et al., ICPR 2020): 2D, 16/32/64 + 128 bottleneck, DropBlock(7, 0.18), SA 7x7 mid-bottleneck",
    **SAUNET2D_PRESETS["guo2020"],
)
register_network(
    "saunet2d_lgg",
    SAUNet2D,
    "SA-UNet brain-MRI variant (LGG notebook): 2D, 4 levels 16-128, Dropout(0.2), SA on the last pooled map",
    **SAUNET2D_PRESETS["lgg_brain"],
)
register_network(
    "rsanet3d",
    RSANet3D,
    "RSANet (Zhang et al., MICCAI 2019): 3D U-Net 32-512, GroupNorm 8, RSA block after the bottleneck",
    in_channels=1,
    out_channels=3,
)
register_network(
    "saunet3d_rsa", SAUNet3D, "3D SA-UNet with an RSA block after the bottleneck (our combination)", use_rsa=True
)
register_network(
    "sau_net",
    SAUNetISA,
    "SAU-Net (Zhang et al., MIDL 2020): slice-wise 2D Dense U-Net + inter-slice attention (k=1), our design",
)

RELATED = ("saunet2d_guo2020", "saunet2d_lgg", "rsanet3d", "saunet3d_rsa", "sau_net")
"""Preset names of the related networks (``docs/related_networks.md``)."""
