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

This is the package's one image module: the supported file endings, the one reader
(:func:`read_native`, which every check uses), the one NIfTI writer (:func:`save_nifti`,
also behind :func:`save_on_native_grid`), the ITK geometry as an affine (:func:`itk_affine`)
and the one "same voxel grid" test (:func:`same_grid`, tolerance :data:`GRID_TOLERANCE_MM`).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from isal import igzip

NIFTI_SUFFIXES = (".nii.gz", ".nii")
ITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")
IMAGE_SUFFIXES = NIFTI_SUFFIXES + ITK_SUFFIXES
"""File endings read as images (lower case): NIfTI by nibabel, MetaImage and NRRD by ITK, as MONAI's readers do."""

GRID_TOLERANCE_MM = 1e-3
"""Two voxel grids are the same when their shapes match and they put every corner voxel at most this far apart
(mm).  Headers hold float32, so one grid written by different tools differs in the last bits, far below this;
a flipped, shifted, permuted or resampled grid is off by a voxel or more."""

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


class ImageFileError(ValueError):
    """An image file that cannot be used; the message is one line, ``<path>: <problem>``."""


class UnreadableImageError(ImageFileError):
    """An image file whose reader fails (corrupt, truncated or not an image)."""


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
    """An image on its native voxel grid.

    Attributes:
        path: the file it was read from.
        shape: the spatial sizes in file voxel order (I, J, K), trailing singleton axes dropped.
        affine: voxel → world (RAS+, mm) matrix, as MONAI's readers report it: the
            NIfTI "best" affine (sform if its code is set, else qform) or the ITK geometry
            converted from LPS to RAS.
        header: the NIfTI header for NIfTI files, None for ITK files.
        data: float32 voxel values in (I, J, K) order, or None when only the header was read.
    """

    path: Path
    shape: tuple[int, ...]
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


def _spatial_shape(shape: tuple[int, ...], path: Path, ndim: int | None) -> tuple[int, ...]:
    """The spatial shape of an image of ``shape``: trailing singleton axes beyond ``ndim`` (beyond 2 when
    ``ndim`` is None) are dropped; with ``ndim``, anything but an ``ndim``-D image is an error."""
    dims = list(shape)
    while len(dims) > (ndim or 2) and dims[-1] == 1:
        dims.pop()
    text = "x".join(map(str, shape))
    if ndim is not None and len(dims) == ndim + 1 == 4:
        raise ImageFileError(f"{path}: is 4D with {dims[3]} volumes (shape {text}); give a single volume")
    if ndim is not None and len(dims) != ndim:
        raise ImageFileError(f"{path}: is {len(dims)}D (shape {text}); a {ndim}D volume is needed")
    return tuple(int(d) for d in dims)


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


def itk_affine(image: sitk.Image | sitk.ImageFileReader) -> np.ndarray:
    """The voxel → world matrix (LPS, mm) of an ITK image or header: ``direction · diag(spacing)`` and the origin.

    Only the first three axes count; a 2D image gets the identity along the third.
    """
    ndim = image.GetDimension()
    n = min(ndim, 3)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(ndim, ndim)[:n, :n]
    affine = np.eye(4)
    affine[:n, :n] = direction @ np.diag(np.asarray(image.GetSpacing(), dtype=np.float64)[:n])
    affine[:n, 3] = np.asarray(image.GetOrigin(), dtype=np.float64)[:n]
    return affine


def _read_nifti(path: Path, load_data: bool) -> tuple[tuple[int, ...], np.ndarray, nib.Nifti1Header, Any]:
    try:
        img = load_nifti(path) if load_data else nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32) if load_data else None
    except Exception as err:  # nibabel raises many types for corrupt headers and truncated data blocks
        raise UnreadableImageError(f"{path}: cannot be read as NIfTI ({_one_line(err)})") from err
    return tuple(img.shape), np.asarray(img.affine, dtype=np.float64), img.header, data


def _read_itk(path: Path, load_data: bool) -> tuple[tuple[int, ...], np.ndarray, None, Any]:
    try:
        if load_data:
            img = sitk.ReadImage(str(path))
        else:
            img = sitk.ImageFileReader()
            img.SetFileName(str(path))
            img.ReadImageInformation()
    except RuntimeError as err:
        raise UnreadableImageError(f"{path}: cannot be read by ITK ({_one_line(err)})") from err
    components = img.GetNumberOfComponentsPerPixel() if load_data else img.GetNumberOfComponents()
    if components != 1:
        raise ImageFileError(f"{path}: has {components} values per voxel; a scalar volume is needed")
    data = None
    if load_data:  # a copy in reversed axis order ((t,) z, y, x); back to ITK's x, y, z(, t)
        data = sitk.GetArrayFromImage(img).astype(np.float32, copy=False).transpose()
    return tuple(int(s) for s in img.GetSize()), _LPS_TO_RAS @ itk_affine(img), None, data


