"""Importer for a user's own FLAIR volumes: a plain folder, or a BIDS-style tree.

Plain folder: every image file in the folder (NIfTI, MetaImage, NRRD) is a FLAIR, except
files whose name ends with a mask suffix (``_wmh``, ``_mask``, ``_label``, ``_seg``,
``_lesion``, or the ``label_suffix`` given); a FLAIR's mask is ``<stem><suffix><ext>``
beside it, or the file with the same stem in a separate ``labels`` folder.

BIDS: ``sub-*/[ses-*/]anat/*FLAIR.nii[.gz]``; the mask is a file under
``derivatives/**/sub-*/[ses-*/]anat/`` (or under ``labels`` when given) that starts with
the FLAIR's entities and is a ``_mask``, ``_dseg`` or ``_roi`` image (names with ``wmh``
or ``lesion`` preferred). The scanner comes from the FLAIR's JSON sidecar (manufacturer,
model, field strength) when present. Sessions of one participant share a fold.

Volumes with a mask go to ``training`` (with folds balanced across scanners), volumes
without one to ``test``. Unreadable files are skipped with a warning naming the path.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

from ..io import IMAGE_SUFFIXES, grid_mismatch, image_problem, image_suffix
from .datalist import assign_folds, natural_key, write_datalist
from .wmh_challenge import ImportResult

logger = logging.getLogger(__name__)

MASK_SUFFIXES = ("_wmh", "_mask", "_label", "_seg", "_lesion")
BIDS_MASK_KINDS = ("_mask", "_dseg", "_roi")


def split_extension(name: str) -> tuple[str, str] | None:
    """(stem, extension) for an image file name (``wmhseg.io.IMAGE_SUFFIXES``), or None for other files."""
    suffix = image_suffix(name)
    return (name[: -len(suffix)], name[-len(suffix) :]) if suffix else None


def _skip(result: ImportResult, subject: str, path: Path, reason: str) -> None:
    message = f"skipping {subject}: {path}: {reason}"
    warnings.warn(message, stacklevel=3)
    logger.warning(message)
    result.skipped.append({"subject": subject, "path": str(path), "reason": reason})


def _add(result: ImportResult, entry: dict[str, Any], full_read: bool) -> None:
    """Check the entry's files and file it under training (with label) or test (without)."""
    for key in ("image", "label"):
        if key in entry and (problem := image_problem(entry[key], full_read)) is not None:
            _skip(result, entry["subject"], entry[key], problem)
            return
    if "label" in entry:
        mismatch = grid_mismatch(entry["image"], entry["label"])
        if mismatch is not None:
            _skip(result, entry["subject"], entry["label"], mismatch)
            return
        result.training.append(entry)
    else:
        result.test.append(entry)


def _collect_plain(
    root: Path, labels: Path | None, label_suffix: str | None, scanner: str, full_read: bool
) -> ImportResult:
    result = ImportResult()
    suffixes = (label_suffix,) if label_suffix else MASK_SUFFIXES
    files = sorted((p for p in root.iterdir() if p.is_file() and split_extension(p.name)), key=lambda p: p.name)
    for path in files:
        stem, ext = split_extension(path.name)
        if any(stem.endswith(s) for s in suffixes):
            continue  # a mask, not a FLAIR
        entry: dict[str, Any] = {"image": path, "subject": stem, "participant": stem, "scanner": scanner}
        if labels is not None:
            matches = [p for p in labels.iterdir() if (s := split_extension(p.name)) and s[0] == stem]
        else:
            matches = [
                root / f"{stem}{s}{e}" for s in suffixes for e in IMAGE_SUFFIXES if (root / f"{stem}{s}{e}").is_file()
            ]
        if len(matches) > 1:
            _skip(result, stem, path, f"several candidate masks: {', '.join(str(m) for m in matches)}")
            continue
        if matches:
            entry["label"] = matches[0]
        _add(result, entry, full_read)
    return result


def _bids_scanner(flair: Path, default: str) -> str:
    stem, _ = split_extension(flair.name)
    sidecar = flair.with_name(f"{stem}.json")
    if not sidecar.is_file():
        return default
    try:
        meta = json.loads(sidecar.read_text())
    except ValueError:
        warnings.warn(f"{sidecar}: not valid JSON; scanner set to {default!r}", stacklevel=3)
        return default
    parts = [str(meta[k]) for k in ("Manufacturer", "ManufacturersModelName") if meta.get(k)]
    if meta.get("MagneticFieldStrength"):
        parts.append(f"{meta['MagneticFieldStrength']}T")
    return " ".join(parts) or default


