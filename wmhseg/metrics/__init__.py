"""WMH Segmentation Challenge metrics (Kuijf et al., IEEE TMI 2019), identical to the official evaluation.

The numpy/scipy functions load without MONAI; the MONAI metric and Ignite handler classes are imported on first
use, so that scoring files (``wmhseg evaluate``) does not pay for importing MONAI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .binarise import binarise_result, reference_masks, result_window
from .challenge import (
    METRIC_LABELS,
    METRIC_NAMES,
    ChallengeScores,
    LesionCounts,
    avd,
    challenge_scores,
    dice,
    evaluate_volumes,
    hd95,
    inplane_contour,
    lesion_counts,
    lesion_recall_f1,
)
from .geometry import spacing_from_geometry, voxel_matrix

if TYPE_CHECKING:
    from .ignite_handler import WMHChallengeMetricHandler
    from .monai_metric import WMHChallengeMetric

_LAZY = {"WMHChallengeMetric": ".monai_metric", "WMHChallengeMetricHandler": ".ignite_handler"}

__all__ = [
    "METRIC_LABELS",
    "METRIC_NAMES",
    "ChallengeScores",
    "LesionCounts",
    "WMHChallengeMetric",
    "WMHChallengeMetricHandler",
    "avd",
    "binarise_result",
    "challenge_scores",
    "dice",
    "evaluate_volumes",
    "hd95",
    "inplane_contour",
    "lesion_counts",
    "lesion_recall_f1",
    "reference_masks",
    "result_window",
    "spacing_from_geometry",
    "voxel_matrix",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
