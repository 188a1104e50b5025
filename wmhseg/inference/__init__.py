"""Inference on new FLAIR volumes: inputs, weights, window planning, sliding windows, per-subject outputs, run summary.

The bundle config ``bundle/configs/inference.json`` wires these pieces; ``wmhseg predict``
runs that config.
"""

from .anatomy import OUTPUT_CHANNELS, anatomy_masks, output_maps
from .batch import COHORT_FILE, OUTPUT_FILES, SUMMARY_FILE, BatchRun, Subject, SubjectsFailedError
from .bundle import bundle_version, default_bundle_dir
from .checkpoint import CheckpointError, average_state_dicts, checkpoint_info, load_network_weights, read_checkpoint
from .inferer import ProbabilitySlidingWindowInferer, foreground_box
from .inputs import (
    check_brain_mask,
    check_image,
    discover_inputs,
    network_grid_shape,
    plausibility_warnings,
    sample_phantom,
)
from .windows import WindowPlan, activation_bytes_per_voxel, peak_activation_bytes, plan_windows, size_multiple
from .writer import GeometryError, SubjectWriter

__all__ = [
    "BatchRun",
    "COHORT_FILE",
    "CheckpointError",
    "GeometryError",
    "OUTPUT_CHANNELS",
    "OUTPUT_FILES",
    "ProbabilitySlidingWindowInferer",
    "foreground_box",
    "SUMMARY_FILE",
    "Subject",
    "SubjectWriter",
    "SubjectsFailedError",
    "WindowPlan",
    "activation_bytes_per_voxel",
    "anatomy_masks",
    "average_state_dicts",
    "bundle_version",
    "check_brain_mask",
    "check_image",
    "checkpoint_info",
    "default_bundle_dir",
    "discover_inputs",
    "load_network_weights",
    "network_grid_shape",
    "output_maps",
    "peak_activation_bytes",
    "plan_windows",
    "plausibility_warnings",
    "read_checkpoint",
    "sample_phantom",
    "size_multiple",
]
