"""WMH Segmentation Challenge metrics (Kuijf et al., IEEE TMI 2019), identical to the official evaluation."""

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
from .geometry import spacing_from_geometry
from .ignite_handler import WMHChallengeMetricHandler
from .monai_metric import WMHChallengeMetric

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
]
