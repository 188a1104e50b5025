"""Axial 2D slices of a 3D datalist, so that the 2D networks train on volumes (e.g. the phantoms).

:func:`axial_slice_datalist` reads every labelled volume of a datalist in the shared format,
reorients it to RAS, and writes its axial slices (the third RAS axis) as 2D NIfTI files with
a **binary** target (label ``foreground``, WMH by default, is 1; everything else, label 2
"other pathology" included, is 0).  The new datalist keeps each slice's ``subject``,
``scanner`` and ``fold``, so a fold split on it is still a split by patient.  Only slices
that intersect the brain mask are kept when the item has one (``brain_mask``), otherwise
every slice.  Each slice's affine is the volume's, shifted to the slice, so its world
position is kept.

The result is cached: under ``output_dir``, or by default
``<default_root()>/slices/<key>`` (``$WMHSEG_DATA_DIR`` or ``~/.cache/wmhseg/phantoms``),
the key being a hash of the source datalist's path and bytes, the options and this
module's source.  A cached set is reused only when complete; concurrent callers wait on a
lock file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..io import save_nifti
from .datalist import is_cached, read_datalist, write_datalist
from .synthetic.dataset import default_root, folder_lock

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _cache_key(datalist: Path, foreground: int) -> str:
    digest = hashlib.sha256(str(datalist).encode())
    digest.update(datalist.read_bytes())
    digest.update(json.dumps({"foreground": foreground}).encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _load_ras(path: str, base: Path) -> Any:
    """(1, X, Y, Z) MetaTensor of ``path`` (relative to ``base``) reoriented to RAS, in its stored dtype."""
    from monai.transforms import EnsureChannelFirst, LoadImage, Orientation

    file = (base / path).resolve()
    if not file.is_file():
        raise FileNotFoundError(f"{file}: file listed in the datalist does not exist.")
    volume = EnsureChannelFirst()(LoadImage(image_only=True, dtype=None)(str(file)))
    if volume.ndim != 4 or volume.shape[0] != 1:
        raise ValueError(
            f"{file}: expected a single-channel 3D volume, got shape {tuple(volume.shape)} "
            "(2D slice datalists, e.g. LGG, are used as they are: pass them as --datalist)."
        )
    return Orientation(axcodes="RAS", labels=None)(volume)


def _slice_item(item: dict[str, Any], index: int, base: Path, folder: Path, foreground: int) -> list[dict[str, Any]]:
    """Write the axial slices of one datalist item under ``folder``; return their entries."""
    for key in ("image", "label", "subject", "scanner"):
        if key not in item:
            raise ValueError(f"datalist item {index} ({item.get('image', '?')}) lacks {key!r}.")
    image = _load_ras(item["image"], base)
    label = _load_ras(item["label"], base)
    brain = _load_ras(item["brain_mask"], base) if "brain_mask" in item else None
    for name, other in (("label", label), ("brain_mask", brain)):
        if other is not None and tuple(other.shape) != tuple(image.shape):
            raise ValueError(
                f"{base / item[name]}: grid {tuple(other.shape[1:])} differs from the image's "
                f"{tuple(image.shape[1:])} ({base / item['image']})."
            )
    affine = image.affine.numpy()
    pixels = image.array[0]
    target = (np.rint(label.array[0]) == foreground).astype(np.uint8)
    keep = range(pixels.shape[2]) if brain is None else np.flatnonzero(brain.array[0].any(axis=(0, 1)))
    subject_dir = folder / f"{index:04d}_{_UNSAFE.sub('_', str(item['subject']))}"
    entries = []
    for k in keep:
        shift = np.eye(4)
        shift[2, 3] = k
        slice_affine = affine @ shift
        names = {
            "image": subject_dir / f"slice-{k:03d}_image.nii.gz",
            "label": subject_dir / f"slice-{k:03d}_label.nii.gz",
        }
        save_nifti(pixels[:, :, k], slice_affine, names["image"], pixels.dtype)
        save_nifti(target[:, :, k], slice_affine, names["label"], np.uint8)
        entry = {**names, "subject": item["subject"], "scanner": item["scanner"], "slice": int(k)}
        if "fold" in item:
            entry["fold"] = item["fold"]
        entries.append(entry)
    return entries


def axial_slice_datalist(
    datalist: str | os.PathLike, output_dir: str | os.PathLike | None = None, foreground: int = 1
) -> Path:
    """Datalist of the axial 2D slices of ``datalist``'s labelled volumes (cached); returns its path.

    ``training`` and labelled ``test`` items are sliced (unlabelled test items are left out);
    each slice entry carries ``subject``, ``scanner``, ``fold`` (when present) and its RAS
    ``slice`` index.  Raises ``ValueError`` naming the file for an image that is not a
    single-channel 3D volume or a label/brain mask on another grid, and ``FileNotFoundError``
    for a missing file.
    """
    source = Path(datalist).resolve()
    content = read_datalist(source)
    key = _cache_key(source, foreground)
    folder = Path(output_dir) if output_dir is not None else default_root() / "slices" / key
    path = folder / "datalist.json"
    if is_cached(path, key, "slices_of"):
        return path
    with folder_lock(folder):
        if not is_cached(path, key, "slices_of"):
            splits: dict[str, list[dict[str, Any]]] = {"training": [], "test": []}
            for split in splits:
                for index, item in enumerate(content.get(split, [])):
                    if split == "test" and "label" not in item:
                        continue
                    offset = 0 if split == "training" else len(content.get("training", []))
                    splits[split] += _slice_item(item, offset + index, source.parent, folder, foreground)
            if not splits["training"]:
                raise ValueError(f"datalist {source}: no labelled training volume to slice.")
            write_datalist(
                path,
                splits["training"],
                splits["test"] or None,
                name=f"{content.get('name', source.parent.name)}, axial slices",
                labels={"0": "background", "1": f"source label {foreground}"},
                slices_of={"datalist": str(source), "key": key, "foreground": foreground, "axis": "RAS axial (S)"},
            )
    return path
