"""Recipe: score predicted WMH masks against references with the official WMH challenge metrics.

The same code as the console command ``wmhseg evaluate`` (see :mod:`wmhseg.commands.evaluate`)::

    python pipelines/evaluate.py --pred OUT --ref /data/wmh/test            # challenge layout
    python pipelines/evaluate.py --pred OUT --ref datalist.json --fold 0    # datalist

It writes ``per_case.csv``, ``per_scanner.csv`` (Table 3 layout of Kuijf et al., IEEE TMI 2019) and
``summary.json`` to ``--out`` (default ``OUT/evaluation``) and prints the tables.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from wmhseg.cli import run_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_script("evaluate", prog="evaluate.py", description=__doc__.splitlines()[0]))
