"""Python side of the wmhseg MONAI bundle (``bundle/``): what its configs call.

The configs reference these by dotted name (``wmhseg.bundle.<name>``): datalists, their
checks and folds (:mod:`wmhseg.data.datalist`), atomic and resumable checkpoints
(:mod:`.checkpoints`), resuming a killed training (:mod:`.resume`), MLflow tracking
(:mod:`.tracking`) and its parameters (:mod:`.params`), multi-process helpers
(:mod:`.distributed`), evaluation outputs and challenge tables (:mod:`.evaluation`),
command-line values (:mod:`.options`) and running a workflow in this process
(:mod:`.workflow`).  As in model-zoo bundles, ``bundle_root`` is ``"."``: run from the
bundle folder or pass ``--bundle_root``.
"""

from ..data.datalist import datalist_summary, load_split, resolve_datalist
from .checkpoints import AtomicCheckpointSaver, atomic_torch_save
from .distributed import default_backend, from_rank_zero, is_distributed, is_rank0, quiet_other_ranks
from .evaluation import ChallengeTables, SubjectFolderLayout
from .options import as_bool, parse_overrides
from .params import config_params, config_parser, flatten_params, network_params, package_versions
from .resume import record_launch
from .tracking import MLflowTracker
from .workflow import run_workflow

__all__ = [
    "AtomicCheckpointSaver",
    "ChallengeTables",
    "MLflowTracker",
    "SubjectFolderLayout",
    "as_bool",
    "atomic_torch_save",
    "config_params",
    "config_parser",
    "datalist_summary",
    "default_backend",
    "flatten_params",
    "from_rank_zero",
    "is_distributed",
    "is_rank0",
    "load_split",
    "network_params",
    "package_versions",
    "parse_overrides",
    "quiet_other_ranks",
    "record_launch",
    "resolve_datalist",
    "run_workflow",
]
