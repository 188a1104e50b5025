"""Sets of phantoms on disk: NIfTI files plus a datalist JSON, and the cached default set.

``generate_phantoms`` writes any number of phantoms for a seed; ``default_datalist``
returns the embedded default set (16 subjects over the five protocols), generating it on
first use under ``$WMHSEG_DATA_DIR`` or ``~/.cache/wmhseg/phantoms``. The cache is keyed
by the generator's source code, the atlas and the set's parameters, so a change to any of
them regenerates it; concurrent callers wait on a lock file instead of racing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...io import save_nifti
from ..datalist import assign_folds, is_cached, write_datalist
from .acquisition import PROTOCOLS, Protocol
from .atlas import ATLAS_FILE
from .phantom import DEFAULT_LESION_RANGE_ML, ORIENTATIONS, make_phantom

DEFAULT_SET: dict[str, Any] = {
    "n": 16,
    "seed": 2017,
    "protocols": ["utrecht", "singapore", "ge3t", "utrecht", "singapore", "ge3t", "thick6mm", "iso1mm"],
    "lesion_volume_range": [0.5, 80.0],
    "other_pathology_fraction": 0.25,
    "skull_stripped_fraction": 0.3,
    "num_folds": 4,
}


def subject_plan(
    n: int,
    seed: int,
    protocols: Sequence[str | Protocol],
    lesion_volume_range: Sequence[float] = DEFAULT_LESION_RANGE_ML,
    other_pathology_fraction: float = 0.25,
    skull_stripped_fraction: float = 0.3,
    orientations: Sequence[str] = ORIENTATIONS,
) -> list[dict[str, Any]]:
    """Per-subject settings for a set: protocols in turn, lesion loads stratified over the (log) range so
    both ends occur, a fixed share with other pathology and skull-stripped, orientations in turn."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    lo, hi = np.log(lesion_volume_range[0]), np.log(lesion_volume_range[1])
    strata = (rng.permutation(n) + rng.uniform(size=n)) / n
    other = set(rng.permutation(n)[: int(round(other_pathology_fraction * n))].tolist())
    stripped = set(rng.permutation(n)[: int(round(skull_stripped_fraction * n))].tolist())
    orientation_offset = int(rng.integers(len(orientations)))
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n + 1)[1:]]
    return [
        {
            "seed": seeds[i],
            "protocol": protocols[i % len(protocols)],
            "lesion_volume_ml": float(np.exp(lo + (hi - lo) * strata[i])),
            "other_pathology": i in other,
            "skull_stripped": i in stripped,
            "orientation": orientations[(i + orientation_offset) % len(orientations)],
        }
        for i in range(n)
    ]


