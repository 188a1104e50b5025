"""NIfTI input and output for the data tools: atomic writes and readability checks."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np

from ..io import atomic_path


def save_nifti(data: np.ndarray, affine: np.ndarray, path: str | os.PathLike, dtype: np.dtype | type) -> Path:
    """Write ``data`` as NIfTI-1 with ``affine`` (sform and qform) and ``dtype``, atomically.

    The file is written under a temporary name in the same folder and renamed, so a reader
    never sees a partial file. Integer dtypes are rounded and must hold the values.
    """
    path = Path(path)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if data.size and (data.min() < info.min or data.max() > info.max):
            raise ValueError(f"{path}: values [{data.min()}, {data.max()}] do not fit {dtype}")
        data = np.rint(data)
    img = nib.Nifti1Image(np.asarray(data).astype(dtype), affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(img, tmp)
    return path


def image_problem(path: str | os.PathLike, full_read: bool = True) -> str | None:
    """Why ``path`` is not a usable 3D image, or None when it is.

    Checks that the file exists, that its header parses, that it is 3D (a trailing axis of
    length 1 is accepted) and, with ``full_read``, that all voxel data decompress (this
    catches truncated ``.gz`` files, which a header-only check misses). NIfTI files are
    read with nibabel, other formats (MetaImage, NRRD, ...) with SimpleITK.
    """
    path = Path(path)
    if not path.exists():
        return "missing"
    if not path.is_file():
        return "not a file"
    try:
        if path.name.lower().endswith((".nii", ".nii.gz")):
            img = nib.load(path)
            shape = tuple(img.shape)
            if full_read:
                np.asarray(img.dataobj)
        else:
            import SimpleITK as sitk

            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            if full_read:
                shape = tuple(reader.Execute().GetSize())
            else:
                reader.ReadImageInformation()
                shape = tuple(reader.GetSize())
    except Exception as error:  # noqa: BLE001 - any reader failure means unreadable
        return f"unreadable ({type(error).__name__}: {error})"
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        return f"not a 3D image (shape {shape})"
    return None


def _grid(path: str | os.PathLike, use_itk: bool) -> tuple[tuple[int, ...], np.ndarray, float]:
    """(shape, voxel -> world 4x4, smallest voxel size) from the header only."""
    if not use_itk:
        img = nib.load(path)
        return tuple(img.shape[:3]), img.affine, float(np.min(img.header.get_zooms()[:3]))
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    spacing = np.asarray(reader.GetSpacing()[:3])
    direction = np.asarray(reader.GetDirection()).reshape(reader.GetDimension(), -1)[:3, :3]
    affine = np.eye(4)
    affine[:3, :3] = direction @ np.diag(spacing)
    affine[:3, 3] = reader.GetOrigin()[:3]
    return tuple(reader.GetSize()[:3]), affine, float(spacing.min())


def grid_mismatch(image_path: str | os.PathLike, label_path: str | os.PathLike) -> str | None:
    """Why the label is not on the image's voxel grid, or None when it is.

    The shapes must match, and the voxel -> world mappings must agree to within half the
    smallest voxel at every corner of the grid (header rounding passes; a flipped,
    shifted or resampled mask does not). Both headers are read with nibabel when both
    files are NIfTI, otherwise both with SimpleITK.
    """
    use_itk = not all(str(p).lower().endswith((".nii", ".nii.gz")) for p in (image_path, label_path))
    (shape, affine, voxel), (label_shape, label_affine, _) = _grid(image_path, use_itk), _grid(label_path, use_itk)
    if shape != label_shape:
        return f"shape {label_shape} differs from the image's {shape}"
    corners = np.array([[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)],
                       dtype=float)
    gap = np.abs(nib.affines.apply_affine(affine, corners) - nib.affines.apply_affine(label_affine, corners))
    if gap.max() > 0.5 * voxel:
        return f"voxel grid differs from the image's (corners up to {gap.max():.2f} mm apart)"
    return None
