"""Tiny NIfTI phantom sets and overrides for the bundle tests (real files, real MONAI workflows)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "bundle" / "configs"
TRAIN = str(CONFIGS / "train.json")
EVALUATE = str(CONFIGS / "evaluate.json")
INFERENCE = str(CONFIGS / "inference.json")
MULTI_GPU = str(CONFIGS / "multi_gpu_train.json")
QUICK = str(CONFIGS / "quick.json")
META = str(CONFIGS / "metadata.json")
LOGGING = str(CONFIGS / "logging.conf")

# voxel sizes and axis flips of the cases: anisotropic, differently oriented grids
_GRIDS = [((1.0, 1.0, 3.0), (1, 1, 1)), ((1.1, 0.9, 3.0), (-1, -1, 1)), ((0.9, 1.0, 2.5), (1, -1, 1))]


def _phantom(rng: np.random.Generator, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A FLAIR-like volume: noisy ellipsoid 'brain', bright blobs labelled 1, one dim blob labelled 2."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    brain = (grid[0] ** 2 + grid[1] ** 2 + (grid[2] * 0.8) ** 2) < 0.8
    image = np.where(brain, 100.0, 0.0) + rng.normal(0, 8, shape) * brain
    label = np.zeros(shape, np.uint8)
    for index in range(int(rng.integers(3, 6))):
        centre = rng.uniform(-0.45, 0.45, 3)
        radius = rng.uniform(0.12, 0.22)
        blob = ((grid - centre[:, None, None, None]) ** 2).sum(0) < radius**2
        blob &= brain
        label[blob] = 2 if index == 0 else 1
        image[blob] += 40.0 if index == 0 else 120.0
    return image.astype(np.float32), label


def write_phantom_set(
    folder: Path, n_cases: int = 6, shape: tuple[int, int, int] = (48, 48, 12), n_folds: int = 3, seed: int = 0
) -> Path:
    """Write ``n_cases`` phantom cases and their datalist (folds round-robin); return the datalist path."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for case in range(n_cases):
        spacing, flips = _GRIDS[case % len(_GRIDS)]
        affine = np.diag([f * s for f, s in zip(flips, spacing)] + [1.0])
        affine[:3, 3] = rng.uniform(-20, 20, 3)
        image, label = _phantom(rng, shape)
        subject = f"case{case:02d}"
        (folder / subject).mkdir(exist_ok=True)
        nib.save(nib.Nifti1Image(image, affine), folder / subject / "FLAIR.nii.gz")
        nib.save(nib.Nifti1Image(label.astype(np.float32), affine), folder / subject / "wmh.nii.gz")
        items.append(
            {
                "image": f"{subject}/FLAIR.nii.gz",
                "label": f"{subject}/wmh.nii.gz",
                "subject": subject,
                "scanner": f"scanner{case % 2}",
                "fold": case % n_folds,
            }
        )
    datalist = folder / "datalist.json"
    datalist.write_text(json.dumps({"name": "test_phantoms", "training": items}, indent=2))
    return datalist


def tiny_overrides(root: Path, datalist: Path, **extra: Any) -> dict[str, Any]:
    """Overrides that make the bundle train a tiny network on tiny patches, outputs under ``root``."""
    overrides = {
        "bundle_root": str(root),
        "datalist": str(datalist),
        "network_options": {"channels": [8, 8, 16, 16]},
        "patch_size": [32, 32, 8],
        "batch_size": 2,
        "epochs": 2,
        "num_workers": 0,
        "sw_batch_size": 4,
        "experiment_name": "test",
    }
    overrides.update(extra)
    return overrides


def cli_args(overrides: dict[str, Any]) -> list[str]:
    """``--key value`` pairs for ``python -m monai.bundle run`` (values as Python literals / plain strings)."""
    args: list[str] = []
    for key, value in overrides.items():
        args += [f"--{key}", value if isinstance(value, str) else repr(value)]
    return args


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: the checkout on PYTHONPATH, one thread each."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(extra)
    return env


PYTHON = sys.executable


def error_chain(error: BaseException | None) -> list[str]:
    """Messages of an exception and of every exception it was raised from (configs wrap errors)."""
    messages = []
    while error is not None:
        messages.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return messages


def mlflow_runs(tracking_uri: str, experiment: str) -> list:
    """All runs of ``experiment`` in the store at ``tracking_uri``, oldest first."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return sorted(client.search_runs([found.experiment_id]), key=lambda run: run.info.start_time)


def sqlite_uri(root: Path) -> str:
    """The bundle's default tracking URI for outputs under ``root``."""
    return f"sqlite:///{(root / 'eval' / 'mlruns.db').resolve()}"