def _bids_mask(flair: Path, root: Path, derivatives: Path) -> list[Path]:
    """Candidate masks for a BIDS FLAIR, best first (names with wmh, then lesion)."""
    prefix = split_extension(flair.name)[0].rsplit("_", 1)[0]  # entities before the FLAIR suffix
    relative = flair.parent.relative_to(root)
    candidates = []
    if derivatives.is_dir():
        for folder in [p for p in derivatives.rglob(relative.as_posix()) if p.is_dir()]:
            for path in folder.iterdir():
                parts = split_extension(path.name)
                if parts and path.name.startswith(prefix + "_") and parts[0].endswith(BIDS_MASK_KINDS):
                    candidates.append(path)

    def rank(path: Path) -> tuple[int, str]:
        name = path.name.lower()
        return (0 if "wmh" in name else 1 if "lesion" in name else 2, str(path))

    return sorted(candidates, key=rank)


def _collect_bids(root: Path, labels: Path | None, scanner: str, full_read: bool) -> ImportResult:
    result = ImportResult()
    flairs = sorted(list(root.glob("sub-*/anat/*FLAIR.nii*")) + list(root.glob("sub-*/ses-*/anat/*FLAIR.nii*")))
    derivatives = labels if labels is not None else root / "derivatives"
    for flair in flairs:
        if split_extension(flair.name) is None:
            continue
        entities = split_extension(flair.name)[0].rsplit("_", 1)[0]
        participant = re.match(r"(sub-[^_]+)", entities).group(1)
        entry: dict[str, Any] = {
            "image": flair,
            "subject": entities,
            "participant": participant,
            "scanner": _bids_scanner(flair, scanner),
        }
        masks = _bids_mask(flair, root, derivatives)
        if masks:
            entry["label"] = masks[0]
        _add(result, entry, full_read)
    return result


def is_bids(root: str | os.PathLike) -> bool:
    """True when ``root`` has ``sub-*`` folders (BIDS layout)."""
    return any(p.is_dir() and p.name.startswith("sub-") for p in Path(root).iterdir())


def import_folder(
    root: str | os.PathLike,
    output: str | os.PathLike,
    labels: str | os.PathLike | None = None,
    label_suffix: str | None = None,
    scanner: str = "unknown",
    num_folds: int = 5,
    seed: int = 0,
    full_read: bool = True,
) -> Path:
    """Write a datalist for a folder of FLAIR volumes (plain or BIDS, detected); returns its path.

    Args:
        root: the folder of images, or a BIDS dataset root.
        output: datalist file to write (paths inside are relative to its folder).
        labels: separate folder of masks (plain: same file stem; BIDS: a derivatives root).
        label_suffix: mask file suffix in a plain folder, e.g. ``"_wmh"`` (default: try
            ``MASK_SUFFIXES``).
        scanner: scanner name where no BIDS sidecar says otherwise.
        num_folds, seed: k-fold assignment of the labelled volumes, balanced across scanners.
        full_read: decompress every file to catch truncated archives.

    Raises:
        FileNotFoundError: when the folder holds no usable image.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    labels = Path(labels) if labels is not None else None
    bids = is_bids(root)
    if bids:
        result = _collect_bids(root, labels, scanner, full_read)
    else:
        result = _collect_plain(root, labels, label_suffix, scanner, full_read)
    if not result.training and not result.test:
        detail = f"; {len(result.skipped)} skipped, first: {result.skipped[0]}" if result.skipped else ""
        raise FileNotFoundError(f"no usable FLAIR image under {root}{detail}")
    training = (
        assign_folds(result.training, num_folds=num_folds, seed=seed, group_key="participant")
        if result.training
        else []
    )
    return write_datalist(
        output,
        training,
        test=result.test or None,
        name=root.name,
        description=f"imported from {'a BIDS dataset' if bids else 'a folder'} by wmhseg.data.import_folder",
        fold_scheme="kfold",
        num_folds=num_folds,
        fold_seed=seed,
        scanners=sorted({e["scanner"] for e in result.training + result.test}, key=natural_key),
        skipped=result.skipped,
    )
