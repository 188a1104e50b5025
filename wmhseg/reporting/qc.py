"""Quality-control images: mosaics of axial FLAIR slices with WMH masks outlined.

:func:`render_qc` draws one mask (inference); :func:`render_comparison` the reference in green and the
prediction in red (evaluation), on the slices with the most WMH.

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
from collections.abc import Sequence

import nibabel as nib
import numpy as np
from monai.transforms.utils import generate_spatial_bounding_box
from PIL import Image, ImageDraw, ImageFont

from ..io import atomic_path

__all__ = [
    "BRAIN_COLOUR",
    "DEEP_COLOUR",
    "OUTLINE_COLOUR",
    "PERIVENTRICULAR_COLOUR",
    "REFERENCE_COLOUR",
    "display_window",
    "foreground",
    "head_box",
    "pick_slices",
    "render_comparison",
    "render_qc",
    "to_ras",
]

OUTLINE_COLOUR = "#ff2a2a"
"""Outline of the WMH mask (the prediction, in the evaluation mosaic)."""
REFERENCE_COLOUR = "#39e639"
"""Outline of the reference WMH in the evaluation mosaic."""
PERIVENTRICULAR_COLOUR = "#ff9a1f"
"""Outline of periventricular lesions, where the regions are known."""
DEEP_COLOUR = "#2ad4ff"
"""Outline of deep lesions, where the regions are known."""
BRAIN_COLOUR = "#39e639"
"""Outline of the predicted brain mask."""


def to_ras(volume: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``volume`` permuted and flipped to the closest RAS voxel order, with its voxel sizes in that order."""
    ornt = nib.orientations.io_orientation(affine)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    ras_spacing = np.empty(3)
    ras_spacing[ornt[:, 0].astype(int)] = spacing
    return nib.orientations.apply_orientation(volume, ornt), ras_spacing


FOREGROUND_FRACTION = 0.05
"""Foreground: brighter than the background (1st percentile) by this fraction of its range to the 99th percentile."""
_PERCENTILE_SAMPLES = 1 << 20


