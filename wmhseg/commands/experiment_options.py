"""Command-line options shared by ``wmhseg cross-validate`` and ``wmhseg reproduce-tables``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from ..bundle.options import parse_overrides
from ..experiments.budget import BUDGETS, Budget, get_budget
from ..experiments.store import resolve_tracking_uri
from ..inference.bundle import default_bundle_dir

__all__ = [
    "add_common_arguments",
    "describe",
    "budget_from_args",
    "configure_logging",
    "datalist_from_args",
    "mlflow_ui_hint",
    "overrides_from_args",
    "parse_folds",
    "tracking_uri_from_args",
]


def describe(parser: argparse.ArgumentParser, doc: str) -> None:
    """Take the parser's description from the command's docstring (its first paragraph after ``: ``) and
    its epilog (examples) from the rest, kept as written."""
    parser.description = doc.split("\n\n")[0].split(": ", 1)[1]
    parser.epilog = doc.split("\n\n", 1)[1]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def add_common_arguments(parser: argparse.ArgumentParser, experiment: str, default_budget: str = "paper") -> None:
    data = parser.add_argument_group("data")
    data.add_argument(
        "--datalist",
        type=Path,
        default=None,
        help="datalist JSON with folds, or a folder holding datalist.json (write one with "
        "`wmhseg prepare`; default: the embedded synthetic phantoms)",
    )
    budget = parser.add_argument_group(
        "budget", "a preset, then any of its fields: " + "; ".join(b.describe() for b in BUDGETS.values())
    )
    budget.add_argument(
        "--budget", choices=sorted(BUDGETS), default=default_budget, help=f"preset (default: {default_budget})"
    )
    budget.add_argument("--epochs", type=int)
    budget.add_argument("--epoch-length", type=int, help="iterations per epoch")
    budget.add_argument("--patch-size", type=int, nargs=3, metavar=("X", "Y", "Z"))
    budget.add_argument("--batch-size", type=int)
    budget.add_argument("--target-spacing", type=float, nargs=3, metavar=("SX", "SY", "SZ"), help="mm")
    budget.add_argument("--channels", type=int, nargs=4, metavar="C", help="the four network widths")
    budget.add_argument("--num-workers", type=int, help="data-loader workers")
    budget.add_argument("--qc-cases", type=int, help="QC images per evaluation")
    budget.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="ID=VALUE",
        help="any other top-level bundle override, e.g. --set lr=0.0005 (VALUE read as JSON if it parses); repeatable",
    )
    tracking = parser.add_argument_group("tracking and outputs")
    tracking.add_argument("--experiment", default=experiment, help=f"MLflow experiment (default: {experiment})")
    tracking.add_argument(
        "--tracking-uri",
        help="MLflow store: a URI or a .db path (default: $MLFLOW_TRACKING_URI, else the bundle's "
        "store bundle/eval/mlruns.db)",
    )
    tracking.add_argument(
        "--work-dir",
        type=Path,
        default=default_bundle_dir() / "eval" / "experiments",
        help="checkpoints, predictions and tables go to WORK_DIR/<study> (default: %(default)s)",
    )
    tracking.add_argument(
        "--study",
        help="study id: continue an interrupted study (finished jobs are skipped); "
        "default: a new study named by the current time",
    )
    tracking.add_argument("--seed", type=int, default=0, help="the bundle's seed (default: 0)")


def parse_folds(values: list[str] | None) -> list[int] | None:
    """``--folds`` values as integers; None for ``all``."""
    if values is None or values == ["all"]:
        return None
    try:
        return [int(value) for value in values]
    except ValueError:
        raise ValueError(f"--folds takes fold numbers or 'all', got {values}") from None


def budget_from_args(args: argparse.Namespace) -> Budget:
    return get_budget(
        args.budget,
        epochs=args.epochs,
        epoch_length=args.epoch_length,
        patch_size=args.patch_size,
        batch_size=args.batch_size,
        target_spacing=args.target_spacing,
        channels=args.channels,
        num_workers=args.num_workers,
        qc_cases=args.qc_cases,
    )


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return parse_overrides(args.set)


def datalist_from_args(args: argparse.Namespace) -> Path:
    from ..bundle import resolve_datalist

    return Path(resolve_datalist(args.datalist))


def tracking_uri_from_args(args: argparse.Namespace) -> str:
    return resolve_tracking_uri(args.tracking_uri)


def mlflow_ui_hint(tracking_uri: str) -> str:
    """The command that browses ``tracking_uri``."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri} in a browser"
    return f"mlflow ui --backend-store-uri {tracking_uri} --host 127.0.0.1 --port 5000"


def configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
    logging.getLogger("wmhseg").setLevel(logging.INFO)