def generate_phantoms(
    out_dir: str | os.PathLike,
    n: int,
    seed: int = 0,
    protocols: Sequence[str | Protocol] | None = None,
    lesion_volume_range: Sequence[float] = DEFAULT_LESION_RANGE_ML,
    other_pathology_fraction: float = 0.25,
    skull_stripped_fraction: float = 0.3,
    orientations: Sequence[str] = ORIENTATIONS,
    num_folds: int = 5,
    name: str = "wmhseg-phantoms",
    datalist_name: str = "datalist.json",
    extra_metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``n`` phantoms and their datalist into ``out_dir``; returns the datalist path.

    Each subject goes to ``subjects/phantom-NNN/{FLAIR,wmh,brain_mask}.nii.gz`` (FLAIR int16,
    masks uint8, all on the same grid and header). The datalist's ``scanner`` is
    ``phantom-<protocol>`` and folds are balanced across scanners. Output is deterministic
    for the arguments.
    """
    out_dir = Path(out_dir)
    protocols = list(protocols) if protocols is not None else list(PROTOCOLS)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    entries = []
    for index, plan in enumerate(
        subject_plan(
            n, seed, protocols, lesion_volume_range, other_pathology_fraction, skull_stripped_fraction, orientations
        )
    ):
        phantom = make_phantom(
            plan.pop("seed"), plan.pop("protocol"), lesion_volume_range=tuple(lesion_volume_range), **plan
        )
        subject = f"phantom-{index:03d}"
        folder = out_dir / "subjects" / subject
        files = {
            "image": folder / "FLAIR.nii.gz",
            "label": folder / "wmh.nii.gz",
            "brain_mask": folder / "brain_mask.nii.gz",
        }
        save_nifti(phantom.image, phantom.affine, files["image"], np.int16)
        save_nifti(phantom.label, phantom.affine, files["label"], np.uint8)
        save_nifti(phantom.brain_mask, phantom.affine, files["brain_mask"], np.uint8)
        info = phantom.info
        entries.append(
            {
                **files,
                "subject": subject,
                "scanner": f"phantom-{info['protocol']}",
                "lesion_volume_ml": round(info["lesion_volume_ml"], 4),
                "other_volume_ml": round(info["other_volume_ml"], 4),
                "orientation": info["orientation"],
                "skull_stripped": info["skull_stripped"],
                "seed": info["seed"],
            }
        )
    num_folds = max(2, min(num_folds, n))
    entries = assign_folds(entries, num_folds=num_folds, seed=seed)
    return write_datalist(
        out_dir / datalist_name,
        entries,
        name=name,
        fold_scheme="kfold",
        num_folds=num_folds,
        description="synthetic FLAIR phantoms (wmhseg.data.synthetic); anatomy from the MNI "
        "ICBM152 2009a atlas, see wmhseg/data/assets/ICBM152_2009a_LICENSE.txt",
        **(extra_metadata or {}),
    )


def _jsonable(config: dict[str, Any]) -> dict[str, Any]:
    """The set's parameters with any ``Protocol`` written out as a dict."""
    protocols = [dataclasses.asdict(p) if isinstance(p, Protocol) else p for p in config.get("protocols") or []]
    return {**config, **({"protocols": protocols} if "protocols" in config else {})}


def _cache_key(config: dict[str, Any]) -> str:
    """Hash of the set's parameters, the generator's source files and the atlas."""
    digest = hashlib.sha256(json.dumps(_jsonable(config), sort_keys=True).encode())
    for source in sorted(Path(__file__).parent.glob("*.py")) + [
        Path(__file__).parents[2] / "io.py",
        Path(__file__).parents[1] / "datalist.py",
    ]:
        digest.update(source.read_bytes())
    digest.update(ATLAS_FILE.read_bytes())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` (no-op where ``fcntl`` is unavailable)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_phantom_set(folder: str | os.PathLike, config: dict[str, Any]) -> Path:
    """The datalist of the phantom set ``config`` (``generate_phantoms`` arguments) in ``folder``,
    generated only when missing, incomplete or made by different code or parameters."""
    folder = Path(folder)
    datalist = folder / "datalist.json"
    key = _cache_key(config)
    if is_cached(datalist, key, files=("image", "label", "brain_mask")):
        return datalist
    with folder_lock(folder):
        if not is_cached(
            datalist, key, files=("image", "label", "brain_mask")
        ):  # another process may have finished meanwhile
            generate_phantoms(folder, **config, extra_metadata={"generator": {"key": key, "config": _jsonable(config)}})
    return datalist


def default_root() -> Path:
    """``$WMHSEG_DATA_DIR`` if set, else ``~/.cache/wmhseg/phantoms``."""
    env = os.environ.get("WMHSEG_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "wmhseg" / "phantoms"


def default_datalist(root: str | os.PathLike | None = None) -> Path:
    """Datalist JSON of the embedded default phantom set, generated on first use (cached, idempotent).

    The set (``DEFAULT_SET``): 16 subjects over the Utrecht-, Singapore- and GE3T-like grids,
    the thick-slice clinical grid and 1 mm isotropic; WMH loads from 0.5 to 80 ml; 4 with
    other pathology (label 2), 5 skull-stripped, orientations RAS/LPS/LAS; 4 folds balanced
    across scanners. It lives in ``<root>/default`` (``root`` defaults to ``default_root()``).
    """
    return cached_phantom_set((Path(root) if root is not None else default_root()) / "default", DEFAULT_SET)
