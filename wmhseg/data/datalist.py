"""MONAI datalist JSON, the package's one datalist module: reading, checking, splitting, folds and writing.

Format (MONAI decathlon style, shared by every importer, the phantom generator, the bundle and inference)::

    {"name": ..., "labels": {"0": "background", "1": "WMH", "2": "other pathology"},
     "fold_scheme": "kfold" | "leave-one-scanner-out", "num_folds": k,
     "training": [{"image": ..., "label": ..., "subject": ..., "scanner": ..., "fold": ...,
                   optional "t1", "brain_mask", ...}, ...],
     optional "test": [...]}

The file entries (``PATH_KEYS``) are relative to the datalist's folder (:func:`resolve_paths`),
as ``monai.data.load_decathlon_datalist(path, data_list_key="training", base_dir=folder)`` reads
them; other values, a ``subject`` named like a folder for one, stay as they are.
:func:`load_split` refuses, before any training starts, a split that is empty or whose entries
have missing files, labels on another grid than their image or label values outside the task's
classes, naming every bad entry.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import ImageFileError, image_suffix, read_native, same_grid, write_text_atomic

DATALIST_NAME = "datalist.json"
PATH_KEYS = ("image", "label", "t1", "brain_mask")
"""Item keys holding file paths; only these are resolved against the datalist's folder."""
LABELS = {"0": "background", "1": "WMH", "2": "other pathology"}
FOLD_SCHEMES = ("kfold", "leave-one-scanner-out")
SPLITS = ("training", "validation", "test", "all")
"""What :func:`load_split` selects: a fold's training or validation items, the ``test`` list, every training item."""
EVAL_SPLITS = ("auto", "validation", "test", "all")
"""Evaluation sets of an experiment; ``auto`` (:func:`default_eval_split`): the labelled ``test`` list when the
datalist has one, else the held-out fold."""


def natural_key(value: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key that orders digit runs numerically (``sub2`` before ``sub10``, ``2`` before ``10``), case-blind."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", str(value)) if t)


def read_datalist(path: str | os.PathLike, key: str | None = "training") -> dict[str, Any]:
    """The datalist JSON at ``path``; with ``key``, it must hold a list under that key.

    Raises ``FileNotFoundError`` or ``ValueError`` naming the file when it is missing, not a JSON
    object or lacks the list.
    """
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"datalist {path} does not exist.") from None
    except OSError as err:
        raise ValueError(f"datalist {path} cannot be read: {err}.") from None
    except ValueError as err:
        raise ValueError(f"datalist {path} is not valid JSON: {err}.") from None
    if not isinstance(content, dict):
        raise ValueError(f"datalist {path} needs a top-level JSON object.")
    if key is not None and not isinstance(content.get(key), list):
        raise ValueError(f"datalist {path} has no {key!r} list (it has {', '.join(map(str, content))}).")
    return content


def resolve_paths(items: Iterable[dict[str, Any]], folder: str | os.PathLike) -> list[dict[str, Any]]:
    """Copies of datalist ``items`` whose file entries (``PATH_KEYS``) are joined to ``folder`` (absolute ones kept)."""
    return [
        {k: os.path.normpath(os.path.join(folder, v)) if k in PATH_KEYS else v for k, v in item.items()}
        for item in items
    ]


def is_cached(
    path: str | os.PathLike, key: str, marker: str = "generator", files: Sequence[str] = ("image", "label")
) -> bool:
    """Whether the datalist at ``path`` is a complete cache entry: written for ``key`` (its ``marker`` entry's
    ``key``), with the ``files`` of every item present (a missing, partial or stale one is not)."""
    try:
        content = read_datalist(path)
    except (OSError, ValueError):
        return False
    items = content["training"] + content.get("test", [])
    marked = content.get(marker)
    return (
        isinstance(marked, dict)
        and marked.get("key") == key
        and all((Path(path).parent / item[k]).is_file() for item in items for k in files)
    )


def resolve_datalist(dataset_dir: str | os.PathLike | None = None) -> str:
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


