"""``wmhseg predict``: segment WMH on FLAIR volumes, the bundle's inference workflow from the command line.

``wmhseg predict INPUT... -o OUT`` runs ``bundle/configs/inference.json`` through
:class:`monai.bundle.ConfigWorkflow` with the options turned into config overrides, so
it gives exactly what ``python -m monai.bundle run inference`` gives.  Exit status: 0
when every subject succeeded (or was already complete), 1 when some failed (the others
are written and ``OUT/summary.csv`` says why), 2 when the run could not start.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from ..inference.batch import SubjectsFailedError
from ..inference.bundle import BUNDLE_ENV, default_bundle_dir
from ..inference.checkpoint import CheckpointError
from ..io import IMAGE_SUFFIXES
from ..networks import PRECISIONS, list_networks

TTA_FLIPS = [[0], [1], [2]]
"""Flips of ``--tta``: one extra pass per spatial axis."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help=f"FLAIR files ({', '.join(IMAGE_SUFFIXES)}), folders of them, glob patterns or datalist JSONs "
        "(none: the embedded sample, a synthetic FLAIR phantom)",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="OUT",
        help="output folder: OUT/<subject>/ per subject and OUT/summary.csv",
    )
    parser.add_argument("--brain-mask", nargs="+", metavar="MASK", help="brain masks, one per INPUT file, same order")
    parser.add_argument("--datalist-key", help="list to read from a datalist JSON (default: test, else training)")
    parser.add_argument("--ckpt", type=Path, help="network state_dict (default: BUNDLE/models/model.pt)")
    parser.add_argument(
        "--network", choices=list_networks(), help="network preset of the checkpoint (default: saunet3d)"
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA with AMP when available, else CPU), cpu, cuda or cuda:N (default: auto)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="network precision: bf16 autocast (CPU: with channels-last; CUDA: AMP), fp32, or auto: "
        "bf16 where the CPU computes it natively and on CUDA, else fp32 (default: auto)",
    )
    parser.add_argument(
        "--memory-budget",
        type=float,
        metavar="MB",
        help="memory for the network's activations of one window; the whole volume is one window when "
        "it fits, else the fewest windows that do (default 1536)",
    )
    parser.add_argument("--threshold", type=float, help="WMH when probability >= this (default 0.5)")
    parser.add_argument("--min-lesion-voxels", type=int, help="drop 26-connected lesions smaller than this (default 1)")
    parser.add_argument(
        "--periventricular-mm",
        type=float,
        metavar="MM",
        help="a lesion within this distance of the ventricles is periventricular, else deep (default 10)",
    )
    parser.add_argument(
        "--overlap", type=float, help="overlap of neighbouring windows when there are several, 0 to <1 (default 0.125)"
    )
    parser.add_argument("--sw-batch-size", type=int, help="windows per forward pass (default 1)")
    parser.add_argument(
        "--no-crop", action="store_true", help="run the network over the whole grid, not the head's bounding box only"
    )
    parser.add_argument("--tta", action="store_true", help="test-time augmentation: average over a flip of each axis")
    parser.add_argument("--no-prob", action="store_true", help="do not write wmh_prob.nii.gz")
    parser.add_argument("--no-qc", action="store_true", help="do not write qc.png")
    parser.add_argument("--overwrite", action="store_true", help="redo subjects whose outputs are complete")
    parser.add_argument("--workers", type=int, help="data-loader worker processes (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no sliding-window progress bar")
    parser.add_argument(
        "--bundle", type=Path, help=f"bundle folder (default: ${BUNDLE_ENV}, else the source tree's bundle/)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="ID=VALUE",
        help="any other config override, e.g. --set patch_size=[128,128,32] (VALUE read as JSON if it parses)",
    )


def config_overrides(args: argparse.Namespace, bundle: Path) -> dict[str, Any]:
    """The ``ConfigWorkflow`` overrides for the parsed command line."""
    from ..bundle.options import parse_overrides  # the bundle package imports MLflow: not for --help

    overrides: dict[str, Any] = {
        "bundle_root": str(bundle),
        "output_dir": str(args.output.expanduser().absolute()),
    }
    if args.inputs:
        overrides["input"] = [str(p) for p in args.inputs]
    if args.device != "auto":
        torch.device(args.device)  # raises on a malformed device
        overrides["device"] = f"$torch.device({args.device!r})"
    options = {
        "brain_mask": args.brain_mask,
        "datalist_key": args.datalist_key,
        "ckpt_file": str(args.ckpt.expanduser().absolute()) if args.ckpt else None,
        "network_preset": args.network,
        "precision": args.precision,
        "memory_budget_mb": args.memory_budget,
        "threshold": args.threshold,
        "min_lesion_voxels": args.min_lesion_voxels,
        "periventricular_mm": args.periventricular_mm,
        "overlap": args.overlap,
        "sw_batch_size": args.sw_batch_size,
        "crop_foreground": False if args.no_crop else None,
        "num_workers": args.workers,
        "tta_flips": TTA_FLIPS if args.tta else None,
        "save_prob": False if args.no_prob else None,
        "save_qc": False if args.no_qc else None,
        "overwrite": True if args.overwrite else None,
        "progress": False if args.no_progress else None,
    }
    overrides.update({k: v for k, v in options.items() if v is not None})
    return {**overrides, **parse_overrides(args.set)}


def _reason(err: BaseException) -> BaseException:
    """The innermost cause of ``err``: the config parser wraps errors raised inside expressions."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("wmhseg").setLevel(logging.INFO)


def run(args: argparse.Namespace) -> int:
    from ..bundle.workflow import run_workflow

    bundle = (args.bundle or default_bundle_dir()).expanduser().absolute()
    config = bundle / "configs" / "inference.json"
    if not config.is_file():
        print(f"wmhseg predict: no bundle config at {config}; pass --bundle DIR or set ${BUNDLE_ENV}", file=sys.stderr)
        return 2
    try:
        overrides = config_overrides(args, bundle)
    except (ValueError, RuntimeError) as err:
        print(f"wmhseg predict: {err}", file=sys.stderr)
        return 2
    meta = config.parent / "metadata.json"
    logging_conf = config.parent / "logging.conf"
    _configure_logging()
    try:
        run_workflow(
            str(config),
            "inference",
            "infer",
            meta_file=str(meta) if meta.is_file() else [],
            logging_file=str(logging_conf) if logging_conf.is_file() else False,
            **overrides,
        )
    except Exception as err:  # report the cause in one line, not the config parser's wrapper
        reason = _reason(err)
        if isinstance(reason, SubjectsFailedError):  # raised by the finalize step: the others are written
            print(f"wmhseg predict: {reason}", file=sys.stderr)
            return 1
        label = "" if isinstance(reason, (CheckpointError, ValueError)) else f"{type(reason).__name__}: "
        print(f"wmhseg predict: {label}{reason}", file=sys.stderr)
        return 2
    return 0
