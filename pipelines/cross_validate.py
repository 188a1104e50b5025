"""Cross-validate one network through the MONAI bundle, all folds in one MLflow experiment.

Same as ``wmhseg cross-validate``; run ``python pipelines/cross_validate.py --help`` from the repository root.

Examples::

    python pipelines/cross_validate.py --budget tiny                       # embedded phantoms, minutes on a CPU
    python pipelines/cross_validate.py --datalist /data/WMH/datalist.json --network saunet3d
    python pipelines/cross_validate.py --datalist /data/WMH/datalist.json --scheme leave-one-scanner-out
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from wmhseg.cli import run_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_script("cross-validate", prog="cross_validate.py"))
