"""MONAI datalist JSON: fold assignment balanced across scanners, writing and splitting.

Format (MONAI decathlon style, shared by every importer and the phantom generator)::

    {"name": ..., "labels": {"0": "background", "1": "WMH", "2": "other pathology"},
     "fold_scheme": "kfold" | "leave-one-scanner-out", "num_folds": k,
     "training": [{"image": ..., "label": ..., "subject": ..., "scanner": ..., "fold": ...,
                   optional "t1", "brain_mask", ...}, ...],
     optional "test": [...]}

Paths are relative to the datalist's folder, so
``monai.data.load_decathlon_datalist(path, data_list_key="training", base_dir=folder)``
resolves them.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import write_text_atomic

PATH_KEYS = ("image", "label", "t1", "brain_mask")
LABELS = {"0": "background", "1": "WMH", "2": "other pathology"}
FOLD_SCHEMES = ("kfold", "leave-one-scanner-out")


def natural_key(value: str) -> tuple[int, int | str]:
    """Sort key putting integer IDs in numeric order (2 before 10) and other strings after them."""
    return (0, int(value)) if str(value).isdigit() else (1, str(value))


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
    ``leave-one-scanner-out``: the fold is the scanner's index in sorted order.
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


def _relative(value: Any, folder: Path) -> Any:
    return Path(os.path.relpath(Path(value).absolute(), folder.absolute())).as_posix()


def write_datalist(
    path: str | os.PathLike,
    training: Iterable[dict[str, Any]],
    test: Iterable[dict[str, Any]] | None = None,
    name: str = "wmhseg",
    **metadata: Any,
) -> Path:
    """Write the datalist JSON atomically; file entries (``PATH_KEYS``) become relative to its folder."""
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)

    def convert(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: _relative(v, folder) if k in PATH_KEYS else v for k, v in item.items()} for item in items]

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
