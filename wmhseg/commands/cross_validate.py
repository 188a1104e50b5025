"""``wmhseg cross-validate``: train one network on every fold but one and evaluate it on that fold, for each fold.

Every run goes through the MONAI bundle and into one MLflow experiment (default ``wmhseg-cv``),
tagged with its fold, network preset, data set and git commit; evaluations are scored with the
WMH challenge metrics, with per-case / per-scanner tables and QC images as artifacts.  The
summary (per fold, and pooled per scanner and overall) is printed and written to
``WORK_DIR/<study>/summary/``.  Exit status 0 when every fold succeeded, 1 when some failed,
2 when the run could not start.

Examples::

    wmhseg cross-validate --budget tiny                                  # phantoms, a few minutes on a CPU
    wmhseg cross-validate --datalist /data/WMH/datalist.json --network saunet3d
    wmhseg cross-validate --datalist /data/WMH/datalist.json --scheme leave-one-scanner-out --budget small
"""

from __future__ import annotations

import argparse
import sys

from ..experiments.cross_validation import SCHEMES, cross_validate
from ..networks import list_networks
from . import experiment_options as options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.describe(parser, __doc__)
    parser.add_argument(
        "--network",
        default="saunet3d",
        choices=list_networks(),
        metavar="PRESET",
        help="network preset (default: saunet3d; see wmhseg.networks.list_networks())",
    )
    parser.add_argument(
        "--folds", nargs="+", default=None, metavar="K", help="folds to run (default: all folds of the datalist)"
    )
    parser.add_argument(
        "--scheme",
        choices=SCHEMES,
        default="datalist",
        help="'datalist': the datalist's own folds (default); 'leave-one-scanner-out': one fold per "
        "scanner, whatever the datalist says",
    )
    options.add_common_arguments(parser, experiment="wmhseg-cv")


def run(args: argparse.Namespace) -> int:
    options.configure_logging()
    try:
        folds = options.parse_folds(args.folds)
        budget = options.budget_from_args(args)
        overrides = options.overrides_from_args(args)
        datalist = options.datalist_from_args(args)
        tracking_uri = options.tracking_uri_from_args(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"wmhseg cross-validate: {err}", file=sys.stderr)
        return 2
    try:
        result = cross_validate(
            datalist,
            budget,
            tracking_uri,
            args.work_dir,
            preset=args.network,
            folds=folds,
            scheme=args.scheme,
            experiment=args.experiment,
            study_id=args.study,
            seed=args.seed,
            overrides=overrides,
        )
    except (ValueError, FileNotFoundError, LookupError) as err:
        print(f"wmhseg cross-validate: {err}", file=sys.stderr)
        return 2
    for path in result.summary_files:
        if path.suffix == ".md":
            print(path.read_text())
    for failure in result.failures:
        print(f"FAILED: {failure.preset} fold {failure.fold}: {failure.error}", file=sys.stderr)
    print(f"study {result.study.id} in experiment {args.experiment!r} at {tracking_uri}")
    print("summary: " + (", ".join(str(p) for p in result.summary_files) or "none, no fold was evaluated"))
    print(f"browse: {options.mlflow_ui_hint(tracking_uri)}")
    return 1 if result.failures else 0
