"""``wmhseg reproduce-tables``: train and evaluate every variant of the paper, then build its Tables 1, 2 and 3.

The six Table 1 ablation variants and the Table 2 baselines (3D U-Net, Attention U-Net) are
trained through the MONAI bundle with the chosen budget and scored with the WMH challenge
metrics; all runs go to one MLflow experiment (default ``wmhseg-paper``) as one study.  The
tables are then rebuilt from the MLflow store alone (``--tables-only`` does only that, for the
newest study or ``--study ID``): markdown and CSV with the paper's numbers beside ours, and bar
plots, written to ``--out`` (default ``WORK_DIR/<study>/tables``) and logged to the study's run.
With a datalist holding a labelled ``test`` list (the challenge release imported with
``wmhseg prepare challenge``) the evaluation is on the test set, as in the paper.
Exit status 0 when every job succeeded, 1 when some failed, 2 when the run could not start.

Examples::

    wmhseg reproduce-tables --budget tiny                                     # phantoms, minutes on a CPU
    wmhseg prepare challenge /data/WMH -o /data/WMH/datalist.json
    wmhseg reproduce-tables --datalist /data/WMH/datalist.json                # the paper's recipe (GPU)
    wmhseg reproduce-tables --tables-only --out tables/                       # rebuild from MLflow
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.datalist import EVAL_SPLITS
from ..experiments.reproduction import VARIANTS, make_tables, reproduce_tables
from . import experiment_options as options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.describe(parser, __doc__)
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=list(VARIANTS),
        metavar="PRESET",
        help=f"presets to train (default: all of {', '.join(VARIANTS)})",
    )
    parser.add_argument(
        "--folds",
        nargs="+",
        default=["0"],
        metavar="K",
        help="validation fold(s) of each training, or 'all' (default: 0)",
    )
    parser.add_argument(
        "--eval-split",
        choices=EVAL_SPLITS,
        default="auto",
        help="auto (default): the datalist's labelled test list if any, else the held-out fold",
    )
    parser.add_argument(
        "--tables-only",
        action="store_true",
        help="train nothing: rebuild the tables of the newest study (or --study) from MLflow",
    )
    parser.add_argument("--out", type=Path, help="folder for the tables (default: WORK_DIR/<study>/tables)")
    options.add_common_arguments(parser, experiment="wmhseg-paper")


def run(args: argparse.Namespace) -> int:
    options.configure_logging()
    try:
        tracking_uri = options.tracking_uri_from_args(args)
        if args.tables_only:
            tables = make_tables(tracking_uri, args.experiment, args.study, args.out, work_dir=args.work_dir)
            failures = []
        else:
            folds = options.parse_folds(args.folds)
            result = reproduce_tables(
                options.datalist_from_args(args),
                options.budget_from_args(args),
                tracking_uri,
                args.work_dir,
                folds=folds,
                variants=args.variants,
                experiment=args.experiment,
                eval_split=args.eval_split,
                study_id=args.study,
                seed=args.seed,
                overrides=options.overrides_from_args(args),
                out_dir=args.out,
            )
            tables, failures = result.tables, result.failures
    except (ValueError, FileNotFoundError, LookupError) as err:
        print(f"wmhseg reproduce-tables: {err}", file=sys.stderr)
        return 2
    for failure in failures:
        print(f"FAILED: {failure.preset} fold {failure.fold}: {failure.error}", file=sys.stderr)
    if tables is None:
        print("wmhseg reproduce-tables: no variant was evaluated; no tables", file=sys.stderr)
        return 1
    print("\n".join(table.markdown() for table in tables.tables))
    print(f"study {tables.study} in experiment {args.experiment!r} at {tracking_uri}")
    print("tables: " + ", ".join(str(p) for p in tables.files))
    print(f"browse: {options.mlflow_ui_hint(tracking_uri)}")
    return 1 if failures else 0
