"""Normalisation presets of the wmhseg networks, as MONAI norm factory arguments."""

from __future__ import annotations

GROUP_NORM = ("group", {"num_groups": 8, "eps": 1e-3})
"""GroupNorm(8) with the Keras default eps, as in the 3D SA-UNet reference model (Guo, arXiv:2309.08402)."""
BATCH_NORM = ("batch", {"momentum": 0.01, "eps": 1e-3})
"""BatchNorm with the Keras defaults (Keras momentum 0.99 is PyTorch momentum 0.01), as in SA-UNet and 3D SA-UNet."""
GROUP_NORM_TORCH = ("group", {"num_groups": 8})
"""GroupNorm(8) with the PyTorch default eps 1e-5, as in the released RSANet code (Zhang et al., MICCAI 2019)."""
NORM_ALIASES = {"group": GROUP_NORM, "batch": BATCH_NORM}
"""The short names that :func:`keras_norm` expands."""


def keras_norm(norm: str | tuple) -> str | tuple:
    """``"group"`` → :data:`GROUP_NORM`, ``"batch"`` → :data:`BATCH_NORM`; anything else unchanged.

    For the Keras-born networks (SA-UNet, 3D SA-UNet), whose reference code uses the Keras defaults.
    """
    return NORM_ALIASES.get(norm, norm) if isinstance(norm, str) else norm
