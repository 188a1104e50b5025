"""The ``wmhseg`` console command: one entry point, one sub-command per task.

Each sub-command lives in its own module, which provides ``add_arguments(parser)``
and ``run(args) -> int``; this file only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command name -> (module path, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("wmhseg.demo", "forward pass of the 3D SA-UNet on a synthetic volume"),
    "predict": ("wmhseg.predict", "segment WMH on FLAIR volumes: native-space masks, lesion tables, QC, summaries"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wmhseg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
