"""The shipped model on real FLAIR, at native 1 mm and degraded to clinical protocols, beside a threshold baseline.

For each protocol (default: native 1x1x1 mm, 0.5x0.5x5 mm and 1x1x6 mm, made from the same real
images by averaging slabs, the reference resampled the same way, ``wmhseg.data.degrade``), the
FLAIRs are segmented by the product itself (``wmhseg predict``, the shipped bundle model unless
``--ckpt``) and scored by ``wmhseg evaluate`` (the official WMH challenge metrics). The baseline
(``wmhseg.baselines``: brain voxels above k x the brain median) is scored the same way, with k
chosen on skull-stripped synthetic images from held-out label maps only.

The real cases (``../shared/data/ljubljana_ms_mni``) are for measuring only: nothing here trains,
selects or tunes on them.

    python benchmarks/eval_real_flair.py --label-maps ../shared/data/synthseg_label_maps
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wmhseg.baselines import choose_k, threshold_mask  # noqa: E402
from wmhseg.data.datalist import write_datalist  # noqa: E402
from wmhseg.data.degrade import degrade  # noqa: E402
from wmhseg.data.synthetic import default_root  # noqa: E402
from wmhseg.data.synthetic.labelmaps import split_label_maps, synthetic_set  # noqa: E402
from wmhseg.io import save_nifti  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
PROTOCOLS = {"1mm": (1.0, 1.0, 1.0), "0.5x0.5x5mm": (0.5, 0.5, 5.0), "1x1x6mm": (1.0, 1.0, 6.0)}
METRICS = (
    ("dsc", "DSC", "{:.3f}"),
    ("hd95", "HD95 mm", "{:.2f}"),
    ("avd", "AVD %", "{:.1f}"),
    ("recall", "recall", "{:.3f}"),
    ("f1", "F1", "{:.3f}"),
    ("result_volume_ml", "vol ml", "{:.2f}"),
    ("reference_volume_ml", "ref ml", "{:.2f}"),
)


def calibrate_k(label_maps: Path, n: int) -> tuple[float, dict]:
    """k of the threshold baseline from skull-stripped synthetic images of the held-out label maps."""
    files = split_label_maps(label_maps)["validation"]
    datalist = synthetic_set(
        default_root() / "synthetic_calibration", files, n, seed=2, settings={"skull_stripped_fraction": 1.0}
    )
    content = json.loads(Path(datalist).read_text())
    cases = []
    for item in content["training"]:
        image = np.asarray(nib.load(Path(datalist).parent / item["image"]).dataobj, dtype=np.float32)
        label = np.asarray(nib.load(Path(datalist).parent / item["label"]).dataobj)
        cases.append((image, label == 1))
    return choose_k(cases)


def write_protocols(data: Path, work: Path, protocols: dict[str, tuple[float, float, float]]) -> dict[str, Path]:
    """Per protocol, the degraded FLAIRs (``<case>.nii.gz``) and references, and a datalist of them."""
    datalists = {}
    for name, spacing in protocols.items():
        entries = []
        for case in sorted(p for p in data.glob("patient*") if p.is_dir()):
            flair, lesion = nib.load(case / "FLAIR.nii.gz"), nib.load(case / "lesion.nii.gz")
            image, affine = degrade(flair.get_fdata(dtype=np.float32), flair.affine, spacing)
            mask, _ = degrade(np.asarray(lesion.dataobj), lesion.affine, spacing, is_mask=True)
            paths = {
                "image": work / name / "flair" / f"{case.name}.nii.gz",
                "label": work / name / "reference" / f"{case.name}.nii.gz",
            }
            save_nifti(image, affine, paths["image"], np.float32)
            save_nifti(mask, affine, paths["label"], np.uint8)
            entries.append({**paths, "subject": case.name, "scanner": name, "fold": 0})
        datalists[name] = write_datalist(work / name / "datalist.json", entries, name=f"ljubljana-{name}")
    return datalists


def predict(inputs: list[Path], out: Path, ckpt: Path | None, overrides: list[str], *flags: str) -> None:
    """Segment ``inputs`` into ``out`` with the product itself (``wmhseg predict``, every subject redone)."""
    command = [
        sys.executable,
        "-m",
        "wmhseg.cli",
        "predict",
        *map(str, inputs),
        "-o",
        str(out),
        "--no-progress",
        "--overwrite",
        *flags,
    ]
    command += ["--ckpt", str(ckpt)] if ckpt else []
    for item in overrides:
        command += ["--set", item]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def evaluate(pred: Path, datalist: Path) -> list[dict]:
    subprocess.run(
        [sys.executable, "-m", "wmhseg.cli", "evaluate", "--pred", str(pred), "--ref", str(datalist), "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with open(pred / "evaluation" / "per_case.csv") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        voxel_ml = float(np.prod(nib.load(row["reference"]).header.get_zooms()[:3])) / 1000.0
        row["result_volume_ml"] = float(row["n_result_voxels"]) * voxel_ml
        row["reference_volume_ml"] = float(row["n_reference_voxels"]) * voxel_ml
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "ljubljana_ms_mni")
    parser.add_argument(
        "--label-maps",
        type=Path,
        default=SHARED / "synthseg_label_maps",
        help="label maps whose held-out (validation) maps calibrate the baseline's k",
    )
    parser.add_argument("--k", type=float, default=None, help="baseline k (default: calibrated on synthetic data)")
    parser.add_argument("--calibration-subjects", type=int, default=12)
    parser.add_argument("--ckpt", type=Path, default=None, help="checkpoint (default: the bundle's models/model.pt)")
    parser.add_argument("--work", type=Path, default=None, help="folder for inputs and outputs (default: temporary)")
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=list(PROTOCOLS))
    parser.add_argument("--set", action="append", default=[], metavar="ID=VALUE", help="passed to wmhseg predict")
    parser.add_argument("--json", type=Path, default=None, help="also write all rows as JSON")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"{args.data}: no real data; nothing to measure", file=sys.stderr)
        return 2
    k, k_scores = (args.k, {}) if args.k is not None else calibrate_k(args.label_maps, args.calibration_subjects)
    print(
        f"baseline k = {k:.2f} ("
        + (
            "given"
            if not k_scores
            else f"best mean DSC {k_scores[k]:.3f} on {args.calibration_subjects} "
            "skull-stripped synthetic images of held-out label maps"
        )
        + ")"
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="wmhseg-eval-real-"))
    datalists = write_protocols(args.data, work, {p: PROTOCOLS[p] for p in args.protocols})
    rows = []
    for name, datalist in datalists.items():
        content = json.loads(Path(datalist).read_text())
        baseline_dir = work / name / "baseline"
        for item in content["training"]:
            image = nib.load(Path(datalist).parent / item["image"])
            save_nifti(
                threshold_mask(image.get_fdata(dtype=np.float32), k),
                image.affine,
                baseline_dir / f"{item['subject']}.nii.gz",
                np.uint8,
            )
        model_dir = work / name / "model"
        start = time.perf_counter()
        predict([work / name / "flair"], model_dir, args.ckpt, args.set, "--no-qc", "--no-prob")
        seconds = (time.perf_counter() - start) / max(len(content["training"]), 1)
        for method, folder in (("model", model_dir), (f"threshold k={k:.2f}", baseline_dir)):
            for row in evaluate(folder, datalist):
                rows.append(
                    {
                        "protocol": name,
                        "method": method,
                        "subject": row["subject"],
                        **{key: float(row[key]) for key, _, _ in METRICS if key in row},
                        **({"s_per_case": seconds} if method == "model" else {}),
                    }
                )
    header = "| protocol | method | case | " + " | ".join(label for _, label, _ in METRICS) + " |"
    print(header)
    print("|" + "---|" * (3 + len(METRICS)))
    for name in datalists:
        for method in dict.fromkeys(r["method"] for r in rows):
            selected = [r for r in rows if r["protocol"] == name and r["method"] == method]
            mean = {key: float(np.nanmean([r.get(key, np.nan) for r in selected])) for key, _, _ in METRICS}
            for r in selected + [{"subject": "**mean**", **mean}]:
                cells = [fmt.format(r[key]) if key in r and np.isfinite(r[key]) else "nan" for key, _, fmt in METRICS]
                print(f"| {name} | {method} | {r['subject']} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps({"k": k, "k_scores": k_scores, "rows": rows}, indent=1))
    print(f"outputs in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