def read_native(path: str | os.PathLike, load_data: bool = True, ndim: int | None = 3) -> NativeImage:
    """Read an image on its native grid: by default a 3D image (or a 4D image holding one volume).

    Args:
        path: a file with one of :data:`IMAGE_SUFFIXES`.
        load_data: read the voxel values too (else only the header).
        ndim: the number of spatial axes the image must have (trailing singleton axes beyond it are
            dropped); None accepts any (2D slices, for instance).

    Raises:
        ImageFileError: the file is missing, of an unsupported type, or not an ``ndim``-D image;
            :class:`UnreadableImageError` when its reader fails.  The message is one line starting
            with the path.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: file not found")
    suffix = image_suffix(path)
    if suffix is None:
        raise ImageFileError(f"{path}: unsupported file type; use one of {', '.join(IMAGE_SUFFIXES)}")
    shape, affine, header, data = (_read_nifti if suffix in NIFTI_SUFFIXES else _read_itk)(path, load_data)
    spatial = _spatial_shape(shape, path, ndim)
    return NativeImage(path, spatial, affine, header, None if data is None else data.reshape(spatial))


def image_problem(path: str | os.PathLike, full_read: bool = True) -> str | None:
    """Why ``path`` is not a usable 3D image (a short phrase), or None when it is.

    ``missing``, ``not a file``, ``unreadable (...)`` or what :func:`read_native` refuses; with
    ``full_read`` all voxel data are decompressed, which catches truncated ``.gz`` files that a
    header-only check misses.
    """
    path = Path(path)
    if not path.exists():
        return "missing"
    if not path.is_file():
        return "not a file"
    try:
        read_native(path, load_data=full_read)
    except ImageFileError as err:
        problem = str(err).removeprefix(f"{path}: ")
        return f"unreadable ({problem})" if isinstance(err, UnreadableImageError) else problem
    return None


def grid_distance_mm(
    shape: Sequence[int], affine: np.ndarray, other_shape: Sequence[int], other_affine: np.ndarray
) -> float:
    """How far apart two voxel grids put their corner voxels: the largest distance in mm (inf for other shapes)."""
    if tuple(shape) != tuple(other_shape):
        return math.inf
    corners = np.array(list(itertools.product(*[(0, n - 1) for n in tuple(shape)[:3]])), dtype=np.float64)
    corners = np.pad(corners, ((0, 0), (0, 3 - corners.shape[1])))  # 2D grids lie in the plane k = 0
    world, other_world = (nib.affines.apply_affine(np.asarray(a), corners) for a in (affine, other_affine))
    return float(np.abs(world - other_world).max())


def same_grid(
    shape: Sequence[int],
    affine: np.ndarray,
    other_shape: Sequence[int],
    other_affine: np.ndarray,
    atol_mm: float = GRID_TOLERANCE_MM,
) -> bool:
    """Whether two voxel grids are the same: equal shapes, corners at most ``atol_mm`` apart (a NaN affine is not)."""
    return bool(grid_distance_mm(shape, affine, other_shape, other_affine) <= atol_mm)


def grid_mismatch(image_path: str | os.PathLike, other_path: str | os.PathLike) -> str | None:
    """Why the image at ``other_path`` (a label, a mask) is not on the voxel grid of ``image_path``, or None.

    Both headers are read with :func:`read_native` (header only).
    """
    image, other = read_native(image_path, load_data=False), read_native(other_path, load_data=False)
    if image.shape != other.shape:
        return f"shape {other.shape} differs from the image's {image.shape}"
    gap = grid_distance_mm(image.shape, image.affine, other.shape, other.affine)
    if not gap <= GRID_TOLERANCE_MM:
        return f"voxel grid differs from the image's (corners up to {gap:.3g} mm apart)"
    return None


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


def save_nifti(
    data: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    dtype: np.dtype | type | None = None,
    description: str = "",
) -> Path:
    """Write ``data`` as a new NIfTI-1 file with ``affine`` (sform and qform, code 1: scanner; mm), atomically.

    ``dtype`` (default: the data's own) is the stored type; for an integer type the values are
    rounded and must fit it.  ``.nii.gz`` files are compressed by ISA-L.
    """
    path = Path(path)
    data = np.asarray(data)
    dtype = np.dtype(data.dtype if dtype is None else dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if data.size and (data.min() < info.min or data.max() > info.max):
            raise ValueError(f"{path}: values [{data.min()}, {data.max()}] do not fit {dtype}")
        data = np.rint(data) if data.dtype.kind == "f" else data
    image = nib.Nifti1Image(data.astype(dtype, copy=False), affine)
    image.header.set_sform(affine, code=1)
    image.header.set_qform(affine, code=1)
    image.header.set_xyzt_units("mm", "sec")
    image.header["descrip"] = description.encode("ascii", "replace")[:79]
    _write_nifti(image, path)
    return path


def save_on_native_grid(
    data: np.ndarray, reference: NativeImage, path: str | os.PathLike, description: str = ""
) -> None:
    """Write ``data`` (shape ``reference.shape``) as NIfTI on ``reference``'s grid, atomically.

    For a NIfTI reference the header is copied unchanged except for the data type,
    shape, scaling (reset to none) and description, so sform, qform, their codes, pixdim
    and units are exactly the input's.  For an ITK reference it is :func:`save_nifti` with the
    RAS affine.
    """
    data = np.asarray(data)
    if tuple(data.shape) != tuple(reference.shape):
        raise ValueError(f"data of shape {data.shape} is not on the grid of {reference.path} {reference.shape}")
    if reference.header is None:
        save_nifti(data, reference.affine, path, description=description)
        return
    header = reference.header.copy()
    header.set_data_shape(data.shape)
    header.set_data_dtype(data.dtype)
    header.set_slope_inter(1.0, 0.0)
    header["cal_min"], header["cal_max"] = 0.0, 0.0
    header["intent_code"], header["intent_name"] = 0, b""
    header["descrip"] = description.encode("ascii", "replace")[:79]
    image_class = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
    _write_nifti(image_class(data, None, header=header), path)


def _write_nifti(image: nib.Nifti1Image | nib.Nifti2Image, path: str | os.PathLike) -> None:
    """Save ``image`` to ``path`` atomically; ``.gz`` compressed in one go by ISA-L (level 1, no timestamp)."""
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
