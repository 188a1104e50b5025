"""Evaluation QC image: axial FLAIR slices with the reference and the predicted WMH outlined.

Same display conventions as the inference QC mosaic (:mod:`wmhseg.reporting.qc`: closest
RAS orientation, subject's right on the right, head crop, true pixel aspect); the
reference is outlined in green, the prediction in red, and each panel counts both.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from ..io import atomic_path
from ..reporting.qc import OUTLINE_COLOUR, display_window, head_box, pick_slices, to_ras

__all__ = ["REFERENCE_COLOUR", "render_comparison"]

REFERENCE_COLOUR = "#39e639"


def render_comparison(
    flair: np.ndarray,
    reference: np.ndarray,
    prediction: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    title: str,
    n_slices: int = 8,
    columns: int = 4,
    panel_inches: float = 2.5,
    dpi: int = 80,
) -> None:
    """Write the comparison mosaic to ``path`` (PNG, atomically).

    Args:
        flair: the image on its native grid.
        reference: reference WMH mask (non-zero = WMH) on the same grid.
        prediction: predicted WMH mask on the same grid.
        affine: voxel → world matrix of the grid.
        path: destination ``.png``.
        title: text above the mosaic (subject, scores).
        n_slices: number of axial panels at most: the slices with the most reference WMH, then predicted WMH.
        columns: panels per row.
        panel_inches: width of one panel.
        dpi: resolution.
    """
    if not (flair.shape == reference.shape == prediction.shape):
        raise ValueError(f"{path}: FLAIR {flair.shape}, reference {reference.shape} and prediction "
                         f"{prediction.shape} must be on one grid")
    flair_ras, spacing = to_ras(np.asarray(flair, dtype=np.float32), affine)
    ref_ras, _ = to_ras(np.asarray(reference) != 0, affine)
    pred_ras, _ = to_ras(np.asarray(prediction) != 0, affine)
    crop = head_box(flair_ras)
    flair_ras, ref_ras, pred_ras = flair_ras[crop], ref_ras[crop], pred_ras[crop]
    ref_count, pred_count = ref_ras.sum(axis=(0, 1)), pred_ras.sum(axis=(0, 1))
    with_wmh = int(np.count_nonzero(ref_count + pred_count))
    if with_wmh:  # the slices with the most reference WMH, then the most predicted WMH, in slice order
        slices = np.sort(np.lexsort((-pred_count, -ref_count))[: min(n_slices, with_wmh)])
    else:
        slices = pick_slices(flair_ras, n_slices)
    vmin, vmax = display_window(flair_ras)

    rows = int(np.ceil(len(slices) / columns))
    cols = min(columns, len(slices))
    height_ratio = flair_ras.shape[1] * spacing[1] / (flair_ras.shape[0] * spacing[0])
    fig = Figure(figsize=(cols * panel_inches, rows * panel_inches * height_ratio + 0.7), facecolor="black")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, k in zip(axes.ravel(), slices):
        ax.imshow(flair_ras[:, :, k].T, cmap="gray", vmin=vmin, vmax=vmax, origin="lower",
                  aspect=spacing[1] / spacing[0], interpolation="nearest")
        for mask, colour in ((ref_ras, REFERENCE_COLOUR), (pred_ras, OUTLINE_COLOUR)):
            outline = mask[:, :, k].T
            if outline.any():
                ax.contour(outline.astype(np.float32), levels=[0.5], colors=[colour], linewidths=0.9)
        ax.text(0.02, 0.97, f"z {k}  ref {int(ref_ras[:, :, k].sum())}  pred {int(pred_ras[:, :, k].sum())}",
                transform=ax.transAxes, color="yellow", fontsize=7, va="top")
    fig.suptitle(f"{title}\nreference: green, prediction: red", color="white", fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01,
                        top=1 - 0.7 / (rows * panel_inches * height_ratio + 0.7), wspace=0.02, hspace=0.02)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, facecolor=fig.get_facecolor(), format="png")
