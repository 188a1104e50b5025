"""The WMH probability threshold of a model, chosen on synthetic images only.

Synthetic FLAIRs are drawn from the held-out label maps (a seed that neither validation nor the
other benchmarks use), segmented by the product itself (``wmhseg predict``, which writes the WMH
probability on the input grid), and scored at a range of thresholds: the Dice of all cases pooled
(every WMH voxel of the set counts once, so lesion-free cases contribute their false positives)
and the mean per-case Dice of the cases with WMH. The threshold with the best pooled Dice is
printed; real images play no part.

    python benchmarks/calibrate_threshold.py --ckpt bundle/models/model.pt
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

THRESHOLDS = np.round(np.arange(0.2, 0.81, 0.05), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-maps", type=Path, default=ROOT.parent / "shared" / "data" / "synthseg_label_maps")
    parser.add_argument("--subjects", type=int, default=16)
    parser.add_argument("--ckpt", type=Path, default=None, help="checkpoint (default: the bundle's models/model.pt)")
    parser.add_argument("--set", action="append", default=[], metavar="ID=VALUE", help="passed to wmhseg predict")
    parser.add_argument("--work", type=Path, default=None)
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
    predict([datalist.parent / i["image"] for i in items], work, args.ckpt, args.set, "--no-qc")

    pooled = np.zeros((len(THRESHOLDS), 3))  # intersection, predicted, reference
    per_case = [[] for _ in THRESHOLDS]
    for item in items:
        truth = np.asarray(nib.load(datalist.parent / item["label"]).dataobj) == WMH
        (out,) = work.glob(f"{item['subject']}*")  # FLAIR.nii.gz files: subjects named <folder>_FLAIR
        prob = np.asarray(nib.load(out / "wmh_prob.nii.gz").dataobj)
        for k, threshold in enumerate(THRESHOLDS):
            pred = prob >= threshold
            inter, n_pred, n_ref = int((pred & truth).sum()), int(pred.sum()), int(truth.sum())
            pooled[k] += (inter, n_pred, n_ref)
            if n_ref:
                per_case[k].append(2 * inter / (n_pred + n_ref))
    print(f"{len(items)} synthetic cases ({sum(bool(v) for v in per_case[0])} with WMH); outputs in {work}")
    print("| threshold | pooled DSC | mean DSC (cases with WMH) | predicted / true voxels |")
    print("|---|---|---|---|")
    dice = 2 * pooled[:, 0] / np.maximum(pooled[:, 1] + pooled[:, 2], 1)
    for k, threshold in enumerate(THRESHOLDS):
        print(
            f"| {threshold:.2f} | {dice[k]:.3f} | {np.mean(per_case[k]) if per_case[k] else float('nan'):.3f} | "
            f"{pooled[k, 1] / max(pooled[k, 2], 1):.2f} |"
        )
    print(f"best pooled DSC at threshold {THRESHOLDS[int(np.argmax(dice))]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
