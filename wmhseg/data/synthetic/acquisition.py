"""Imaging a phantom: scanner grids, partial volume, bias field, noise, ghosting, orientation.

Everything here works on a *canonical* grid whose voxel axes point to R, A and S; the
image and label arrays are only reordered to the requested orientation code (RAS, LPS,
LAS, ...) at the very end, so the orientation changes the header and voxel order but
not a single value.

Partial volume: each scanner voxel is sampled at ``n`` sub-positions per axis (``n`` =
the voxel size over the 1.5 mm source grid, rounded), so thick slices average the
anatomy they cover. The image intensity is the mean over the sub-positions; a label is
set where more than half of the sub-positions lie inside the region (the >50 %
partial-volume rule of the WMH challenge reference standard).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy import fft as sfft
from scipy import ndimage as ndi

from .fields import smooth_random_field

SOURCE_STEP_MM = 1.5  # the atlas grid step; sub-sampling density follows it


@dataclass(frozen=True)
class Protocol:
    """A scanner grid: matrix ``shape`` and voxel ``spacing`` (mm) of the stored image.

    ``inplane_upsampling`` > 1 means the image was acquired on a coarser in-plane matrix
    and interpolated by that factor on reconstruction (as clinical 0.5 mm FLAIR is): noise
    is then correlated between neighbouring voxels.
    """

    name: str
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    inplane_upsampling: int = 1
    description: str = ""


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("utrecht", (240, 240, 48), (0.96, 0.95, 3.0), 1, "WMH challenge Utrecht-like: 3T Philips, 2D FLAIR"),
        Protocol("singapore", (256, 232, 48), (1.0, 1.0, 3.0), 1, "WMH challenge Singapore-like: 3T Siemens"),
        Protocol("ge3t", (132, 256, 83), (1.2, 0.98, 3.0), 1, "WMH challenge Amsterdam GE3T-like: 3T GE"),
        Protocol("thick6mm", (448, 448, 24), (0.5, 0.5, 6.0), 2, "clinical thick-slice FLAIR, 1 mm acquired"),
        Protocol("iso1mm", (176, 208, 176), (1.0, 1.0, 1.0), 1, "3D FLAIR, 1 mm isotropic"),
    )
}


def subsampling(spacing: Sequence[float]) -> tuple[int, int, int]:
    """Sub-positions per axis for partial-volume sampling of a voxel of this size."""
    return tuple(max(1, int(round(s / SOURCE_STEP_MM))) for s in spacing)


def canonical_affine(shape: Sequence[int], spacing: Sequence[float], centre_mm: Sequence[float]) -> np.ndarray:
    """RAS voxel -> world affine of a grid of ``shape`` and ``spacing`` centred on ``centre_mm``."""
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = np.asarray(centre_mm) - np.asarray(spacing) * (np.asarray(shape) - 1) / 2
    return affine


def sample(
    volume: np.ndarray,
    target_to_source: np.ndarray,
    shape: Sequence[int],
    factors: Sequence[int] = (1, 1, 1),
    start: Sequence[int] = (0, 0, 0),
    cval: float = 0.0,
    order: int = 1,
) -> np.ndarray:
    """Sample ``volume`` at the sub-positions of target voxels ``start + [0, shape)``.

    ``target_to_source`` maps target voxel indices to source voxel indices (4x4). The
    result has shape ``(*shape, prod(factors))``: the last axis runs over the
    ``factors`` sub-positions of each voxel, placed at the centres of an even split.
    ``order`` is the interpolation order (1 linear, 0 nearest).
    """
    factors = np.asarray(factors)
    # fine voxel f along an axis sits at target coordinate start + (f + 0.5) / n - 0.5
    fine_to_target = np.diag([*(1.0 / factors), 1.0])
    fine_to_target[:3, 3] = np.asarray(start) + 0.5 / factors - 0.5
    m = target_to_source @ fine_to_target
    fine_shape = tuple(int(s) * int(f) for s, f in zip(shape, factors))
    fine = ndi.affine_transform(
        volume,
        m[:3, :3],
        m[:3, 3],
        output_shape=fine_shape,
        order=order,
        mode="constant",
        cval=cval,
        output=np.float32,
        prefilter=False,
    )
    fine = fine.reshape(shape[0], factors[0], shape[1], factors[1], shape[2], factors[2])
    return fine.transpose(0, 2, 4, 1, 3, 5).reshape(*shape, int(np.prod(factors)))


def majority_value(subsamples: np.ndarray) -> np.ndarray:
    """Per voxel, the largest threshold ``t`` for which more than half the sub-samples exceed ``t``.

    A voxel is labelled at threshold ``t`` exactly when this value exceeds ``t`` (>50 % rule).
    """
    n = subsamples.shape[-1]
    k = n // 2  # more than n/2 values must exceed t: the (n//2 + 1)-th largest value
    return np.partition(subsamples, n - 1 - k, axis=-1)[..., n - 1 - k]


def calibrate_threshold(critical: np.ndarray, n_voxels: int) -> float:
    """Threshold that labels ``n_voxels`` voxels: ``critical > t`` holds for exactly that many (ties aside)."""
    flat = critical.ravel()
    n_voxels = int(np.clip(n_voxels, 0, flat.size))
    if n_voxels == 0:
        return float(flat.max()) + 1.0
    top = np.partition(flat, flat.size - n_voxels)[flat.size - n_voxels :]
    lowest_inside = float(top.min())
    below = flat[flat < lowest_inside]
    highest_outside = float(below.max()) if below.size else 0.0
    return 0.5 * (lowest_inside + highest_outside)


def bounding_box(
    mask: np.ndarray, source_to_target: np.ndarray, shape: Sequence[int], margin: int = 2
) -> tuple[np.ndarray, np.ndarray] | None:
    """Target-grid box (start, stop) covering the source-space ``mask``, or None if it misses the grid."""
    idx = np.argwhere(mask)
    if idx.shape[0] == 0:
        return None
    lo, hi = idx.min(0) - 1, idx.max(0) + 1
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    target = nib.affines.apply_affine(source_to_target, corners)
    start = np.maximum(np.floor(target.min(0)).astype(int) - margin, 0)
    stop = np.minimum(np.ceil(target.max(0)).astype(int) + margin + 1, np.asarray(shape))
    if np.any(stop <= start):
        return None
    return start, stop


def bias_field(shape: Sequence[int], spacing: Sequence[float], strength: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative field exp(strength * f), f of unit std varying over ~100 mm."""
    field = smooth_random_field(shape, spacing, 100.0, rng)[0]
    field *= np.float32(strength)
    return np.exp(field, out=field)


