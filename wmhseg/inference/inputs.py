"""Which images to segment, and whether each one can be segmented.

:func:`discover_inputs` turns what a user gives (one file, several files, a folder, a
glob pattern or a datalist JSON) into subject entries ``{"image", "subject"[,
"brain_mask"]}``.  :func:`check_subject` reads a subject's image and refuses it, with a
one-line reason naming the file, when it cannot be read, is not a single 3D volume,
holds non-finite values or no signal, or is too small for the network.
"""

from __future__ import annotations

import glob
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from ..data.datalist import read_datalist, resolve_paths
from ..io import (
    IMAGE_SUFFIXES,
    ImageFileError,
    NativeImage,
    image_suffix,
    read_native,
    same_grid,
    strip_image_suffix,
)

PathLike = str | os.PathLike
_GLOB_CHARS = re.compile(r"[*?\[]")


def _subject_ids(paths: Sequence[Path]) -> list[str]:
    """File names without image endings, made unique with the parent folder name and then a counter."""
    ids = [strip_image_suffix(p) for p in paths]
    counts = Counter(ids)
    ids = [f"{p.parent.name}_{i}" if counts[i] > 1 and p.parent.name else i for p, i in zip(paths, ids)]
    seen: Counter[str] = Counter()
    unique = []
    for i in ids:
        seen[i] += 1
        unique.append(i if seen[i] == 1 else f"{i}_{seen[i]}")
    return [safe_subject_id(i) for i in unique]


def safe_subject_id(subject: str) -> str:
    """``subject`` usable as one folder name: path separators and unusual characters become ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]", "_", str(subject)).strip(".")
    if not cleaned:
        raise ValueError(f"subject id {subject!r} has no usable characters")
    return cleaned


def _read_datalist(path: Path, datalist_key: str | None) -> list[dict]:
    content = read_datalist(path, key=None)
    datalist_key = datalist_key or ("test" if "test" in content else "training")
    items = resolve_paths(read_datalist(path, datalist_key)[datalist_key], path.parent)
    if any("image" not in item for item in items):
        raise ValueError(f"{path}: every {datalist_key!r} entry needs an 'image'")
    ids = [item.get("subject") for item in items]
    if all(i is not None for i in ids):
        ids = [safe_subject_id(i) for i in ids]
    else:
        ids = _subject_ids([Path(item["image"]) for item in items])
    duplicated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicated:
        raise ValueError(f"{path}: subject ids are not unique: {', '.join(duplicated)}")
    entries = []
    for subject, item in zip(ids, items):
        entry = {"image": str(item["image"]), "subject": subject}
        if item.get("brain_mask"):
            entry["brain_mask"] = str(item["brain_mask"])
        entries.append(entry)
    return entries


def _expand(item: PathLike) -> list[Path]:
    """Image files named by one input: a file (kept even when missing, so that it is reported), a folder or a glob."""
    text = os.fspath(item)
    path = Path(text).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and image_suffix(p) and not p.name.startswith("."))
        if not found:
            raise ValueError(f"{path}: folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        return found
    if not path.exists() and _GLOB_CHARS.search(text):
        found = sorted(Path(p) for p in glob.glob(str(path)) if image_suffix(p) and Path(p).is_file())
        if not found:
            raise ValueError(f"{text}: pattern matches no image files")
        return found
    return [path]


def discover_inputs(
    inputs: PathLike | Sequence[PathLike],
    datalist_key: str | None = None,
    brain_mask: PathLike | Sequence[PathLike] | None = None,
) -> list[dict]:
    """Subject entries ``{"image": path, "subject": id[, "brain_mask": path]}`` for ``inputs``.

    Args:
        inputs: an image file (``wmhseg.io.IMAGE_SUFFIXES``: NIfTI, MetaImage, NRRD), a folder (its
            image files, not recursive), a glob pattern, a datalist JSON (decathlon style,
            paths relative to the JSON's folder, optional ``subject`` and ``brain_mask``
            per entry), or a list of any of these.
        datalist_key: the list to read from a datalist; default ``"test"`` when present,
            else ``"training"``.
        brain_mask: brain masks, one per image file in ``inputs`` and in the same order
            (only when every input is an image file).

    Subject ids are the file names without endings; where two files share a name the
    parent folder name is prepended (``patient07_FLAIR``).  A named file that does not
    exist is kept so that the run reports it; an empty folder, a pattern that matches
    nothing or a broken datalist raises ``ValueError``.
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not items:
        raise ValueError("no input given")
    entries: list[dict] = []
    files: list[Path] = []
    for item in items:
        path = Path(os.fspath(item)).expanduser()
        if path.suffix.lower() == ".json" and path.is_file():
            entries += _read_datalist(path, datalist_key)
        else:
            files += _expand(item)
    files = list(dict.fromkeys(p.absolute() for p in files))
    entries += [{"image": str(p), "subject": s} for p, s in zip(files, _subject_ids(files))]

    if brain_mask is not None:
        masks = [brain_mask] if isinstance(brain_mask, (str, os.PathLike)) else list(brain_mask)
        explicit_files = all(image_suffix(i) and not _GLOB_CHARS.search(os.fspath(i)) for i in items)
        if not explicit_files or len(masks) != len(entries):
            raise ValueError(
                f"brain_mask: give one mask per input image file ({len(masks)} masks for {len(entries)} images)"
            )
        for entry, mask in zip(entries, masks):
            entry["brain_mask"] = str(Path(os.fspath(mask)).expanduser().absolute())

    duplicated = sorted(i for i, n in Counter(e["subject"] for e in entries).items() if n > 1)
    if duplicated:
        raise ValueError(f"subject ids are not unique across inputs: {', '.join(duplicated)}")
    return entries


