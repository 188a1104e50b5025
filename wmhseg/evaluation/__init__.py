"""Scoring predicted WMH masks against reference files with the official WMH challenge metrics.

The code of ``wmhseg evaluate`` (:mod:`wmhseg.commands.evaluate`) and of the bundle's evaluation
(:class:`wmhseg.bundle.ChallengeTables`):

* :mod:`.cases`: the references (challenge layout or datalist) and their prediction files;
* :mod:`.scoring`: the voxel-grid check and the metrics of each pair;
* :mod:`.tables`: ``per_case.csv``, ``per_scanner.csv``, ``summary.json`` and their text form.
"""

from .cases import (
    PREDICTION_NAMES,
    REFERENCE_NAME,
    Case,
    EvaluationError,
    challenge_cases,
    datalist_cases,
    find_prediction,
    natural_key,
    sorted_cases,
)
from .scoring import PER_CASE_COLUMNS, GridMismatchError, check_same_grid, evaluate_case, score_pairs
from .tables import TABLE_FILES, scanner_table, tables_text, write_tables

__all__ = [
    "Case",
    "EvaluationError",
    "GridMismatchError",
    "PER_CASE_COLUMNS",
    "PREDICTION_NAMES",
    "REFERENCE_NAME",
    "TABLE_FILES",
    "challenge_cases",
    "check_same_grid",
    "datalist_cases",
    "evaluate_case",
    "find_prediction",
    "natural_key",
    "scanner_table",
    "score_pairs",
    "sorted_cases",
    "tables_text",
    "write_tables",
]
