"""Image files on their native grid: reading with the exact geometry, writing atomically with the input's header.

Every output of ``wmhseg`` is written to a temporary name in the destination folder and
then moved into place with :func:`os.replace`, so a reader never sees a half-written
file.  Masks and maps are written on the input's voxel grid: for a NIfTI input the
output carries a copy of the input header (affine, sform and qform with their codes,
pixdim, units); for an ITK input (``.mha``, ``.nrrd``) it is a NIfTI file on the same
voxel grid whose sform and qform are the input's geometry converted to RAS
(``affine_ras = diag(-1, -1, 1, 1) @ affine_lps``) with code 1 (scanner).

``.nii.gz`` files are compressed and decompressed in one go with ISA-L (``isal``), which is
many times faster than Python's ``gzip`` at the same ratio; the files are ordinary gzip.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from isal import igzip

NIFTI_SUFFIXES = (".nii.gz", ".nii")
ITK_SUFFIXES = (".mha", ".nrrd")
IMAGE_SUFFIXES = NIFTI_SUFFIXES + ITK_SUFFIXES
"""File endings read as images (lower case)."""

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


class ImageFileError(ValueError):
    """An image file that cannot be used; the message is one line naming the problem."""


def image_suffix(path: str | os.PathLike) -> str | None:
    """The supported image ending of ``path`` (``".nii.gz"``, ``".mha"``, ...) or None."""
    name = Path(path).name.lower()
    return next((s for s in IMAGE_SUFFIXES if name.endswith(s)), None)


def strip_image_suffix(path: str | os.PathLike) -> str:
    """The file name of ``path`` without its image ending: ``sub-01_FLAIR.nii.gz`` → ``sub-01_FLAIR``."""
    name = Path(path).name
    suffix = image_suffix(name)
    return name[: -len(suffix)] if suffix else name


@dataclass
class NativeImage:
    """A 3D image on its native voxel grid.

    Attributes:
        path: the file it was read from.
        shape: the three spatial sizes in file voxel order (I, J, K).
        affine: voxel → world (RAS+, mm) matrix, as MONAI's readers report it: the
            NIfTI "best" affine (sform if its code is set, else qform) or the ITK geometry
            converted from LPS to RAS.
        header: the NIfTI header for NIfTI files, None for ITK files.
        data: float32 voxel values in (I, J, K) order, or None when only the header was read.
    """

    path: Path
    shape: tuple[int, int, int]
    affine: np.ndarray
    header: nib.Nifti1Header | None
    data: np.ndarray | None = None

    @property
    def spacing(self) -> np.ndarray:
        """Voxel sizes in mm (column norms of the affine)."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres."""
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0


def _spatial_shape(shape: tuple[int, ...], path: Path) -> tuple[int, int, int]:
    """The 3D spatial shape of an image of ``shape``: trailing singleton axes beyond 3 are dropped."""
    dims = list(shape)
    while len(dims) > 3 and dims[-1] == 1:
        dims.pop()
    if len(dims) < 3:
        raise ImageFileError(f"{path}: is {len(dims)}D (shape {'x'.join(map(str, shape))}); a 3D volume is needed")
    if len(dims) > 3:
        if len(dims) == 4:
            raise ImageFileError(
                f"{path}: is 4D with {dims[3]} volumes (shape {'x'.join(map(str, shape))}); give a single volume"
            )
        raise ImageFileError(f"{path}: is {len(dims)}D (shape {'x'.join(map(str, shape))}); a 3D volume is needed")
    return int(dims[0]), int(dims[1]), int(dims[2])


def load_nifti(path: str | os.PathLike) -> nib.Nifti1Image | nib.Nifti2Image:
    """``nib.load(path)``, with a ``.nii.gz`` file read and decompressed in memory by ISA-L."""
    if not str(path).lower().endswith(".gz"):
        return nib.load(str(path))
    raw = igzip.decompress(Path(path).read_bytes())
    for image_class in (nib.Nifti1Image, nib.Nifti2Image):
        header = image_class.header_class
        if header.may_contain_header(raw[: header.template_dtype.itemsize]):
            return image_class.from_bytes(raw)
    return nib.load(str(path))  # not NIfTI inside: nibabel names the problem


def _read_nifti(path: Path, load_data: bool) -> NativeImage:
    try:
        img = load_nifti(path) if load_data else nib.load(str(path))
    except Exception as err:  # nibabel raises many types for corrupt headers
        raise ImageFileError(f"{path}: cannot be read as NIfTI ({_one_line(err)})") from err
    shape = _spatial_shape(img.shape, path)
    data = None
    if load_data:
        try:
            data = np.asarray(img.dataobj, dtype=np.float32).reshape(shape)
        except Exception as err:  # truncated or corrupt data block
            raise ImageFileError(f"{path}: cannot be read as NIfTI ({_one_line(err)})") from err
    return NativeImage(path, shape, np.asarray(img.affine, dtype=np.float64), img.header, data)


