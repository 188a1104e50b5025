"""Imaging a 1 mm synthetic head on a clinical protocol, then on the network grid.

The head is composed on a 1 mm working grid whose axes are those of the network grid
(RAS, ``target_spacing`` mm; the working grid is ``target_spacing`` / 1 mm times finer along
each axis). A protocol acquires slices of ``thickness`` mm along one axis (axial, sagittal or
coronal) with a Gaussian slice profile, and an in-plane resolution that blurs where it is
coarser than 1 mm. Thermal noise (Rician) and ghosting act on the acquired samples; the
acquired volume is then interpolated linearly onto the network grid, as the inference
preprocessing (``Spacingd``, bilinear) does with a real image. Labels go the same way: a
lesion's partial-volume fraction follows the same blur and interpolation and is thresholded
at one half, the >50 % rule of the WMH challenge reference standard.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def resample_axis(volume: np.ndarray, axis: int, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Linear interpolation along ``axis`` from samples at ``source`` positions to ``target`` positions.

    Positions are in the same (working-grid index) units; targets outside the sampled range take the
    nearest sample.
    """
    source = np.asarray(source, dtype=np.float64)
    position = np.interp(np.asarray(target, dtype=np.float64), source, np.arange(source.size, dtype=np.float64))
    lower = np.clip(np.floor(position).astype(int), 0, source.size - 1)
    upper = np.minimum(lower + 1, source.size - 1)
    weight = (position - lower).astype(np.float32)
    shape = [1] * volume.ndim
    shape[axis] = weight.size
    weight = weight.reshape(shape)
    low, high = np.take(volume, lower, axis=axis), np.take(volume, upper, axis=axis)
    return (low + (high - low) * weight).astype(np.float32)


def blur(volume: np.ndarray, sigma_mm: Sequence[float]) -> np.ndarray:
    """Gaussian blur with per-axis ``sigma_mm`` on the 1 mm working grid (axes with sigma < 0.1 are left)."""
    out = volume.astype(np.float32, copy=True)
    for axis, sigma in enumerate(sigma_mm):
        if sigma >= 0.1:
            ndi.gaussian_filter1d(out, sigma, axis=axis, output=out, truncate=3.0, mode="nearest")
    return out


def slice_positions(length: int, thickness: float, phase: float) -> np.ndarray:
    """Centres (working-grid indices) of slices of ``thickness`` mm covering ``length`` 1 mm voxels."""
    first = phase * thickness - 0.5 * thickness + 0.5
    n = int(np.ceil((length - first) / thickness)) + 1
    return first + thickness * np.arange(max(n, 2))


def acquisition_blur(
    volume: np.ndarray, slice_axis: int, thickness: float, inplane_mm: float, profile: float = 1.0
) -> np.ndarray:
    """The volume as seen by the protocol's point-spread function (slice profile FWHM = ``profile`` x thickness)."""
    sigma = [FWHM_TO_SIGMA * np.sqrt(max(inplane_mm**2 - 1.0, 0.0))] * 3
    sigma[slice_axis] = FWHM_TO_SIGMA * np.sqrt(max((profile * thickness) ** 2 - 1.0, 0.0))
    return blur(volume, sigma)


def to_network_grid(
    acquired: np.ndarray, slice_axis: int, slices: np.ndarray, work_shape: Sequence[int], steps: Sequence[int]
) -> np.ndarray:
    """Interpolate an acquired volume (slices at ``slices`` along ``slice_axis``) onto the network grid, which
    samples the working grid of ``work_shape`` at the centre of every group of ``steps`` voxels per axis."""
    out = acquired
    for axis, step in enumerate(steps):
        centres = np.arange(work_shape[axis] // step) * step + (step - 1) / 2.0
        source = slices if axis == slice_axis else np.arange(out.shape[axis])
        if axis == slice_axis or step > 1:
            out = resample_axis(out, axis, source, centres)
    return out
