"""wmhseg command line: WMH segmentation on FLAIR MRI, one sub-command per task.

Each sub-command lives in its own module of :mod:`wmhseg.commands`, which provides
``add_arguments(parser)`` and ``run(args) -> int``; this file only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command name -> (module path, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "evaluate": ("wmhseg.commands.evaluate", "score predicted WMH masks with the official WMH challenge metrics"),
    "prepare": ("wmhseg.commands.prepare", "write a datalist: WMH challenge, a folder of FLAIR volumes, or phantoms"),
    "predict": (
        "wmhseg.commands.predict",
        "segment WMH on FLAIR volumes: native-space masks, lesion tables, QC, summaries",
    ),
    "cross-validate": ("wmhseg.commands.cross_validate", "train and evaluate a network fold by fold"),
    "reproduce-tables": ("wmhseg.commands.reproduce_tables", "train the paper's variants, build its Tables 1-3"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (all of them when ``command`` is None)."""
    parser = argparse.ArgumentParser(prog="wmhseg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if command in (None, name):
            importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def run_script(command: str, prog: str, description: str | None = None, argv: list[str] | None = None) -> int:
    """Run one sub-command as a stand-alone script (the ``pipelines/*.py`` recipes): usage says ``prog``."""
    module_name, help_text = SUBCOMMANDS[command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=prog, description=description or help_text)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(sys.argv[1:] if argv is None else argv)) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    args = build_parser(command).parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
