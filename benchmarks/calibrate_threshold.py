"""The WMH probability threshold and smallest lesion of a model, chosen on synthetic images only.

Synthetic FLAIRs are drawn from the held-out label maps (a seed that neither validation nor the
other benchmarks use), segmented by the product itself (``wmhseg predict``, which writes the WMH
probability on the input grid), and scored at a range of thresholds and of smallest lesions
kept (``min_lesion_voxels``: 26-connected components with fewer voxels dropped, as ``wmhseg
predict`` does): the Dice of all cases pooled (every WMH voxel of the set counts once, so
lesion-free cases contribute their false positives) and the mean per-case Dice of the cases with
WMH. The pair with the best pooled Dice is printed; real images play no part.

    python benchmarks/calibrate_threshold.py --ckpt bundle/models/model.pt
    python benchmarks/calibrate_threshold.py --work DIR --no-predict   # score the outputs already in DIR
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
from wmhseg.data.synthetic.labelmaps.anatomy import WMH  # noqa: E402
from wmhseg.reporting import label_lesions  # noqa: E402

THRESHOLDS = np.round(np.arange(0.2, 0.81, 0.05), 2)
MIN_LESION_VOXELS = (1, 3, 5, 10, 20, 40)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-maps", type=Path, default=ROOT.parent / "shared" / "data" / "synthseg_label_maps")
    parser.add_argument("--subjects", type=int, default=16)
    parser.add_argument("--ckpt", type=Path, default=None, help="checkpoint (default: the bundle's models/model.pt)")
    parser.add_argument("--set", action="append", default=[], metavar="ID=VALUE", help="passed to wmhseg predict")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--no-predict", action="store_true", help="score the predictions already in --work")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="wmhseg-threshold-"))

    datalist = Path(
        synthetic_set(
            default_root() / "synthetic_threshold",
            split_label_maps(args.label_maps)["validation"],
            args.subjects,
            seed=4,
        )
    )
    items = json.loads(datalist.read_text())["training"]
    if not args.no_predict:
        predict([datalist.parent / i["image"] for i in items], work, args.ckpt, args.set, "--no-qc")

    shape = (len(THRESHOLDS), len(MIN_LESION_VOXELS))
    pooled = np.zeros((*shape, 3))  # intersection, predicted, reference
    per_case = np.full((len(items), *shape), np.nan)
    for c, item in enumerate(items):
        truth = np.asarray(nib.load(datalist.parent / item["label"]).dataobj) == WMH
        (out,) = work.glob(f"{item['subject']}*")  # FLAIR.nii.gz files: subjects named <folder>_FLAIR
        prob = np.asarray(nib.load(out / "wmh_prob.nii.gz").dataobj)
        n_ref = int(truth.sum())
        for k, threshold in enumerate(THRESHOLDS):
            labels, n = label_lesions(prob >= threshold)
            sizes = np.bincount(labels.ravel(), minlength=n + 1)
            hits = np.bincount(labels[truth], minlength=n + 1)  # voxels of each lesion inside the reference
            for j, smallest in enumerate(MIN_LESION_VOXELS):
                kept = sizes >= smallest
                kept[0] = False
                inter, n_pred = int(hits[kept].sum()), int(sizes[kept].sum())
                pooled[k, j] += (inter, n_pred, n_ref)
                if n_ref:
                    per_case[c, k, j] = 2 * inter / (n_pred + n_ref)
    with_wmh = int(np.isfinite(per_case[:, 0, 0]).sum())
    print(f"{len(items)} synthetic cases ({with_wmh} with WMH); outputs in {work}")
    dice = 2 * pooled[..., 0] / np.maximum(pooled[..., 1] + pooled[..., 2], 1)
    mean = np.nanmean(per_case, axis=0) if with_wmh else np.full(shape, np.nan)
    print("pooled DSC (mean DSC of the cases with WMH) by threshold and smallest lesion kept (voxels)")
    print(
        "| threshold | " + " | ".join(f">= {m} vox" for m in MIN_LESION_VOXELS) + " | predicted / true voxels (>= 1) |"
    )
    print("|---|" + "---|" * (len(MIN_LESION_VOXELS) + 1))
    for k, threshold in enumerate(THRESHOLDS):
        cells = " | ".join(f"{dice[k, j]:.3f} ({mean[k, j]:.3f})" for j in range(len(MIN_LESION_VOXELS)))
        print(f"| {threshold:.2f} | {cells} | {pooled[k, 0, 1] / max(pooled[k, 0, 2], 1):.2f} |")
    k, j = np.unravel_index(int(np.argmax(dice)), shape)
    print(
        f"best pooled DSC {dice[k, j]:.3f} at threshold {THRESHOLDS[k]:.2f} with lesions of >= "
        f"{MIN_LESION_VOXELS[j]} voxels (threshold 0.50, >= 1 voxel: {dice[list(THRESHOLDS).index(0.5), 0]:.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
