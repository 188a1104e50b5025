"""``wmhseg prepare``: write datalist JSONs for the WMH challenge, a user's folder, phantoms, or 2D slices.

Sub-commands: ``challenge`` (official release folder), ``folder`` (plain or BIDS folder of
FLAIR volumes), ``phantoms`` (N synthetic subjects for a seed), ``default`` (the cached
default phantom set), ``lgg`` (the Kaggle LGG brain-MRI slices, split by patient) and
``slices`` (axial 2D slices of a 3D datalist, for the 2D networks). Each prints the
datalist path; skipped subjects are reported as warnings on stderr and listed in the
datalist under ``"skipped"``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.datalist import FOLD_SCHEMES, read_datalist


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="source", required=True)

    challenge = sub.add_parser("challenge", help="WMH Segmentation Challenge release folder")
    challenge.add_argument("root", type=Path, help="release folder (training/ and/or test/), a split or a site folder")
    challenge.add_argument("-o", "--output", type=Path, required=True, help="datalist JSON to write")
    folds = challenge.add_mutually_exclusive_group()
    folds.add_argument("--folds", type=int, default=5, help="k for k-fold, balanced across scanners (default 5)")
    folds.add_argument("--leave-one-scanner-out", action="store_true", help="one fold per training scanner")
    challenge.add_argument("--seed", type=int, default=0, help="seed of the fold assignment")
    challenge.add_argument("--no-t1", action="store_true", help="leave pre/T1.nii.gz out of the entries")
    challenge.add_argument("--quick", action="store_true", help="check headers only, do not decompress every file")

    folder = sub.add_parser("folder", help="a folder of FLAIR volumes with optional masks (plain or BIDS)")
    folder.add_argument("root", type=Path, help="folder of images, or a BIDS dataset root")
    folder.add_argument("-o", "--output", type=Path, required=True, help="datalist JSON to write")
    folder.add_argument("--labels", type=Path, default=None, help="separate mask folder (BIDS: derivatives root)")
    folder.add_argument("--label-suffix", default=None, help="mask file suffix beside the image, e.g. _wmh")
    folder.add_argument("--scanner", default="unknown", help="scanner name where no BIDS sidecar gives one")
    folder.add_argument("--folds", type=int, default=5, help="k for k-fold of the labelled volumes (default 5)")
    folder.add_argument("--seed", type=int, default=0, help="seed of the fold assignment")
    folder.add_argument("--quick", action="store_true", help="check headers only, do not decompress every file")

    phantoms = sub.add_parser("phantoms", help="generate N synthetic FLAIR phantoms and their datalist")
    phantoms.add_argument("-o", "--output", type=Path, required=True, help="folder to write into")
    phantoms.add_argument("-n", type=int, default=16, help="number of subjects (default 16)")
    phantoms.add_argument("--seed", type=int, default=0)
    phantoms.add_argument(
        "--protocols",
        nargs="+",
        default=None,
        help="scanner grids, in turn (default: all of wmhseg.data.synthetic.PROTOCOLS)",
    )
    phantoms.add_argument("--lesion-range", type=float, nargs=2, default=(0.5, 80.0), metavar=("MIN_ML", "MAX_ML"))
    phantoms.add_argument("--folds", type=int, default=5)

    lgg = sub.add_parser("lgg", help="Kaggle lgg-mri-segmentation slices (kaggle_3m), split by patient")
    lgg.add_argument("root", type=Path, help="the kaggle_3m folder (or the folder that contains it)")
    lgg.add_argument("-o", "--output", type=Path, required=True, help="datalist JSON to write")
    lgg.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    lgg.add_argument(
        "--test-fraction", type=float, default=0.1, help="share of patients held out for testing (default 0.1)"
    )
    lgg.add_argument("--seed", type=int, default=42, help="shuffle seed of the patient split (default 42)")

    slices = sub.add_parser("slices", help="axial 2D slices of a 3D datalist (binary target, split kept by subject)")
    slices.add_argument("datalist", type=Path, help="3D datalist JSON")
    slices.add_argument(
        "-o", "--output", type=Path, required=True, help="folder to write the slices and datalist.json into"
    )
    slices.add_argument("--foreground", type=int, default=1, help="label value that becomes 1 (default 1, WMH)")

    default = sub.add_parser("default", help="the cached default phantom set (generated on first use)")
    default.add_argument(
        "--root", type=Path, default=None, help="cache root (default $WMHSEG_DATA_DIR or ~/.cache/wmhseg/phantoms)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        if args.source in ("challenge", "folder"):  # what both importers take: folds, seed, file checks
            both = {"num_folds": args.folds, "seed": args.seed, "full_read": not args.quick}
        if args.source == "challenge":
            from ..data.wmh_challenge import import_wmh_challenge

            scheme = "leave-one-scanner-out" if args.leave_one_scanner_out else FOLD_SCHEMES[0]
            path = import_wmh_challenge(args.root, args.output, scheme=scheme, include_t1=not args.no_t1, **both)
        elif args.source == "folder":
            from ..data.folder import import_folder

            path = import_folder(
                args.root, args.output, labels=args.labels, label_suffix=args.label_suffix, scanner=args.scanner, **both
            )
        elif args.source == "phantoms":
            from ..data.synthetic import generate_phantoms

            path = generate_phantoms(
                args.output,
                args.n,
                seed=args.seed,
                protocols=args.protocols,
                lesion_volume_range=tuple(args.lesion_range),
                num_folds=args.folds,
            )
        elif args.source == "lgg":
            from ..data.lgg import build_lgg_datalist

            path = build_lgg_datalist(
                args.root, args.output, num_folds=args.folds, test_fraction=args.test_fraction, seed=args.seed
            )
        elif args.source == "slices":
            from ..data.slices import axial_slice_datalist

            path = axial_slice_datalist(args.datalist, args.output, foreground=args.foreground)
        else:
            from ..data.synthetic import default_datalist

            path = default_datalist(args.root)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"wmhseg prepare {args.source}: error: {error}", file=sys.stderr)
        return 2
    content = read_datalist(path, key=None)
    counts = ", ".join(f"{len(content[k])} {k}" for k in ("training", "test") if k in content)
    skipped = len(content.get("skipped", []))
    print(f"{path}: {counts}" + (f"; {skipped} subject(s) skipped, see warnings above" if skipped else ""))
    return 0
