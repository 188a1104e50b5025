"""Data: datalist importers (WMH challenge, plain/BIDS folders) and the synthetic default set.

The phantoms live in :mod:`wmhseg.data.synthetic` (``default_datalist()`` for the embedded
default set). Datalists are MONAI decathlon-style JSON with paths relative to the file.
"""

from ..io import image_problem, save_nifti
from .datalist import LABELS, PATH_KEYS, assign_folds, split_fold, write_datalist
from .folder import import_folder
from .wmh_challenge import find_subjects, import_wmh_challenge

__all__ = [
    "LABELS",
    "PATH_KEYS",
    "assign_folds",
    "find_subjects",
    "image_problem",
    "import_folder",
    "import_wmh_challenge",
    "save_nifti",
    "split_fold",
    "write_datalist",
]