def assign_folds(
    items: Sequence[dict[str, Any]],
    num_folds: int = 5,
    scheme: str = "kfold",
    seed: int = 0,
    group_key: str = "subject",
) -> list[dict[str, Any]]:
    """Copies of ``items`` with a ``fold`` entry.

    ``kfold``: within each scanner the groups (``group_key``: sessions of one subject stay
    together) are shuffled with ``seed`` and dealt round-robin, continuing the count across
    scanners, so each fold gets the same number of each scanner's groups (within one) and the
    fold sizes differ by at most one group.
    ``leave-one-scanner-out``: the fold is the scanner's index in :func:`natural_key` order.
    """
    if scheme not in FOLD_SCHEMES:
        raise ValueError(f"unknown fold scheme {scheme!r}; use one of {FOLD_SCHEMES}")
    by_scanner: dict[str, list[str]] = defaultdict(list)
    for item in items:
        groups = by_scanner[str(item["scanner"])]
        if str(item[group_key]) not in groups:
            groups.append(str(item[group_key]))
    scanners = sorted(by_scanner, key=natural_key)
    fold_of: dict[tuple[str, str], int] = {}
    if scheme == "leave-one-scanner-out":
        for index, scanner in enumerate(scanners):
            fold_of.update({(scanner, g): index for g in by_scanner[scanner]})
    else:
        if num_folds < 2:
            raise ValueError(f"k-fold needs at least 2 folds, got {num_folds}")
        rng = np.random.default_rng(seed)
        offset = 0
        for scanner in scanners:
            groups = sorted(by_scanner[scanner], key=natural_key)
            order = rng.permutation(len(groups))
            for rank, index in enumerate(order):
                fold_of[(scanner, groups[index])] = (offset + rank) % num_folds
            offset += len(groups)
    return [{**item, "fold": fold_of[(str(item["scanner"]), str(item[group_key]))]} for item in items]


def write_datalist(
    path: str | os.PathLike,
    training: Iterable[dict[str, Any]],
    test: Iterable[dict[str, Any]] | None = None,
    name: str = "wmhseg",
    **metadata: Any,
) -> Path:
    """Write the datalist JSON atomically; file entries (``PATH_KEYS``) become relative to its folder."""
    path = Path(path)
    folder = path.parent.absolute()
    folder.mkdir(parents=True, exist_ok=True)

    def convert(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                k: Path(os.path.relpath(Path(v).absolute(), folder)).as_posix() if k in PATH_KEYS else v
                for k, v in i.items()
            }
            for i in items
        ]

    content: dict[str, Any] = {"name": name, "labels": LABELS, **metadata, "training": convert(training)}
    if test is not None:
        content["test"] = convert(test)
    write_text_atomic(path, json.dumps(content, indent=2) + "\n")
    return path


