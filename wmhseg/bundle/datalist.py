"""Datalists for the bundle: where the default one lives, folds, checks, and a fingerprint for tracking.

A datalist is the project's decathlon-style JSON: ``{"name": ..., "training": [{"image",
"label", "subject", "scanner", "fold", ...}], optional "test": [...]}`` with paths relative
to the JSON file's folder.  :func:`load_split` refuses, before any training starts, a split
that is empty or whose entries have missing files, labels on another grid than their image
or label values outside the task's classes, naming every bad entry.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import ImageFileError, image_suffix, read_native, same_grid

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


def _describe(list_name: str, index: int, item: dict[str, Any]) -> str:
    subject = f" (subject {item['subject']})" if "subject" in item else ""
    return f"{list_name!r} item {index}{subject}"


def _fmt_shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def check_items(
    items: Sequence[dict[str, Any]],
    names: Sequence[str] | None = None,
    num_classes: int | None = 3,
) -> list[str]:
    """Problems of labelled datalist items (absolute paths) that would spoil a training: one line each.

    ``names`` says which entry each item is in the problems (default ``item <i>``).

    For every item whose image and label are image files (``wmhseg.io.IMAGE_SUFFIXES``, 2D
    or 3D; others, e.g. ``.tif`` slices, are left to their readers): the label must lie on the
    image's voxel grid (:func:`wmhseg.io.same_grid`) and, unless ``num_classes`` is None,
    hold only the integer classes ``0 .. num_classes - 1``.  Files whose header cannot be
    read are left to the data loader, which names them.
    """
    problems = []
    for index, item in enumerate(items):
        if "label" not in item or not (image_suffix(item["image"]) and image_suffix(item["label"])):
            continue
        try:
            image, label = (read_native(item[key], load_data=False, ndim=None) for key in ("image", "label"))
        except ImageFileError:  # unreadable files fail in the loader with their own message
            continue
        what = names[index] if names is not None else f"item {index}"
        if not same_grid(image.shape, image.affine, label.shape, label.affine):
            if image.shape == label.shape:
                difference = f"affines differ by up to {float(np.abs(image.affine - label.affine).max()):.3g} mm"
            else:
                difference = f"label shape {_fmt_shape(label.shape)}, image shape {_fmt_shape(image.shape)}"
            problems.append(f"{what}: label {label.path} is not on the voxel grid of its image {image.path} ({difference}); "
                            "resample the label onto the image (nearest neighbour) or fix the pairing")
            continue
        if num_classes is None:
            continue
        try:
            values = np.unique(read_native(label.path, ndim=None).data)
        except ImageFileError:
            continue
        bad = values[(values < 0) | (values > num_classes - 1) | (np.abs(values - np.round(values)) > 1e-3)]
        if bad.size:
            shown = ", ".join(f"{v:g}" for v in bad[:6]) + (", ..." if bad.size > 6 else "")
            classes = "0 background, 1 WMH, 2 other pathology"
            classes += f", up to {num_classes - 1}" if num_classes > 3 else ""
            problems.append(f"{what}: label {label.path} holds values outside the classes 0..{num_classes - 1} ({shown}); "
                            f"a label map holds the classes {classes}")
    return problems


def load_split(
    datalist: str | Path,
    split: str = "training",
    fold: int = 0,
    keys: Sequence[str] = ("image", "label", "subject", "scanner"),
    num_classes: int | None = 3,
) -> list[dict[str, Any]]:
    """Items of one split of ``datalist`` with absolute paths, restricted to ``keys``, checked.

    ``split``: ``"training"`` (every ``training`` item whose ``fold`` differs from
    ``fold``), ``"validation"`` (those whose ``fold`` equals it), ``"test"`` (the
    ``test`` list) or ``"all"`` (every ``training`` item).  Raises ``ValueError``
    naming the datalist when a key is missing, a fold is absent, a split is empty or an
    item fails :func:`check_items` (label on another grid, label values outside
    ``0 .. num_classes - 1``; every such item is listed), and ``FileNotFoundError`` for
    missing image or label files (all listed), so that a training fails before its first
    iteration with each bad entry named.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    path = Path(datalist).resolve()
    content = _read(path)
    list_name = "test" if split == "test" else "training"
    items = list(enumerate(content.get(list_name, [])))
    if split in ("training", "validation"):
        if not items:
            raise ValueError(f"datalist {path}: its 'training' list is empty.")
        folds = sorted({item.get("fold") for _, item in items}, key=str)
        if None in folds:
            raise ValueError(f"datalist {path}: every 'training' item needs a 'fold' to split on.")
        if int(fold) not in folds:
            raise ValueError(f"datalist {path}: fold {fold} not present; folds are {folds}.")
        items = [(i, item) for i, item in items if (item["fold"] == int(fold)) == (split == "validation")]
    if not items:
        raise ValueError(f"datalist {path}: the {split!r} split (fold {fold}) is empty.")
    selected, names, absent = [], [], []
    for index, item in items:
        name = _describe(list_name, index, item)
        missing = [key for key in keys if key not in item]
        if missing:
            raise ValueError(f"datalist {path}: {name} lacks {missing}.")
        entry = {key: item[key] for key in keys}
        for key in PATH_KEYS:
            if key in entry:
                entry[key] = str((path.parent / entry[key]).resolve())
                if not Path(entry[key]).is_file():
                    absent.append(f"{name}: {key} not found: {entry[key]}")
        selected.append(entry)
        names.append(name)
    if absent:
        raise FileNotFoundError(f"datalist {path}: {len(absent)} file(s) not found:\n  " + "\n  ".join(absent))
    problems = check_items(selected, names, num_classes)
    if problems:
        raise ValueError(f"datalist {path}: {len(problems)} bad item(s):\n  " + "\n  ".join(problems))
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
