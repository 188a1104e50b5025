"""Brain mask, ventricles and the periventricular/deep split of the shipped model, measured.

* Synthetic test images (``synthetic_set`` from the held-out label maps, seeds not used for
  validation): ventricle and brain-mask Dice against the generator's labels, and the
  periventricular and deep WMH volumes (``wmhseg.reporting.regions`` on the predicted masks)
  against the same rule applied to the generator's own WMH and ventricles.
* The real Ljubljana FLAIRs (skull-stripped): Dice of the predicted brain mask against the
  images' non-zero region. Measuring only; nothing here tunes anything.

Everything is segmented by the product itself (``wmhseg predict``).

    python benchmarks/eval_anatomy.py --label-maps ../shared/data/synthseg_label_maps
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from eval_real_flair import predict  # noqa: E402

from wmhseg.data.synthetic import default_root  # noqa: E402
from wmhseg.data.synthetic.labelmaps import split_label_maps, synthetic_set  # noqa: E402
from wmhseg.data.synthetic.labelmaps.anatomy import VENTRICLES, WMH  # noqa: E402
from wmhseg.metrics import dice  # noqa: E402
from wmhseg.reporting.lesions import label_lesions, lesion_table  # noqa: E402
from wmhseg.reporting.regions import lesion_regions, regional_volumes  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def _read(path: Path) -> np.ndarray:
    return np.asarray(nib.load(str(path)).dataobj)


def true_regions(label: np.ndarray, affine: np.ndarray) -> dict[str, float]:
    """Periventricular and deep volumes of the generator's own WMH by the generator's own ventricles."""
    lesions, n = label_lesions(label == WMH)
    volumes = [row["volume_ml"] for row in lesion_table(lesions, n, affine)]
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    return regional_volumes(volumes, lesion_regions(lesions, n, label == VENTRICLES, spacing))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-maps", type=Path, default=SHARED / "synthseg_label_maps")
    parser.add_argument("--real", type=Path, default=SHARED / "ljubljana_ms_mni")
    parser.add_argument("--subjects", type=int, default=8, help="synthetic test images")
    parser.add_argument("--ckpt", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="ID=VALUE", help="passed to wmhseg predict")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="wmhseg-eval-anatomy-"))

    datalist = synthetic_set(
        default_root() / "synthetic_test", split_label_maps(args.label_maps)["validation"], args.subjects, seed=3
    )
    items = json.loads(Path(datalist).read_text())["training"]
    images = [Path(datalist).parent / item["image"] for item in items]
    predict(images, work / "synthetic", args.ckpt, args.set, "--no-prob")
    print("| synthetic case | slices | ventricle DSC | brain-mask DSC | PV ml (true / pred) | deep ml (true / pred) |")
    print("|---|---|---|---|---|---|")
    rows = []
    for item, image in zip(items, images):
        label_img = nib.load(str(Path(datalist).parent / item["label"]))
        label = np.asarray(label_img.dataobj)
        out = work / "synthetic" / image.name.split(".")[0]
        if not (out / "summary.json").is_file():
            out = next(p for p in (work / "synthetic").iterdir() if p.is_dir() and item["subject"] in p.name)
        summary = json.loads((out / "summary.json").read_text())
        truth = true_regions(label, label_img.affine)
        row = {
            "ventricles": dice(label == VENTRICLES, _read(out / "ventricles.nii.gz") > 0),
            "brain": dice(label > 0, _read(out / "brain_mask.nii.gz") > 0),
            "pv_true": truth["periventricular_volume_ml"],
            "pv_pred": summary["periventricular_volume_ml"] or 0.0,
            "deep_true": truth["deep_volume_ml"],
            "deep_pred": summary["deep_volume_ml"] or 0.0,
        }
        rows.append(row)
        print(
            f"| {item['subject']} | {item['scanner']} | {row['ventricles']:.3f} | {row['brain']:.3f} | "
            f"{row['pv_true']:.2f} / {row['pv_pred']:.2f} | {row['deep_true']:.2f} / {row['deep_pred']:.2f} |"
        )
    print(
        f"| **mean** | | {np.mean([r['ventricles'] for r in rows]):.3f} | {np.mean([r['brain'] for r in rows]):.3f}"
        f" | MAE {np.mean([abs(r['pv_true'] - r['pv_pred']) for r in rows]):.2f} | "
        f"MAE {np.mean([abs(r['deep_true'] - r['deep_pred']) for r in rows]):.2f} |"
    )

    cases = (
        sorted(p for p in args.real.glob("patient*") if (p / "FLAIR.nii.gz").is_file()) if args.real.is_dir() else []
    )
    if cases:
        folder = work / "real_inputs"
        folder.mkdir(parents=True, exist_ok=True)
        inputs = []
        for case in cases:
            link = folder / f"{case.name}.nii.gz"
            if not link.exists():
                link.symlink_to((case / "FLAIR.nii.gz").resolve())
            inputs.append(link)
        predict(inputs, work / "real", args.ckpt, args.set, "--no-prob")
        print("\n| real case | brain-mask DSC vs non-zero region | ICV ml | WMH % of ICV | PV ml | deep ml |")
        print("|---|---|---|---|---|---|")
        scores = []
        for case in cases:
            out = work / "real" / case.name
            summary = json.loads((out / "summary.json").read_text())
            score = dice(_read(case / "FLAIR.nii.gz") != 0, _read(out / "brain_mask.nii.gz") > 0)
            scores.append(score)
            print(
                f"| {case.name} | {score:.3f} | {summary['intracranial_volume_ml']:.0f} | "
                f"{summary['wmh_percent_icv']:.2f} | {summary['periventricular_volume_ml'] or 0.0:.2f} | "
                f"{summary['deep_volume_ml'] or 0.0:.2f} |"
            )
        print(f"| **mean** | {np.mean(scores):.3f} | | | | |")
    print(f"outputs in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