def _read_itk(path: Path, load_data: bool) -> NativeImage:
    try:
        if load_data:
            img = sitk.ReadImage(str(path))
        else:
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            reader.ReadImageInformation()
            img = reader
    except RuntimeError as err:
        raise ImageFileError(f"{path}: cannot be read by ITK ({_one_line(err)})") from err
    components = img.GetNumberOfComponentsPerPixel() if load_data else img.GetNumberOfComponents()
    if components != 1:
        raise ImageFileError(f"{path}: has {components} values per voxel; a scalar volume is needed")
    size = tuple(int(s) for s in img.GetSize())  # ITK order: x, y, z(, t)
    shape = _spatial_shape(size, path)
    ndim = img.GetDimension()
    direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(ndim, ndim)[:3, :3]
    spacing = np.asarray(img.GetSpacing(), dtype=np.float64)[:3]
    origin = np.asarray(img.GetOrigin(), dtype=np.float64)[:3]
    affine_lps = np.eye(4)
    affine_lps[:3, :3] = direction @ np.diag(spacing)
    affine_lps[:3, 3] = origin
    data = None
    if load_data:
        array = sitk.GetArrayFromImage(img)  # a copy, reversed axes: (t,) z, y, x
        data = array.astype(np.float32, copy=False).reshape(shape[::-1]).transpose(2, 1, 0)
    return NativeImage(path, shape, _LPS_TO_RAS @ affine_lps, None, data)


def read_native(path: str | os.PathLike, load_data: bool = True) -> NativeImage:
    """Read a 3D image (or a 4D image holding one volume) on its native grid.

    Raises:
        ImageFileError: the file is missing, unreadable, of an unsupported type, or not a
            single 3D volume; the message is one line starting with the path.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: file not found")
    suffix = image_suffix(path)
    if suffix is None:
        raise ImageFileError(f"{path}: unsupported file type; use one of {', '.join(IMAGE_SUFFIXES)}")
    return _read_nifti(path, load_data) if suffix in NIFTI_SUFFIXES else _read_itk(path, load_data)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 200 else text[:197] + "..."


_PARTIAL_NAME = re.compile(r"^\..*\.[0-9a-f]{8}\.partial")
"""Names of :func:`atomic_path`'s temporary files: ``.<stem>.<8 hex digits>.partial<suffix>``."""


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success move it onto ``target`` with ``os.replace``.

    The temporary name keeps ``target``'s endings (``.nii.gz``, ``.png``) so that writers
    choose the right format.  If the body raises, the temporary file is removed and
    ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = image_suffix(target) or target.suffix
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    tmp = target.with_name(f".{stem}.{secrets.token_hex(4)}.partial{suffix}")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def remove_partial_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of :func:`atomic_path` in ``folder`` (not recursive); return their paths.

    A process killed while writing (``kill -9``, power loss) cannot clean up; a rerun
    calls this on its output folders so that none is left behind.  Do not call it on a
    folder that another process is writing to.
    """
    removed = []
    for path in Path(folder).iterdir():
        if _PARTIAL_NAME.match(path.name) and path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open(path, mode)`` for writing through :func:`atomic_path`: ``path`` is replaced only on success."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as stream:
        yield stream


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_on_native_grid(
    data: np.ndarray, reference: NativeImage, path: str | os.PathLike, description: str = ""
) -> None:
    """Write ``data`` (shape ``reference.shape``) as NIfTI on ``reference``'s grid, atomically.

    For a NIfTI reference the header is copied unchanged except for the data type,
    shape, scaling (reset to none) and description, so sform, qform, their codes, pixdim
    and units are exactly the input's.  For an ITK reference, sform and qform are the
    RAS affine with code 1 (scanner).
    """
    data = np.asarray(data)
    if tuple(data.shape) != tuple(reference.shape):
        raise ValueError(f"data of shape {data.shape} is not on the grid of {reference.path} {reference.shape}")
    if reference.header is not None:
        header = reference.header.copy()
        header.set_data_shape(data.shape)
        header.set_data_dtype(data.dtype)
        header.set_slope_inter(1.0, 0.0)
        header["cal_min"], header["cal_max"] = 0.0, 0.0
        header["intent_code"], header["intent_name"] = 0, b""
        header["descrip"] = description.encode("ascii", "replace")[:79]
        image_class = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
        image = image_class(data, None, header=header)
    else:
        image = nib.Nifti1Image(data, reference.affine)
        image.header.set_sform(reference.affine, code=1)
        image.header.set_qform(reference.affine, code=1)
        image.header.set_xyzt_units("mm", "sec")
        image.header["descrip"] = description.encode("ascii", "replace")[:79]
    with atomic_path(path) as tmp:
        if tmp.name.endswith(".gz"):
            tmp.write_bytes(igzip.compress(image.to_bytes(), compresslevel=1, mtime=0))
        else:
            nib.save(image, str(tmp))


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
