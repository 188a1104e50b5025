"""Reproduce the 3D SA-UNet paper's Tables 1-3: train every variant through the bundle, build the tables from MLflow.

Same as ``wmhseg reproduce-tables``; run ``python pipelines/reproduce_tables.py --help`` from the repository root.

Examples::

    python pipelines/reproduce_tables.py --budget tiny                              # phantoms, minutes on a CPU
    python pipelines/prepare.py challenge /data/WMH -o /data/WMH/datalist.json
    python pipelines/reproduce_tables.py --datalist /data/WMH/datalist.json         # the paper's recipe
    python pipelines/reproduce_tables.py --tables-only --out tables/                # rebuild from MLflow alone
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from wmhseg.cli import run_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_script("reproduce-tables", prog="reproduce_tables.py"))