def foreground(volume: np.ndarray) -> np.ndarray:
    """The head, not the air: the voxels brighter than the background by :data:`FOREGROUND_FRACTION`.

    The background level is the 1st percentile of the finite values (air, or a stripped image's
    zeros; the minimum can be an interpolation undershoot), the scale its distance to the 99th
    percentile.  An affine change of intensities (normalisation) selects the same voxels, so the QC
    mosaics (raw FLAIR) and the network's crop (normalised, :func:`wmhseg.inference.foreground_box`)
    share this one definition.
    """
    flat = np.ravel(volume)
    sample = flat[:: max(1, flat.size // _PERCENTILE_SAMPLES)]
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return np.zeros(volume.shape, dtype=bool)
    low, high = (float(v) for v in np.percentile(finite, [1, 99]))
    if not high > low:
        return np.zeros(volume.shape, dtype=bool)
    return (volume > low + FOREGROUND_FRACTION * (high - low)) & (volume < np.inf)


def display_window(flair: np.ndarray, head: np.ndarray) -> tuple[float, float]:
    """Grey-level window: 0.5th percentile of the ``head`` voxels (:func:`foreground`) to the lower of their
    99.5th percentile and three times their median, so that normal tissue stays visible when lesions are
    large and bright."""
    values = flair[head]
    if values.size == 0:
        values = flair[np.isfinite(flair)]
    low, high = (float(v) for v in np.percentile(values, [0.5, 99.5]))
    median = float(np.median(values))
    if median > 0:
        high = min(high, 3.0 * median)
    return low, high if high > low else low + 1.0


def head_box(head: np.ndarray, margin: int = 3) -> tuple[slice, slice, slice]:
    """In-plane bounding box of the ``head`` mask (RAS order) over all slices, with a margin; every slice kept."""
    if not head.any():
        return slice(None), slice(None), slice(None)
    start, end = generate_spatial_bounding_box(head[None], margin=(margin, margin, 0), allow_smaller=True)
    return slice(start[0], end[0]), slice(start[1], end[1]), slice(None)


def pick_slices(head: np.ndarray, n_slices: int) -> np.ndarray:
    """Up to ``n_slices`` axial indices spread evenly over the slices whose ``head`` area is at least a tenth of the
    largest."""
    area = head.sum(axis=(0, 1))
    with_signal = np.flatnonzero(area >= 0.1 * area.max()) if area.max() > 0 else np.array([], dtype=int)
    if with_signal.size == 0:
        with_signal = np.arange(head.shape[2])
    if with_signal.size <= n_slices:
        return with_signal
    return np.unique(np.round(np.linspace(with_signal[0], with_signal[-1], n_slices)).astype(int))


def _mosaic(
    flair_ras: np.ndarray,
    head: np.ndarray,
    spacing: np.ndarray,
    outlines: Sequence[tuple[np.ndarray, str]],
    slices: np.ndarray,
    labels: Sequence[str],
    title: str,
    path: str | os.PathLike,
    columns: int,
    panel_inches: float,
    dpi: int,
    title_inches: float,
    label_size: float,
    title_size: float,
    orientation_letters: bool,
) -> None:
    """Draw the axial ``slices`` of a RAS-ordered, cropped FLAIR (``head``: its :func:`foreground`) with each
    (mask, colour) outlined; write a PNG.

    Each panel is ``panel_inches * dpi`` pixels wide, the slice scaled by nearest neighbour with the
    voxels' in-plane aspect, anterior up and the subject's right on the right; an outline is the
    2-pixel inner border of its mask in the scaled panel.  Drawn with numpy and Pillow: no figure,
    no axes, no font layout beyond the labels.
    """
    vmin, vmax = display_window(flair_ras, head)
    width = max(int(round(panel_inches * dpi)), 1)
    nx, ny = flair_ras.shape[:2]
    height = max(int(round(width * (ny * spacing[1]) / (nx * spacing[0]))), 1)
    cols_index = np.minimum((np.arange(width) * nx / width).astype(int), nx - 1)  # panel column -> voxel x
    rows_index = np.minimum((np.arange(height)[::-1] * ny / height).astype(int), ny - 1)  # panel row -> voxel y
    rows = int(np.ceil(len(slices) / columns))
    cols = min(columns, len(slices))
    top = int(round(title_inches * dpi))
    canvas = np.zeros((top + rows * height, cols * width, 3), dtype=np.uint8)
    for i, k in enumerate(slices):
        grey = flair_ras[:, :, k][np.ix_(cols_index, rows_index)].T  # (panel rows, panel columns)
        panel = np.repeat((np.clip((grey - vmin) / (vmax - vmin), 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)
        for mask, colour in outlines:
            scaled = mask[:, :, k][np.ix_(cols_index, rows_index)].T
            if scaled.any():
                panel[_inner_border(scaled, 2)] = _rgb(colour)
        r, c = divmod(i, columns)
        canvas[top + r * height : top + (r + 1) * height, c * width : (c + 1) * width] = panel
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    points = dpi / 72.0  # font sizes are in points, as in matplotlib
    label_font = ImageFont.load_default(size=max(label_size * points, 6))
    for i, label in enumerate(labels):
        r, c = divmod(i, columns)
        draw.text((c * width + 0.02 * width, top + r * height + 0.03 * height), label, fill="yellow", font=label_font)
    if orientation_letters and len(slices):
        letter_font = ImageFont.load_default(size=max(9 * points, 6))
        for x, y, letter, anchor in (
            (0.98, 0.5, "R", "rm"),
            (0.02, 0.5, "L", "lm"),
            (0.5, 0.98, "P", "mb"),
            (0.5, 0.10, "A", "mt"),
        ):
            draw.text((x * width, top + y * height), letter, fill="white", font=letter_font, anchor=anchor)
    title_font = ImageFont.load_default(size=max(title_size * points, 6))
    draw.multiline_text(
        (canvas.shape[1] / 2, top / 2), title, fill="white", font=title_font, anchor="mm", align="center"
    )
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", compress_level=1)


def _inner_border(mask: np.ndarray, thickness: int) -> np.ndarray:
    """The pixels of the 2D ``mask`` within ``thickness`` pixels (4-connected steps) of its outside."""
    inner = mask.copy()
    for _ in range(thickness):
        shrunk = inner.copy()
        shrunk[1:, :] &= inner[:-1, :]
        shrunk[:-1, :] &= inner[1:, :]
        shrunk[:, 1:] &= inner[:, :-1]
        shrunk[:, :-1] &= inner[:, 1:]
        inner = shrunk
    return mask & ~inner


def _rgb(colour: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` as a 0-255 RGB triple."""
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def render_qc(
    flair: np.ndarray,
    mask: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    title: str,
    periventricular: np.ndarray | None = None,
    brain: np.ndarray | None = None,
    n_slices: int = 16,
    columns: int = 4,
    panel_inches: float = 3.0,
    dpi: int = 100,
) -> None:
    """Write the QC mosaic of ``flair`` with ``mask`` outlined to ``path`` (PNG, atomically).

    The WMH outline is red, or, with ``periventricular``, orange for periventricular lesions and
    cyan for deep ones; the ``brain`` mask, when given, is outlined in green.

    Args:
        flair: the input image on its native grid.
        mask: the WMH mask on the same grid.
        affine: voxel → world matrix of the grid (orientation and voxel sizes).
        path: destination ``.png``.
        title: text above the mosaic (subject, volume, lesion count).
        periventricular: the voxels of ``mask`` in periventricular lesions, same grid.
        brain: the brain mask, same grid.
        n_slices: number of axial panels at most.
        columns: panels per row.
        panel_inches: width of one panel.
        dpi: resolution.
    """
    flair_ras, spacing = to_ras(np.asarray(flair, dtype=np.float32), affine)
    head = foreground(flair_ras)
    crop = head_box(head)
    flair_ras, head = flair_ras[crop], head[crop]

    def cropped(volume: np.ndarray) -> np.ndarray:
        return to_ras(np.asarray(volume, dtype=bool), affine)[0][crop]

    mask_ras = cropped(mask)
    outlines = [] if brain is None else [(cropped(brain), BRAIN_COLOUR)]
    if periventricular is None:
        outlines.append((mask_ras, OUTLINE_COLOUR))
    else:
        pv_ras = cropped(periventricular)
        outlines += [(pv_ras, PERIVENTRICULAR_COLOUR), (mask_ras & ~pv_ras, DEEP_COLOUR)]
    slices = pick_slices(head, n_slices)
    labels = [f"z {k}  ({int(mask_ras[:, :, k].sum())} vox)" for k in slices]
    _mosaic(
        flair_ras,
        head,
        spacing,
        outlines,
        slices,
        labels,
        title,
        path,
        columns,
        panel_inches,
        dpi,
        title_inches=0.35 + 0.25 * (title.count("\n") + 1),
        label_size=8,
        title_size=11,
        orientation_letters=True,
    )


def render_comparison(
    flair: np.ndarray,
    reference: np.ndarray,
    prediction: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    title: str,
    n_slices: int = 8,
) -> None:
    """Write the evaluation QC mosaic, reference outlined in green and prediction in red, to ``path`` (PNG).

    Four 2.5-inch panels a row at 80 dpi.  ``flair``, ``affine``, ``path`` and ``title`` are as for
    :func:`render_qc`; ``reference`` and ``prediction`` are WMH masks (non-zero = WMH) on the grid of
    ``flair``; ``n_slices`` is the number of panels at most: the slices with the most reference WMH,
    then predicted WMH.
    """
    if not (flair.shape == reference.shape == prediction.shape):
        raise ValueError(
            f"{path}: FLAIR {flair.shape}, reference {reference.shape} and prediction "
            f"{prediction.shape} must be on one grid"
        )
    flair_ras, spacing = to_ras(np.asarray(flair, dtype=np.float32), affine)
    ref_ras, _ = to_ras(np.asarray(reference) != 0, affine)
    pred_ras, _ = to_ras(np.asarray(prediction) != 0, affine)
    head = foreground(flair_ras)
    crop = head_box(head)
    flair_ras, head, ref_ras, pred_ras = flair_ras[crop], head[crop], ref_ras[crop], pred_ras[crop]
    ref_count, pred_count = ref_ras.sum(axis=(0, 1)), pred_ras.sum(axis=(0, 1))
    with_wmh = int(np.count_nonzero(ref_count + pred_count))
    if with_wmh:  # the slices with the most reference WMH, then the most predicted WMH, in slice order
        slices = np.sort(np.lexsort((-pred_count, -ref_count))[: min(n_slices, with_wmh)])
    else:
        slices = pick_slices(head, n_slices)
    labels = [f"z {k}  ref {int(ref_count[k])}  pred {int(pred_count[k])}" for k in slices]
    _mosaic(
        flair_ras,
        head,
        spacing,
        [(ref_ras, REFERENCE_COLOUR), (pred_ras, OUTLINE_COLOUR)],
        slices,
        labels,
        f"{title}\nreference: green, prediction: red",
        path,
        columns=4,
        panel_inches=2.5,
        dpi=80,
        title_inches=0.7,
        label_size=7,
        title_size=9,
        orientation_letters=False,
    )