def split_fold(items: Sequence[dict[str, Any]], fold: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training, validation): the items whose ``fold`` differs from ``fold``, and those equal to it."""
    validation = [item for item in items if item.get("fold") == fold]
    if not validation:
        raise ValueError(f"no item has fold {fold}; folds present: {sorted({i.get('fold') for i in items})}")
    return [item for item in items if item.get("fold") != fold], validation


def datalist_name(path: str | os.PathLike) -> str:
    """The datalist's ``name`` (its folder's name when it has none)."""
    return str(read_datalist(path).get("name") or Path(path).resolve().parent.name)


def datalist_folds(path: str | os.PathLike) -> list[int]:
    """The folds of the ``training`` items, sorted; ``ValueError`` if an item has none or only one fold exists."""
    items = read_datalist(path)["training"]
    missing = [index for index, item in enumerate(items) if "fold" not in item]
    if missing:
        raise ValueError(f"datalist {path}: training items {missing[:5]} have no 'fold'; write one with wmhseg prepare")
    folds = sorted({int(item["fold"]) for item in items})
    if len(folds) < 2:
        raise ValueError(f"datalist {path}: only fold {folds} present; cross-validation needs at least two")
    return folds


def choose_folds(
    path: str | os.PathLike, folds: Sequence[int] | None = None, available: Sequence[int] | None = None
) -> list[int]:
    """``folds`` (None: all), each one of ``available`` (default: :func:`datalist_folds`), else ``ValueError``."""
    available = list(datalist_folds(path) if available is None else available)
    chosen = available if folds is None else [int(f) for f in folds]
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise ValueError(f"folds {unknown} are not in {path}; its folds are {available}")
    return chosen


def scanners(path: str | os.PathLike) -> list[str]:
    """The scanners of the ``training`` items, in :func:`natural_key` order (a missing one is ``unknown``)."""
    return sorted({str(item.get("scanner", "unknown")) for item in read_datalist(path)["training"]}, key=natural_key)


def scanner_folds(path: str | os.PathLike) -> dict[int, str]:
    """Fold -> scanner of a leave-one-scanner-out datalist (one scanner per fold)."""
    folds: dict[int, set[str]] = {}
    for item in read_datalist(path)["training"]:
        folds.setdefault(int(item["fold"]), set()).add(str(item.get("scanner", "unknown")))
    return {fold: "+".join(sorted(names)) for fold, names in sorted(folds.items())}


def default_eval_split(path: str | os.PathLike) -> str:
    """``test`` when the datalist has a non-empty ``test`` list whose items all have labels, else ``validation``."""
    test = read_datalist(path).get("test") or []
    return "test" if test and all("label" in item for item in test) else "validation"


def leave_one_scanner_out(path: str | os.PathLike, output: str | os.PathLike) -> Path:
    """Write to ``output`` a copy of datalist ``path`` whose folds are its scanners; return it."""
    path = Path(path).resolve()
    content = read_datalist(path)
    if len(scanners(path)) < 2:
        raise ValueError(f"datalist {path}: leave-one-scanner-out needs two scanners or more, found {scanners(path)}")
    training = assign_folds(resolve_paths(content["training"], path.parent), scheme="leave-one-scanner-out")
    metadata = {k: v for k, v in content.items() if k not in ("name", "training", "test", "fold_scheme", "num_folds")}
    metadata.update(fold_scheme="leave-one-scanner-out", num_folds=len(scanners(path)), derived_from=str(path))
    test = resolve_paths(content["test"], path.parent) if "test" in content else None
    return write_datalist(output, training, test, name=str(content.get("name") or path.parent.name), **metadata)


def _fmt_shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def check_items(
    items: Sequence[dict[str, Any]], names: Sequence[str] | None = None, num_classes: int | None = 3
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
            problems.append(
                f"{what}: label {label.path} is not on the voxel grid of its image {image.path} ({difference}); "
                "resample the label onto the image (nearest neighbour) or fix the pairing"
            )
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
            classes = "0 background, 1 WMH, 2 other pathology" + (
                f", up to {num_classes - 1}" if num_classes > 3 else ""
            )
            problems.append(
                f"{what}: label {label.path} holds values outside the classes 0..{num_classes - 1} ({shown}); "
                f"a label map holds the classes {classes}"
            )
    return problems


def load_split(
    datalist: str | os.PathLike,
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
    content = read_datalist(path)
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
        subject = f" (subject {item['subject']})" if "subject" in item else ""
        name = f"{list_name!r} item {index}{subject}"
        missing = [key for key in keys if key not in item]
        if missing:
            raise ValueError(f"datalist {path}: {name} lacks {missing}.")
        (entry,) = resolve_paths([{key: item[key] for key in keys}], path.parent)
        absent += [
            f"{name}: {k} not found: {entry[k]}" for k in PATH_KEYS if k in entry and not Path(entry[k]).is_file()
        ]
        selected.append(entry)
        names.append(name)
    if absent:
        raise FileNotFoundError(f"datalist {path}: {len(absent)} file(s) not found:\n  " + "\n  ".join(absent))
    problems = check_items(selected, names, num_classes)
    if problems:
        raise ValueError(f"datalist {path}: {len(problems)} bad item(s):\n  " + "\n  ".join(problems))
    return selected


def datalist_summary(datalist: str | os.PathLike) -> dict[str, Any]:
    """Name, sha256 of the file's bytes, path and sizes of a datalist, for experiment tracking."""
    path = Path(datalist).resolve()
    content = read_datalist(path)
    return {
        "name": content.get("name", path.parent.name),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "path": str(path),
        "n_training": len(content["training"]),
        "n_test": len(content.get("test", [])),
    }
