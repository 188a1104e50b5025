"""Importer for the WMH Segmentation Challenge release (Kuijf et al., IEEE TMI 2019).

Point it at the release folder (``training/`` and/or ``test/``, or one of them, or a
single site folder) and it writes a MONAI datalist: one entry per subject with ``image``
(``pre/FLAIR.nii.gz``), ``label`` (``wmh.nii.gz``), ``t1`` (``pre/T1.nii.gz``) when
present, ``scanner``, ``subject`` and, for training subjects, a ``fold``.

Folders are discovered by listing, never by hard-coded names: the PETMR test folder is
``Philips_VU .PETMR_01.`` (a space, and a trailing dot that some tools strip). A subject
folder is any folder with an integer name; its scanner comes from the site folders
above it. Subjects with a missing or unreadable FLAIR or reference, or a reference on a
different voxel grid (shape or header), are skipped with a warning that names the file; the skipped list is also
stored in the datalist (``"skipped"``).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import grid_mismatch, image_problem
from .datalist import assign_folds, natural_key, write_datalist

logger = logging.getLogger(__name__)

# innermost site folder (lower case) -> scanner name, as the challenge names them (Kuijf et al., IEEE TMI 2019)
SITE_SCANNERS = {"utrecht": "Utrecht", "singapore": "Singapore", "ge3t": "GE3T", "ge1t5": "GE1T5"}
SPLITS = ("training", "test")
IGNORED_FOLDERS = ("additional_annotations",)


def scanner_name(site: tuple[str, ...]) -> str:
    """Scanner name for the site folders ``site`` (e.g. ``("Amsterdam", "GE3T")`` -> ``"GE3T"``)."""
    if not site:
        return "unknown"
    if site[-1].lower() in SITE_SCANNERS:
        return SITE_SCANNERS[site[-1].lower()]
    if "petmr" in site[-1].lower():
        return "PETMR"
    return "/".join(site)


@dataclass
class ChallengeSubject:
    split: str
    scanner: str
    subject: str
    folder: Path


@dataclass
class ImportResult:
    """What an importer found: entries per split, and (path, reason) for every skipped subject."""

    training: list[dict[str, Any]] = field(default_factory=list)
    test: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def _split_folders(root: Path) -> list[tuple[str, Path]]:
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    found = [(split, children[split]) for split in SPLITS if split in children]
    if found:
        return found
    return [("test" if root.name.lower() == "test" else "training", root)]


def find_subjects(root: str | os.PathLike) -> list[ChallengeSubject]:
    """Every subject folder under ``root``, sorted by split and integer ID."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"WMH challenge folder not found: {root}")
    subjects = []
    for split, split_dir in _split_folders(root):
        for current, dirs, _ in os.walk(split_dir, followlinks=True):
            here = Path(current)
            dirs[:] = sorted(d for d in dirs if d.lower() not in IGNORED_FOLDERS)
            if here != split_dir and here.name.isdigit():
                dirs[:] = []  # subject folders hold pre/ and orig/, never other subjects
                site = here.parent.relative_to(split_dir).parts
                if root == split_dir and not site and root.name not in SPLITS:
                    site = (root.name,)  # pointed at a single site folder
                subjects.append(ChallengeSubject(split, scanner_name(site), here.name, here))
    return sorted(subjects, key=lambda s: (SPLITS.index(s.split), natural_key(s.subject)))


def _skip(result: ImportResult, subject: ChallengeSubject, path: Path, reason: str) -> None:
    message = f"skipping {subject.split} subject {subject.subject} ({subject.scanner}): {path}: {reason}"
    warnings.warn(message, stacklevel=3)
    logger.warning(message)
    result.skipped.append({"subject": subject.subject, "scanner": subject.scanner, "path": str(path), "reason": reason})


def collect(root: str | os.PathLike, include_t1: bool = True, full_read: bool = True) -> ImportResult:
    """Check every subject's files and build the datalist entries (absolute paths, no folds yet)."""
    result = ImportResult()
    for subject in find_subjects(root):
        image, label, t1 = (
            subject.folder / "pre" / "FLAIR.nii.gz",
            subject.folder / "wmh.nii.gz",
            subject.folder / "pre" / "T1.nii.gz",
        )
        problem = next(((p, r) for p in (image, label) if (r := image_problem(p, full_read)) is not None), None)
        if problem is not None:
            _skip(result, subject, *problem)
            continue
        mismatch = grid_mismatch(image, label)
        if mismatch is not None:
            _skip(result, subject, label, mismatch.replace("the image's", "the FLAIR's"))
            continue
        entry: dict[str, Any] = {"image": image, "label": label}
        if include_t1:
            t1_problem = image_problem(t1, full_read)
            if t1_problem is None:
                entry["t1"] = t1
            elif t1.exists():  # a T1 that is there but broken is worth a warning; an absent one is not
                warnings.warn(f"subject {subject.subject}: {t1}: {t1_problem}; T1 left out", stacklevel=2)
        entry.update({"subject": subject.subject, "scanner": subject.scanner})
        (result.training if subject.split == "training" else result.test).append(entry)
    return result


def import_wmh_challenge(
    root: str | os.PathLike,
    output: str | os.PathLike,
    num_folds: int = 5,
    scheme: str = "kfold",
    seed: int = 0,
    include_t1: bool = True,
    full_read: bool = True,
) -> Path:
    """Write the datalist JSON of the challenge release under ``root`` to ``output``; returns its path.

    Args:
        root: the release folder, a split folder (``training``/``test``) or a site folder.
        output: datalist file to write (paths inside are relative to its folder).
        num_folds: folds for ``scheme="kfold"``, balanced across scanners.
        scheme: ``"kfold"`` or ``"leave-one-scanner-out"`` (fold = scanner index, sorted by name).
        seed: shuffles subjects within each scanner before dealing folds.
        include_t1: add ``pre/T1.nii.gz`` as ``t1`` where it is present and readable.
        full_read: decompress every file to catch truncated archives (slower than a header check).

    Raises:
        FileNotFoundError: when ``root`` holds no usable subject.
    """
    result = collect(root, include_t1=include_t1, full_read=full_read)
    if not result.training and not result.test:
        detail = f"; {len(result.skipped)} skipped, first: {result.skipped[0]}" if result.skipped else ""
        raise FileNotFoundError(f"no usable WMH challenge subject under {root}{detail}")
    training = assign_folds(result.training, num_folds=num_folds, scheme=scheme, seed=seed) if result.training else []
    folds = len({e["scanner"] for e in training}) if scheme == "leave-one-scanner-out" else num_folds
    return write_datalist(
        output,
        training,
        test=result.test or None,
        name="wmh-challenge",
        description="WMH Segmentation Challenge (doi:10.34894/AECRSD, CC-BY-NC-4.0); FLAIR from pre/",
        fold_scheme=scheme,
        num_folds=folds,
        fold_seed=seed,
        scanners=sorted({e["scanner"] for e in result.training + result.test}, key=natural_key),
        skipped=result.skipped,
    )
