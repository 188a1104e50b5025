"""Write a MONAI datalist JSON: WMH challenge release, a folder of FLAIR volumes, synthetic phantoms, or 2D slices.

Same as ``wmhseg prepare``; run ``python pipelines/prepare.py --help`` from the repository root,
or ``python pipelines/prepare.py challenge --help`` for one source.

Examples::

    python pipelines/prepare.py challenge /data/WMH -o /data/WMH/datalist.json --folds 5
    python pipelines/prepare.py challenge /data/WMH -o loso.json --leave-one-scanner-out
    python pipelines/prepare.py folder /data/my_bids -o my_datalist.json
    python pipelines/prepare.py phantoms -o /tmp/phantoms -n 8 --seed 1
    python pipelines/prepare.py default
    python pipelines/prepare.py lgg /data/lgg-mri-segmentation/kaggle_3m -o /data/lgg.json
    python pipelines/prepare.py slices /data/WMH/datalist.json -o /data/WMH_slices
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from wmhseg.cli import run_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_script("prepare", prog="wmhseg prepare", description=__doc__.splitlines()[0]))
