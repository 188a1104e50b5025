"""Quality-control image: a mosaic of axial FLAIR slices with the WMH mask outlined.

The volume is shown in the closest RAS orientation of its voxel grid (axes permuted
and flipped, never resampled), so axial slices are upright whatever the acquisition
orientation: anterior up, the subject's right on the right of each panel
(neurological convention), pixels drawn with their true in-plane aspect.
Panels are cropped to the head's in-plane bounding box, slices are spread evenly over
the slices that hold a substantial part of the head, and each panel is labelled with
its slice index and the number of WMH voxels in it.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..io import atomic_path  # noqa: E402

OUTLINE_COLOUR = "#ff2a2a"
PANEL_GAP = 2
"""Black pixels between the panels of the mosaic."""


def to_ras(volume: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``volume`` permuted and flipped to the closest RAS voxel order, with its voxel sizes in that order."""
    ornt = nib.orientations.io_orientation(affine)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    ras_spacing = np.empty(3)
    ras_spacing[ornt[:, 0].astype(int)] = spacing
    return nib.orientations.apply_orientation(volume, ornt), ras_spacing


PERCENTILE_SAMPLE = 1_000_000
"""Percentiles for display are taken over at most about this many voxels (an even stride through them)."""


def _sample(values: np.ndarray) -> np.ndarray:
    return values[:: max(1, values.size // PERCENTILE_SAMPLE)]


def foreground(flair: np.ndarray) -> np.ndarray:
    """Voxels brighter than a tenth of the 99th percentile of the positive values: the head, not the air."""
    positive = flair[(flair > 0) & (flair < np.inf)]  # NaN compares false: finite positive values only
    cutoff = 0.1 * float(np.percentile(_sample(positive), 99)) if positive.size else 0.0
    return (flair > cutoff) & (flair < np.inf)


def display_window(flair: np.ndarray, fg: np.ndarray | None = None) -> tuple[float, float]:
    """Grey-level window: 0.5th percentile of the foreground to the lower of its 99.5th percentile and
    three times its median, so that normal tissue stays visible when lesions are large and bright.
    ``fg``: the :func:`foreground` of ``flair`` when it is known already."""
    values = flair[foreground(flair) if fg is None else fg]
    if values.size == 0:
        values = flair[np.isfinite(flair)]
    low, median, high = (float(v) for v in np.percentile(_sample(values), [0.5, 50, 99.5]))
    if median > 0:
        high = min(high, 3.0 * median)
    return low, high if high > low else low + 1.0


def head_box(flair_ras: np.ndarray, margin: int = 3, fg: np.ndarray | None = None) -> tuple[slice, slice, slice]:
    """In-plane bounding box of the head over all slices, with a margin; every slice kept.
    ``fg``: the :func:`foreground` of ``flair_ras`` when it is known already."""
    fg = foreground(flair_ras) if fg is None else fg
    box = []
    for axis in (0, 1):
        present = np.flatnonzero(fg.any(axis=tuple(a for a in (0, 1, 2) if a != axis)))
        if present.size == 0:
            box.append(slice(None))
        else:
            box.append(slice(max(int(present[0]) - margin, 0), int(present[-1]) + margin + 1))
    return box[0], box[1], slice(None)


def pick_slices(flair_ras: np.ndarray, n_slices: int, fg: np.ndarray | None = None) -> np.ndarray:
    """Up to ``n_slices`` axial indices spread evenly over the slices whose head area is at least a tenth of the largest.
    ``fg``: the :func:`foreground` of ``flair_ras`` when it is known already."""
    area = (foreground(flair_ras) if fg is None else fg).sum(axis=(0, 1))
    with_signal = np.flatnonzero(area >= 0.1 * area.max()) if area.max() > 0 else np.array([], dtype=int)
    if with_signal.size == 0:
        with_signal = np.arange(flair_ras.shape[2])
    if with_signal.size <= n_slices:
        return with_signal
    return np.unique(np.round(np.linspace(with_signal[0], with_signal[-1], n_slices)).astype(int))


def render_qc(
    flair: np.ndarray,
    mask: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    title: str,
    n_slices: int = 16,
    columns: int = 4,
    panel_inches: float = 3.0,
    dpi: int = 100,
) -> None:
    """Write the QC mosaic of ``flair`` with ``mask`` outlined to ``path`` (PNG, atomically).

    Args:
        flair: the input image on its native grid.
        mask: the WMH mask on the same grid.
        affine: voxel → world matrix of the grid (orientation and voxel sizes).
        path: destination ``.png``.
        title: text above the mosaic (subject, volume, lesion count).
        n_slices: number of axial panels at most.
        columns: panels per row.
        panel_inches: width of one panel.
        dpi: resolution.
    """
    flair_ras, spacing = to_ras(np.asarray(flair, dtype=np.float32), affine)
    mask_ras, _ = to_ras(np.asarray(mask, dtype=bool), affine)
    fg = foreground(flair_ras)  # once: the head's box, its slices and the grey-level window all use it
    crop = head_box(flair_ras, fg=fg)
    flair_ras, mask_ras, fg = flair_ras[crop], mask_ras[crop], fg[crop]
    slices = pick_slices(flair_ras, n_slices, fg=fg)
    vmin, vmax = display_window(flair_ras, fg=fg)

    # one image of all panels (row-major from the top left, a gap of black between them), drawn on one axes
    width, height = flair_ras.shape[0], flair_ras.shape[1]
    rows = int(np.ceil(len(slices) / columns))
    cols = min(columns, len(slices))
    gap = PANEL_GAP
    mosaic = np.full((rows * (height + gap), cols * (width + gap)), np.nan, dtype=np.float32)
    outline = np.zeros(mosaic.shape, dtype=np.float32)
    corners = []
    for i, k in enumerate(slices):
        row, col = divmod(i, cols)
        y0, x0 = (rows - 1 - row) * (height + gap), col * (width + gap)  # origin "lower": the first row on top
        mosaic[y0:y0 + height, x0:x0 + width] = flair_ras[:, :, k].T  # rows: posterior → anterior
        outline[y0:y0 + height, x0:x0 + width] = mask_ras[:, :, k].T  # columns: left → right
        corners.append((x0, y0 + height, k, int(mask_ras[:, :, k].sum())))

    height_ratio = height * spacing[1] / (width * spacing[0])
    fig = Figure(figsize=(cols * panel_inches, rows * panel_inches * height_ratio + 0.6), facecolor="black")
    top = 1 - 0.5 / (rows * panel_inches * height_ratio + 0.6)
    ax = fig.add_axes((0.01, 0.01, 0.98, top - 0.01), facecolor="black")
    ax.set_axis_off()
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="black")
    ax.imshow(mosaic, cmap=cmap, vmin=vmin, vmax=vmax, origin="lower", aspect=spacing[1] / spacing[0],
              interpolation="nearest")
    if outline.any():
        ax.contour(outline, levels=[0.5], colors=[OUTLINE_COLOUR], linewidths=0.9)
    for x0, y1, k, voxels in corners:
        ax.text(x0 + 0.02 * width, y1 - 0.03 * height, f"z {k}  ({voxels} vox)", color="yellow", fontsize=8, va="top")
    x0, y1 = corners[0][0], corners[0][1]
    for letter, (x, y), ha, va in (("R", (x0 + width, y1 - height / 2), "right", "center"),
                                   ("L", (x0, y1 - height / 2), "left", "center"),
                                   ("P", (x0 + width / 2, y1 - height), "center", "bottom"),
                                   ("A", (x0 + width / 2, y1 - 0.1 * height), "center", "top")):
        ax.text(x, y, letter, color="white", fontsize=9, ha=ha, va=va)
    fig.suptitle(title, color="white", fontsize=11)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, facecolor=fig.get_facecolor(), format="png", pil_kwargs={"compress_level": 1})
