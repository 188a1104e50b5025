"""Reports of a segmentation: per-lesion table, QC mosaics, per-subject and cohort summaries."""

from .lesions import LESION_COLUMNS, label_lesions, lesion_table, write_lesion_csv
from .qc import render_comparison, render_qc
from .summary import COHORT_COLUMNS, cohort_row, read_subject_summary, write_cohort_csv, write_subject_summary

__all__ = [
    "COHORT_COLUMNS",
    "LESION_COLUMNS",
    "cohort_row",
    "label_lesions",
    "lesion_table",
    "read_subject_summary",
    "render_comparison",
    "render_qc",
    "write_cohort_csv",
    "write_lesion_csv",
    "write_subject_summary",
]
