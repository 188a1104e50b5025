"""Inference on new FLAIR volumes: inputs, weights, sliding windows, per-subject outputs and the run summary.

The bundle config ``bundle/configs/inference.json`` wires these pieces; ``wmhseg predict``
runs that config.
"""

from .batch import COHORT_FILE, OUTPUT_FILES, SUMMARY_FILE, BatchRun, Subject, SubjectsFailedError
from .bundle import bundle_version, default_bundle_dir
from .checkpoint import CheckpointError, checkpoint_info, load_network_weights, read_checkpoint
from .inferer import ProbabilitySlidingWindowInferer
from .inputs import (
    check_brain_mask,
    check_image,
    discover_inputs,
    network_grid_shape,
    plausibility_warnings,
    sample_phantom,
)
from .writer import GeometryError, SubjectWriter

__all__ = [
    "BatchRun",
    "COHORT_FILE",
    "CheckpointError",
    "GeometryError",
    "OUTPUT_FILES",
    "ProbabilitySlidingWindowInferer",
    "SUMMARY_FILE",
    "Subject",
    "SubjectWriter",
    "SubjectsFailedError",
    "bundle_version",
    "check_brain_mask",
    "check_image",
    "checkpoint_info",
    "default_bundle_dir",
    "discover_inputs",
    "load_network_weights",
    "network_grid_shape",
    "plausibility_warnings",
    "read_checkpoint",
    "sample_phantom",
]
