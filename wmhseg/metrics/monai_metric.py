"""MONAI ``CumulativeIterationMetric`` for the WMH challenge metrics on a bundle's post-processed output.

Per case, the value is what the official challenge evaluation (Kuijf et al., IEEE TMI 2019) would report for the
WMH mask the network output stands for, on the grid the tensors are on; see :mod:`wmhseg.metrics.challenge`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from monai.metrics import CumulativeIterationMetric
from monai.utils import convert_to_numpy

from .binarise import reference_masks
from .challenge import METRIC_NAMES, avd, dice, hd95, lesion_recall_f1
from .geometry import spacing_from_geometry

__all__ = ["WMHChallengeMetric"]


class WMHChallengeMetric(CumulativeIterationMetric):
    """One of the five WMH challenge metrics, one value per case, kept in the buffer for ``MetricsSaver``.

    Inputs are batch-first ``(B, C, X, Y, Z)`` tensors (or lists of channel-first tensors), the last spatial axis
    being the slice axis (the in-plane erosion of HD95 acts on X and Y):

    * ``y_pred`` with ``C == 1`` is a label map (e.g. after ``AsDiscreted(argmax=True)``): WMH is
      ``y_pred == wmh_class``; other classes (e.g. 2, other pathology) are background, as in the bundle's
      written masks. With ``C > 1`` it is one-hot or probabilities: WMH is channel ``wmh_class`` ≥ 0.5, which is
      how the official script binarises a float probability map (apply ``AsDiscreted(argmax=True)`` first for
      argmax semantics).
    * ``y`` with ``C == 1`` is the reference label map (1 WMH, 2 "don't care"); with ``C > 1`` it is one-hot:
      channel ``wmh_class`` is WMH and channel ``ignore_class`` (if present) is "don't care".
    * The voxel geometry comes from ``y``'s ``MetaTensor`` affine (else ``y_pred``'s; contour points are mapped
      with it, as the official script maps them with the reference's), or from ``spacing`` if given.
      Only HD95 needs it.

    The official numbers are those on the reference's original grid: evaluate after ``Invertd`` (or with
    ``wmhseg evaluate`` on the saved masks) when preprocessing resamples or crops.

    Args:
        metric_name: one of ``"dsc"``, ``"hd95"``, ``"avd"``, ``"recall"``, ``"f1"``.
        wmh_class: class index of WMH in the label map / channel index in one-hot tensors.
        ignore_class: class index of "other pathology" (don't care), or None.
        spacing: fixed voxel spacing in mm for tensors without an affine (overrides the affine when given).
        reduction: ``"mean"`` (mean over the cases whose value is not NaN; NaN if there is none) or ``"none"``.
        get_not_nans: if True, :meth:`aggregate` also returns the number of non-NaN cases.
    """

    def __init__(
        self,
        metric_name: str = "dsc",
        wmh_class: int = 1,
        ignore_class: int | None = 2,
        spacing: tuple[float, float, float] | None = None,
        reduction: str = "mean",
        get_not_nans: bool = False,
    ) -> None:
        super().__init__()
        if metric_name not in METRIC_NAMES:
            raise ValueError(f"metric_name must be one of {METRIC_NAMES}, got {metric_name!r}")
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        self.metric_name = metric_name
        self.wmh_class = wmh_class
        self.ignore_class = ignore_class
        self.spacing = None if spacing is None else spacing_from_geometry(spacing)
        self.reduction = reduction
        self.get_not_nans = get_not_nans

    def _result_mask(self, y_pred: np.ndarray) -> np.ndarray:
        if y_pred.shape[0] == 1:
            return y_pred[0] == self.wmh_class
        return y_pred[self.wmh_class] >= 0.5

    def _reference_masks(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if y.shape[0] == 1:
            return reference_masks(y[0])
        wmh = y[self.wmh_class] >= 0.5
        if self.ignore_class is not None and self.ignore_class < y.shape[0]:
            return wmh, y[self.ignore_class] >= 0.5
        return wmh, np.zeros_like(wmh)

    def _geometry(self, y: torch.Tensor, y_pred: torch.Tensor, index: int):
        if self.spacing is not None:
            return self.spacing
        for source in (y, y_pred):
            affine = getattr(source, "affine", None)
            if affine is not None:
                return affine[index] if affine.ndim == 3 else affine
        raise ValueError(
            "HD95 needs the voxel spacing: pass MetaTensors with an affine (e.g. from LoadImaged) or set `spacing`"
        )

    def _case_value(self, wmh: np.ndarray, binary: np.ndarray, geometry) -> float:
        if self.metric_name == "dsc":
            return dice(wmh, binary)
        if self.metric_name == "avd":
            return avd(wmh, binary)
        if self.metric_name == "hd95":
            return hd95(wmh, binary, geometry())
        recall, f1 = lesion_recall_f1(wmh, binary)
        return recall if self.metric_name == "recall" else f1

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """Per-case values, shape ``(B, 1)``, float64."""
        if y is None:
            raise ValueError("WMHChallengeMetric needs the reference y")
        if y_pred.ndim != 5 or y.ndim != 5:
            raise ValueError(
                f"expected (B, C, X, Y, Z) tensors, got y_pred {tuple(y_pred.shape)} and y {tuple(y.shape)}"
            )
        if y_pred.shape[0] != y.shape[0] or y_pred.shape[2:] != y.shape[2:]:
            raise ValueError(
                f"y_pred {tuple(y_pred.shape)} and y {tuple(y.shape)} differ in batch size or spatial shape"
            )
        pred_np, y_np = convert_to_numpy(y_pred), convert_to_numpy(y)
        values = []
        for b in range(pred_np.shape[0]):
            wmh, ignore = self._reference_masks(y_np[b])
            binary = self._result_mask(pred_np[b]) & ~ignore
            values.append(self._case_value(wmh, binary, lambda b=b: self._geometry(y, y_pred, b)))
        return torch.tensor(values, dtype=torch.float64).reshape(-1, 1)

    def aggregate(self, reduction: str | None = None):
        """Mean over the cases with a value (NaN cases skipped, as in the challenge's reports), or the buffer."""
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError(f"the buffer holds no per-case values yet: {data!r}")
        reduction = reduction or self.reduction
        not_nans = torch.count_nonzero(~torch.isnan(data))
        if reduction == "none":
            result = data
        elif reduction == "mean":
            result = data.nanmean() if not_nans > 0 else torch.tensor(math.nan, dtype=data.dtype)
        else:
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        return (result, not_nans) if self.get_not_nans else result
