"""Reproducible experiments through the MONAI bundle, tracked in MLflow.

* :mod:`.budget`: how long and how large each training is (``tiny``, ``small``, ``paper``);
* :mod:`.study`: one pipeline invocation's runs, grouped and tagged in MLflow;
* :mod:`.bundle_run`: one job, the bundle's training and evaluation workflows for a preset and a fold;
* :mod:`.evaluation_qc`: QC images of an evaluation (the bundle logs its challenge metric tables);
* :mod:`.cross_validation`: every fold of one network (``pipelines/cross_validate.py``);
* :mod:`.reproduction`: every Table 1/2 variant and the paper's tables (``pipelines/reproduce_tables.py``);
* :mod:`.results`, :mod:`.tables`, :mod:`.plots`, :mod:`.paper`: results read back from the store,
  the tables beside the published numbers, and figures.
"""

from ..data.datalist import datalist_folds, default_eval_split, leave_one_scanner_out
from .budget import BUDGETS, Budget, get_budget
from .bundle_run import JobResult, run_job
from .cross_validation import CrossValidation, cross_validate, summarise
from .plots import learning_curves, plot_tables
from .reproduction import VARIANTS, Reproduction, Tables, make_tables, reproduce_tables
from .results import Evaluation, StudyResults, latest_study, load_study
from .store import default_tracking_uri, resolve_tracking_uri
from .study import Job, Study, open_study
from .tables import PaperTable, build_tables, write_tables

__all__ = [
    "BUDGETS",
    "Budget",
    "CrossValidation",
    "Evaluation",
    "Job",
    "JobResult",
    "PaperTable",
    "Reproduction",
    "Study",
    "StudyResults",
    "Tables",
    "VARIANTS",
    "build_tables",
    "cross_validate",
    "datalist_folds",
    "default_eval_split",
    "default_tracking_uri",
    "get_budget",
    "latest_study",
    "leave_one_scanner_out",
    "learning_curves",
    "load_study",
    "make_tables",
    "open_study",
    "plot_tables",
    "reproduce_tables",
    "resolve_tracking_uri",
    "run_job",
    "summarise",
    "write_tables",
]