def network_grid_shape(
    image: NativeImage, target_spacing: Sequence[float] | None
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Size and spacing of ``image`` after reorientation to RAS and resampling to ``target_spacing``.

    Non-positive or missing target entries keep the native spacing of that axis.
    """
    ornt = nib.orientations.io_orientation(image.affine)
    shape, spacing = [0, 0, 0], [0.0, 0.0, 0.0]
    for axis, (ras_axis, _) in enumerate(ornt):
        shape[int(ras_axis)] = image.shape[axis]
        spacing[int(ras_axis)] = float(image.spacing[axis])
    target = list(target_spacing) if target_spacing is not None else [0.0, 0.0, 0.0]
    out_spacing = tuple(float(t) if t is not None and t > 0 else s for t, s in zip(target, spacing))
    out_shape = tuple(max(1, int(round(n * s / t))) for n, s, t in zip(shape, spacing, out_spacing))
    return out_shape, out_spacing


def _fmt(values: Sequence[float]) -> str:
    return "x".join(f"{v:g}" for v in values)


MAX_LABEL_VALUES = 16
"""An image of integers with at most this many distinct values is a mask or label map, not a FLAIR."""
MAX_IN_PLANE_MM = 3.0
"""Largest plausible in-plane voxel size of a FLAIR (the second smallest of the three sizes)."""
MAX_SLICE_MM = 7.0
"""Largest plausible slice thickness of a FLAIR (the largest of the three voxel sizes)."""
MIN_VOXEL_MM = 0.2
"""Smallest plausible voxel size of a head MRI; smaller ones suggest spacings in the wrong unit."""
FIELD_OF_VIEW_MM = (80.0, 400.0)
"""Plausible extent of a head FLAIR along each voxel axis, in mm."""
MIN_FOREGROUND_FRACTION = 0.05
"""Smallest plausible share of voxels with signal (a skull-stripped brain fills about 15 % of its box)."""


def _label_values(data: np.ndarray) -> np.ndarray | None:
    """The distinct values of ``data`` if it holds integers only and at most :data:`MAX_LABEL_VALUES` of them."""
    flat = data.ravel(order="K")  # a view, whatever the memory order
    if np.unique(flat[:: max(1, flat.size // 65536)]).size > MAX_LABEL_VALUES:  # fast answer for real images
        return None
    if not np.array_equal(flat, np.round(flat)):
        return None
    values = np.unique(flat)
    return values if values.size <= MAX_LABEL_VALUES else None


def _foreground_fraction(data: np.ndarray) -> float:
    """Share of voxels brighter than a tenth of the way from the background to the bright end.

    The background is the 1st percentile (robust to interpolation undershoot), the bright
    end the 99.9th percentile of the voxels above it; both from a subsample of a million voxels.
    """
    flat = data.ravel(order="K")  # a view, whatever the memory order
    sample = flat[:: max(1, flat.size // 1_000_000)]
    low = float(np.percentile(sample, 1))
    above = sample[sample > low]
    high = float(np.percentile(above, 99.9)) if above.size else low
    return float(np.count_nonzero(flat > low + 0.1 * (high - low))) / flat.size


def plausibility_warnings(image: NativeImage, data: np.ndarray) -> list[str]:
    """One-line warnings about what is implausible for a head FLAIR in ``image`` (geometry) and ``data`` (voxels).

    Checked: voxel sizes (in-plane above :data:`MAX_IN_PLANE_MM`, slices above
    :data:`MAX_SLICE_MM`, any below :data:`MIN_VOXEL_MM`), the field of view along each
    voxel axis (outside :data:`FIELD_OF_VIEW_MM`) and the share of voxels with signal
    (below :data:`MIN_FOREGROUND_FRACTION`).  Such an image is still segmented; the warnings
    say why the result may be wrong.
    """
    found = []
    spacing = np.asarray(image.spacing, dtype=float)
    ordered = np.sort(spacing)
    if ordered[1] > MAX_IN_PLANE_MM or ordered[2] > MAX_SLICE_MM:
        found.append(
            f"coarse voxels of {_fmt(np.round(spacing, 3))} mm (FLAIR is usually at most "
            f"{MAX_IN_PLANE_MM:g} mm in-plane and {MAX_SLICE_MM:g} mm thick): "
            "lesions will be missed or mis-sized"
        )
    if ordered[0] < MIN_VOXEL_MM:
        found.append(
            f"voxels of {_fmt(np.round(spacing, 4))} mm are implausibly small for a head MRI: "
            "are the header's voxel sizes in another unit than mm?"
        )
    extent = spacing * np.asarray(image.shape, dtype=float)
    low_fov, high_fov = FIELD_OF_VIEW_MM
    if extent.min() < low_fov:
        found.append(
            f"field of view of {_fmt(np.round(extent, 1))} mm is smaller than a head (under {low_fov:g} mm "
            "along an axis): a cropped volume, or wrong voxel sizes?"
        )
    if extent.max() > high_fov:
        found.append(
            f"field of view of {_fmt(np.round(extent, 1))} mm is larger than a head (over {high_fov:g} mm "
            "along an axis): wrong voxel sizes?"
        )
    fraction = _foreground_fraction(data)
    if fraction < MIN_FOREGROUND_FRACTION:
        found.append(
            f"mostly empty: only {100 * fraction:.1f} % of the voxels hold signal "
            f"(a head FLAIR has at least {100 * MIN_FOREGROUND_FRACTION:g} %)"
        )
    return found


def check_image(
    path: PathLike, target_spacing: Sequence[float] | None = None, min_image_size: Sequence[int] = (32, 32, 4)
) -> tuple[NativeImage, list[str]]:
    """Read ``path`` and check that the network can segment it.

    Returns:
        the image's geometry (no voxel data) and its :func:`plausibility_warnings`.

    Raises:
        ImageFileError: one line, starting with the path: unreadable, not 3D (or 4D with one
            volume), an invalid affine, non-finite values, no signal, a mask or label map
            (integers with at most :data:`MAX_LABEL_VALUES` distinct values), or smaller than
            ``min_image_size`` voxels (RAS order) on the network's grid.
    """
    image = read_native(path)
    affine = image.affine
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise ImageFileError(f"{path}: has an invalid (singular or non-finite) voxel-to-world affine")
    data = image.data
    n_bad = int(data.size - np.count_nonzero(np.isfinite(data)))
    if n_bad:
        raise ImageFileError(f"{path}: holds {n_bad} NaN or infinite voxel values")
    low, high = float(data.min()), float(data.max())
    if high <= low:
        raise ImageFileError(f"{path}: holds no signal (every voxel is {low:g})")
    values = _label_values(data)
    if values is not None:
        shown = ", ".join(f"{v:g}" for v in values[:8]) + (", ..." if values.size > 8 else "")
        raise ImageFileError(
            f"{path}: looks like a mask or label map, not a FLAIR: integers with only {values.size} "
            f"distinct values ({shown}); give the FLAIR image itself"
        )
    grid, spacing = network_grid_shape(image, target_spacing)
    if any(n < m for n, m in zip(grid, min_image_size)):
        raise ImageFileError(
            f"{path}: too small for the network: {_fmt(grid)} voxels at {_fmt(spacing)} mm (RAS) after resampling, "
            f"needs at least {_fmt(min_image_size)}"
        )
    warnings = plausibility_warnings(image, data)
    image.data = None
    return image, warnings


def check_brain_mask(path: PathLike, image: NativeImage) -> NativeImage:
    """Read a brain mask and check that it lies on ``image``'s grid (:func:`wmhseg.io.same_grid`) and is not empty."""
    mask = read_native(path, load_data=True)
    if not same_grid(mask.shape, mask.affine, image.shape, image.affine):
        raise ImageFileError(
            f"{path}: brain mask is not on the grid of {image.path} "
            f"(shape {_fmt(mask.shape)} vs {_fmt(image.shape)}, or a different affine)"
        )
    if not np.any(mask.data > 0):
        raise ImageFileError(f"{path}: brain mask is empty")
    mask.data = None
    return mask


def sample_phantom() -> list[dict]:
    """The default input: the first case of the embedded phantom set (``wmhseg.data.synthetic``).

    Used when no input is given, so that inference runs on a fresh machine.
    """
    try:
        from wmhseg.data.synthetic import default_datalist
    except ImportError as err:
        raise RuntimeError(
            "no input given and the embedded sample phantom (wmhseg.data.synthetic) is not available; "
            "give an input: a file, folder or datalist (--input / wmhseg predict INPUT)"
        ) from err
    return discover_inputs(default_datalist())[:1]