def ghosting(image: np.ndarray, axis: int, amplitude: float) -> np.ndarray:
    """N/2 ghost along the phase-encoding ``axis``: every odd k-space line scaled by 1 - 2 * amplitude.

    The result is the magnitude of (1 - amplitude) * image + amplitude * (image shifted by half the FOV).
    """
    kspace = sfft.fft(image, axis=axis, workers=1)
    lines = [slice(None)] * image.ndim
    lines[axis] = slice(1, None, 2)
    kspace[tuple(lines)] *= 1.0 - 2.0 * amplitude
    return np.abs(sfft.ifft(kspace, axis=axis, workers=1)).astype(np.float32)


def rician(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the image plus complex Gaussian noise of standard deviation ``sigma`` per channel."""
    real = rng.standard_normal(image.shape, dtype=np.float32)
    real *= np.float32(sigma)
    real += image
    np.square(real, out=real)
    imaginary = rng.standard_normal(image.shape, dtype=np.float32)
    imaginary *= np.float32(sigma)
    np.square(imaginary, out=imaginary)
    real += imaginary
    return np.sqrt(real, out=real)


def upsample_inplane(volume: np.ndarray, factor: int, order: int = 1) -> np.ndarray:
    """Interpolate the two in-plane axes by an integer ``factor``, voxel edges aligned (reconstruction zoom)."""
    if factor == 1:
        return volume
    return ndi.zoom(volume, (factor, factor, 1), order=order, grid_mode=True, mode="grid-constant", prefilter=False)


def reorient(data: np.ndarray, affine: np.ndarray, axcodes: str) -> tuple[np.ndarray, np.ndarray]:
    """Reorder a canonical (RAS) array and affine to the orientation ``axcodes`` (e.g. "LPS")."""
    current = nib.orientations.io_orientation(affine)
    wanted = nib.orientations.axcodes2ornt(tuple(axcodes))
    transform = nib.orientations.ornt_transform(current, wanted)
    new_data = nib.orientations.apply_orientation(data, transform)
    new_affine = affine @ nib.orientations.inv_ornt_aff(transform, data.shape)
    return np.ascontiguousarray(new_data), new_affine
