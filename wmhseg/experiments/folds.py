"""Folds and evaluation sets of a datalist, for cross-validation and for the paper's tables.

The datalist's ``fold`` entries decide the splits (``wmhseg prepare`` writes them, k-fold
balanced across scanners or leave-one-scanner-out).  :func:`leave_one_scanner_out`
rewrites a copy whose folds are the scanners, so that any datalist can be cross-validated
across scanners without re-importing the data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..data.datalist import PATH_KEYS, assign_folds, write_datalist

__all__ = ["EVAL_SPLITS", "datalist_folds", "datalist_name", "default_eval_split", "leave_one_scanner_out",
           "read_datalist", "scanner_folds"]

EVAL_SPLITS = ("auto", "validation", "test", "all")
"""``auto``: the labelled ``test`` list when the datalist has one, else the held-out fold."""


def read_datalist(path: str | Path) -> dict[str, Any]:
    """The datalist JSON at ``path``, with a clear error naming the file when it is unusable."""
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"datalist {path} does not exist") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"datalist {path} is not valid JSON: {err}") from None
    if not isinstance(content, dict) or not isinstance(content.get("training"), list) or not content["training"]:
        raise ValueError(f"datalist {path} needs a non-empty 'training' list")
    return content


def datalist_name(path: str | Path) -> str:
    """The datalist's ``name`` (its folder's name when it has none)."""
    return str(read_datalist(path).get("name") or Path(path).resolve().parent.name)


def datalist_folds(path: str | Path) -> list[int]:
    """The folds of the ``training`` items, sorted; ``ValueError`` if an item has none or only one fold exists."""
    items = read_datalist(path)["training"]
    missing = [index for index, item in enumerate(items) if "fold" not in item]
    if missing:
        raise ValueError(f"datalist {path}: training items {missing[:5]} have no 'fold'; write one with wmhseg prepare")
    folds = sorted({int(item["fold"]) for item in items})
    if len(folds) < 2:
        raise ValueError(f"datalist {path}: only fold {folds} present; cross-validation needs at least two")
    return folds


def scanner_folds(path: str | Path) -> dict[int, str]:
    """Fold -> scanner of a leave-one-scanner-out datalist (one scanner per fold)."""
    folds: dict[int, set[str]] = {}
    for item in read_datalist(path)["training"]:
        folds.setdefault(int(item["fold"]), set()).add(str(item.get("scanner", "unknown")))
    return {fold: "+".join(sorted(scanners)) for fold, scanners in sorted(folds.items())}


def default_eval_split(path: str | Path) -> str:
    """``test`` when the datalist has a non-empty ``test`` list whose items all have labels, else ``validation``."""
    test = read_datalist(path).get("test") or []
    return "test" if test and all("label" in item for item in test) else "validation"


def leave_one_scanner_out(path: str | Path, output: str | Path) -> Path:
    """Write to ``output`` a copy of datalist ``path`` whose folds are its scanners (sorted names); return it."""
    path, output = Path(path).resolve(), Path(output)
    content = read_datalist(path)
    scanners = {str(item.get("scanner", "unknown")) for item in content["training"]}
    if len(scanners) < 2:
        raise ValueError(f"datalist {path}: leave-one-scanner-out needs two scanners or more, found {sorted(scanners)}")

    def absolute(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: str(path.parent / v) if k in PATH_KEYS else v for k, v in item.items()} for item in items]

    training = assign_folds(absolute(content["training"]), scheme="leave-one-scanner-out")
    metadata = {k: v for k, v in content.items() if k not in ("name", "training", "test", "fold_scheme", "num_folds")}
    metadata.update(fold_scheme="leave-one-scanner-out", num_folds=len(scanners), derived_from=str(path))
    test = absolute(content["test"]) if "test" in content else None
    return write_datalist(output, training, test, name=str(content.get("name") or path.parent.name), **metadata)
