"""Datalists for the bundle: where the default one lives, folds, and a fingerprint for tracking.

A datalist is the project's decathlon-style JSON: ``{"name": ..., "training": [{"image",
"label", "subject", "scanner", "fold", ...}], optional "test": [...]}`` with paths relative
to the JSON file's folder.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DATALIST_NAME = "datalist.json"
PATH_KEYS = ("image", "label", "t1", "brain_mask")
"""Item keys holding file paths; only these are resolved against the datalist's folder."""
SPLITS = ("training", "validation", "test", "all")


def resolve_datalist(dataset_dir: str | Path | None = None) -> str:
    """Path of the datalist JSON to train on.

    ``dataset_dir`` may be a datalist JSON file or a folder holding ``datalist.json``.
    Without it, the embedded synthetic phantom set is used, generated on first use by
    ``wmhseg.data.synthetic.default_datalist()``.
    """
    if dataset_dir in (None, ""):
        synthetic = importlib.import_module("wmhseg.data.synthetic")
        return str(Path(synthetic.default_datalist()).resolve())
    path = Path(dataset_dir).expanduser()
    if path.is_dir():
        path = path / DATALIST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"dataset_dir {dataset_dir}: no datalist found at {path}.")
    return str(path.resolve())


def _read(datalist: str | Path) -> dict:
    path = Path(datalist)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"datalist {path} does not exist.") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"datalist {path} is not valid JSON: {err}.") from None
    if not isinstance(content, dict) or not isinstance(content.get("training"), list):
        raise ValueError(f"datalist {path} needs a top-level object with a 'training' list.")
    return content


def load_split(
    datalist: str | Path,
    split: str = "training",
    fold: int = 0,
    keys: Sequence[str] = ("image", "label", "subject", "scanner"),
) -> list[dict[str, Any]]:
    """Items of one split of ``datalist`` with absolute paths, restricted to ``keys``.

    ``split``: ``"training"`` (every ``training`` item whose ``fold`` differs from
    ``fold``), ``"validation"`` (those whose ``fold`` equals it), ``"test"`` (the
    ``test`` list) or ``"all"`` (every ``training`` item).  Raises ``ValueError``
    naming the datalist when a key is missing, a fold is absent or a split is empty,
    and ``FileNotFoundError`` for a missing image or label file.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    path = Path(datalist).resolve()
    content = _read(path)
    items = content.get("test", []) if split == "test" else content["training"]
    if split in ("training", "validation"):
        folds = sorted({item.get("fold") for item in items}, key=str)
        if None in folds:
            raise ValueError(f"datalist {path}: every 'training' item needs a 'fold' to split on.")
        if int(fold) not in folds:
            raise ValueError(f"datalist {path}: fold {fold} not present; folds are {folds}.")
        items = [item for item in items if (item["fold"] == int(fold)) == (split == "validation")]
    if not items:
        raise ValueError(f"datalist {path}: the {split!r} split (fold {fold}) is empty.")
    selected = []
    for index, item in enumerate(items):
        missing = [key for key in keys if key not in item]
        if missing:
            raise ValueError(f"datalist {path}: item {index} of {split!r} lacks {missing}.")
        entry = {key: item[key] for key in keys}
        for key in PATH_KEYS:
            if key in entry:
                entry[key] = str((path.parent / entry[key]).resolve())
                if not Path(entry[key]).is_file():
                    raise FileNotFoundError(f"datalist {path}: {key} of item {index} not found: {entry[key]}.")
        selected.append(entry)
    return selected


def datalist_summary(datalist: str | Path) -> dict[str, Any]:
    """Name, sha256 of the file's bytes, path and sizes of a datalist, for experiment tracking."""
    path = Path(datalist).resolve()
    content = _read(path)
    return {
        "name": content.get("name", path.parent.name),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "path": str(path),
        "n_training": len(content["training"]),
        "n_test": len(content.get("test", [])),
    }
