"""Figure: synthetic FLAIR from real label maps beside the three real Ljubljana FLAIRs, at 1 mm and 6 mm slices.

Top row: 1 mm slices (real: native 1 mm; synthetic: 1 mm acquisitions on the 1x1x3 mm network
grid); bottom row: 6 mm slices (real: 6-slice averages of the same images, ``wmhseg.data.degrade``;
synthetic: 6 mm acquisitions). WMH / MS lesions outlined in red, other pathology in cyan.
Axial slices in RAS display (anterior up, patient's right on the right).

Run from the repository root: ``python pipelines/make_synthetic_figure.py --label-maps DIR``
(writes ``docs/synthetic_vs_real_flair.png``; the real panels need ``../shared/data/ljubljana_ms_mni``).
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

from wmhseg.data.degrade import degrade  # noqa: E402
from wmhseg.data.synthetic.acquisition import reorient  # noqa: E402
from wmhseg.data.synthetic.labelmaps import FLAIRSynthesizer, load_label_maps  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
REAL = SHARED / "ljubljana_ms_mni"
SYNTHETIC = [  # (seed, overrides besides the slice thickness)
    (11, dict(map_index=0, lesion_volume_ml=40.0, skull_stripped=True, random_contrast=False, other_pathology=False)),
    (12, dict(map_index=1, lesion_volume_ml=8.0, skull_stripped=False, random_contrast=False, other_pathology=True)),
    (13, dict(map_index=2, lesion_volume_ml=90.0, skull_stripped=True, random_contrast=False, other_pathology=False)),
    (14, dict(map_index=3, lesion_volume_ml=2.0, skull_stripped=False, random_contrast=True, other_pathology=False)),
]


def _ras(image: np.ndarray, label: np.ndarray, affine: np.ndarray):
    image_ras, affine_ras = reorient(image, affine, "RAS")
    return image_ras, reorient(label, affine, "RAS")[0], np.linalg.norm(affine_ras[:3, :3], axis=0)


def _panel(ax, image, label, spacing, title) -> None:
    counts = (label == 1).sum(axis=(0, 1))
    z = int(np.argmax(counts)) if counts.any() else label.shape[2] // 2
    section, labels = image[:, :, z].T, label[:, :, z].T
    vmax = np.percentile(image[image > 0], 99.5) if (image > 0).any() else 1.0
    ax.imshow(
        section, cmap="gray", origin="lower", vmin=0, vmax=vmax, aspect=spacing[1] / spacing[0], interpolation="nearest"
    )
    for value, colour in ((1, "red"), (2, "cyan")):
        if (labels == value).any():
            ax.contour(labels == value, levels=[0.5], colors=colour, linewidths=0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=7)
    ax.set_xlabel(f"{spacing[0]:.1f}x{spacing[1]:.1f}x{spacing[2]:.1f} mm grid, slice {z}", fontsize=6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--label-maps",
        type=Path,
        default=SHARED / "synthseg_label_maps",
        help="folder of FreeSurfer label maps (default: ../shared/data/synthseg_label_maps)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "synthetic_vs_real_flair.png")
    args = parser.parse_args(argv)
    maps = load_label_maps(sorted(args.label_maps.glob("*.nii*"))[: len(SYNTHETIC)])
    synthesizer = FLAIRSynthesizer(maps)
    columns: list[list] = []
    for case in sorted(REAL.glob("patient*")) if REAL.is_dir() else []:
        flair = nib.load(case / "FLAIR.nii.gz")
        image = np.clip(flair.get_fdata(dtype=np.float32), 0, None)
        lesion = np.asarray(nib.load(case / "lesion.nii.gz").dataobj)
        thick = degrade(image, flair.affine, (1.0, 1.0, 6.0))
        thick_lesion = degrade(lesion, flair.affine, (1.0, 1.0, 6.0), is_mask=True)[0]
        columns.append(
            [
                (*_ras(image, lesion, flair.affine), f"real {case.name}, 1 mm"),
                (*_ras(thick[0], thick_lesion, thick[1]), f"real {case.name}, 6 mm slabs"),
            ]
        )
    for seed, overrides in SYNTHETIC:
        column = []
        for thickness in (1.0, 6.0):
            sample = synthesizer(seed, slice_axis=2, thickness_mm=thickness, **overrides)
            info = sample.info
            title = (
                f"synthetic {info['label_map'][-2:]}, {thickness:.0f} mm, {info['lesion_volume_ml']:.0f} ml"
                f"{', random contrast' if info['random_contrast'] else ''}"
            )
            column.append((*_ras(sample.image, sample.label, sample.affine), title))
        columns.append(column)
    fig, axes = plt.subplots(2, len(columns), figsize=(2.4 * len(columns), 6.0), squeeze=False)
    for c, column in enumerate(columns):
        for r, (image, label, spacing, title) in enumerate(column):
            _panel(axes[r, c], image, label, spacing, title)
    fig.suptitle(
        "Synthetic FLAIR from real label maps (wmhseg.data.synthetic.labelmaps) beside real FLAIR "
        "(Ljubljana MS); red: WMH / MS lesion, cyan: other pathology",
        fontsize=8,
    )
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=120)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
