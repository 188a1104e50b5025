"""Recipe: score predicted WMH masks against references with the official WMH challenge metrics.

The same code as the console command ``wmhseg evaluate`` (see :mod:`wmhseg.evaluation`)::

    python pipelines/evaluate.py --pred OUT --ref /data/wmh/test            # challenge layout
    python pipelines/evaluate.py --pred OUT --ref datalist.json --fold 0    # datalist

It writes ``per_case.csv``, ``per_scanner.csv`` (Table 3 layout of Kuijf et al., IEEE TMI 2019) and
``summary.json`` to ``--out`` (default ``OUT/evaluation``) and prints the tables.
"""

from __future__ import annotations

import argparse
import sys

from wmhseg import evaluation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evaluate.py", description=__doc__.splitlines()[0])
    evaluation.add_arguments(parser)
    return evaluation.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
