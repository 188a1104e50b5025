"""MONAI dictionary transforms for WMH segmentation on FLAIR, and builders of the standard lists.

Builders (return lists of transforms, usable from bundle JSON): ``preprocessing``,
``patch_sampling``, ``augmentation`` (with ``DEFAULT_AUGMENTATION``), and for 2D slices
``slice_preprocessing`` and ``slice_augmentation`` (with ``DEFAULT_SLICE_AUGMENTATION``).
Reader: ``IsalNibabelReader`` (``.nii.gz`` decompressed by ISA-L). Transforms: ``NormalizeFLAIRd``, ``AxisAlignedInvertd``, ``EnsureLabelClassesd``, ``RandTransposeAxesd``,
``RandQuadraticBiasFieldd``, ``ApplyToRawIntensityd``; for slices ``CheckChannelsd``,
``ScaleSliceIntensityd``, ``EnsureBinaryMaskd``.
"""

from .inverse import AxisAlignedInvertd
from .labels import EnsureLabelClassesd
from .normalization import (
    NORMALISATION_MODES,
    PAPER_GLOBAL_STATS,
    NormalizeFLAIRd,
    otsu_threshold,
)
from .quadratic_bias import RandQuadraticBiasFieldd
from .raw_intensity import RAW_ZERO_KEY, ApplyToRawIntensityd, raw_zero
from .reader import IsalNibabelReader
from .slice_lists import (
    DEFAULT_SLICE_AUGMENTATION,
    slice_augmentation,
    slice_augmentation_params,
    slice_preprocessing,
)
from .slice_values import CheckChannelsd, EnsureBinaryMaskd, ScaleSliceIntensityd
from .transpose import RandTransposeAxesd
from .volume_lists import (
    DEFAULT_AUGMENTATION,
    DEFAULT_TARGET_SPACING,
    augmentation,
    augmentation_params,
    patch_sampling,
    preprocessing,
)

__all__ = [
    "AxisAlignedInvertd",
    "DEFAULT_AUGMENTATION",
    "DEFAULT_SLICE_AUGMENTATION",
    "DEFAULT_TARGET_SPACING",
    "NORMALISATION_MODES",
    "PAPER_GLOBAL_STATS",
    "RAW_ZERO_KEY",
    "ApplyToRawIntensityd",
    "CheckChannelsd",
    "EnsureBinaryMaskd",
    "EnsureLabelClassesd",
    "IsalNibabelReader",
    "NormalizeFLAIRd",
    "RandQuadraticBiasFieldd",
    "RandTransposeAxesd",
    "ScaleSliceIntensityd",
    "augmentation",
    "augmentation_params",
    "otsu_threshold",
    "patch_sampling",
    "preprocessing",
    "raw_zero",
    "slice_augmentation",
    "slice_augmentation_params",
    "slice_preprocessing",
]
