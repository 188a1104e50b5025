"""Figure comparing synthetic FLAIR phantoms with a real FLAIR (Ljubljana MS data), for docs/.

Top row: images only; bottom row: the same slices with the labels outlined (red: WMH or
MS lesion, cyan: other pathology, label 2). All panels are shown in RAS orientation
(anterior up, patient's right on the right) with the true voxel aspect ratio.

Run from the repository root: ``python pipelines/make_phantom_figure.py`` (writes
``docs/phantom_vs_real_flair.png``; needs ``../shared/data/ljubljana_ms_mni``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wmhseg.data.synthetic import make_phantom  # noqa: E402
from wmhseg.data.synthetic.acquisition import reorient  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "ljubljana_ms_mni" / "patient19"
PHANTOMS = [  # (title, make_phantom arguments)
    (
        "phantom, 1 mm iso, stripped, 45 ml",
        dict(
            seed=21,
            protocol="iso1mm",
            lesion_volume_ml=45.0,
            skull_stripped=True,
            other_pathology=False,
            orientation="LAS",
        ),
    ),
    (
        "phantom, Utrecht grid, 12 ml",
        dict(
            seed=5,
            protocol="utrecht",
            lesion_volume_ml=12.0,
            skull_stripped=False,
            other_pathology=False,
            orientation="LPS",
        ),
    ),
    (
        "phantom, GE3T grid, 25 ml + infarct",
        dict(
            seed=8,
            protocol="ge3t",
            lesion_volume_ml=25.0,
            skull_stripped=False,
            other_pathology=True,
            orientation="RAS",
        ),
    ),
    (
        "phantom, 0.5x0.5x6 mm, 70 ml",
        dict(
            seed=3,
            protocol="thick6mm",
            lesion_volume_ml=70.0,
            skull_stripped=True,
            other_pathology=False,
            orientation="LPS",
        ),
    ),
]


def _ras(image: np.ndarray, label: np.ndarray, affine: np.ndarray):
    image_ras, affine_ras = reorient(image, affine, "RAS")
    return image_ras, reorient(label, affine, "RAS")[0], np.linalg.norm(affine_ras[:3, :3], axis=0)


def _slice_with_most(label: np.ndarray, value: int = 1) -> int:
    counts = (label == value).sum(axis=(0, 1))
    return int(np.argmax(counts)) if counts.any() else label.shape[2] // 2


def _panel(ax_top, ax_bottom, image, label, spacing, z, title) -> None:
    section, labels = image[:, :, z].T, label[:, :, z].T
    vmax = np.percentile(image[image > 0], 99.5) if (image > 0).any() else 1.0
    aspect = spacing[1] / spacing[0]
    for ax in (ax_top, ax_bottom):
        ax.imshow(section, cmap="gray", origin="lower", vmin=0, vmax=vmax, aspect=aspect, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    for value, colour in ((1, "red"), (2, "cyan")):
        if (labels == value).any():
            ax_bottom.contour(labels == value, levels=[0.5], colors=colour, linewidths=0.6)
    ax_top.set_title(title, fontsize=9)
    ax_bottom.set_xlabel(
        f"{image.shape[0]}x{image.shape[1]}x{image.shape[2]}, "
        f"{spacing[0]:.2f}x{spacing[1]:.2f}x{spacing[2]:.1f} mm, slice {z}",
        fontsize=7,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "phantom_vs_real_flair.png")
    args = parser.parse_args(argv)
    panels = []
    if (REAL / "FLAIR.nii.gz").is_file():
        flair = nib.load(REAL / "FLAIR.nii.gz")
        lesion = np.asarray(nib.load(REAL / "lesion.nii.gz").dataobj)
        image, label, spacing = _ras(np.clip(flair.get_fdata(dtype=np.float32), 0, None), lesion, flair.affine)
        panels.append((image, label, spacing, "real: Ljubljana MS patient19 (49.8 ml)"))
    else:
        print(f"real FLAIR not found at {REAL}; the figure shows phantoms only", file=sys.stderr)
    for title, kwargs in PHANTOMS:
        phantom = make_phantom(**kwargs)
        panels.append((*_ras(phantom.image, phantom.label, phantom.affine), title))
    fig, axes = plt.subplots(2, len(panels), figsize=(3.2 * len(panels), 7.0), squeeze=False)
    for column, (image, label, spacing, title) in enumerate(panels):
        _panel(axes[0, column], axes[1, column], image, label, spacing, _slice_with_most(label), title)
    fig.suptitle(
        "Synthetic FLAIR phantoms (wmhseg.data.synthetic) next to a real FLAIR; bottom: labels "
        "(red WMH / MS lesion, cyan other pathology). RAS display: anterior up, right on the right.",
        fontsize=9,
    )
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
