"""Synthetic FLAIR images with WMH labels built from real whole-head label maps.

One sample, all randomised from a seed (in the spirit of SynthSeg, Billot et al., Medical
Image Analysis 2023, with a FLAIR prior and painted lesions):

1. anatomy: a label map, rotated (up to ``rotation_deg`` about each axis), scaled (up to
   ``scaling``) and smoothly deformed, seen through a random field of view around the brain,
   on a 1 mm working grid aligned with the network grid;
2. lesions (``lesions``): WMH (label 1) in the cerebral white matter with a load drawn
   log-uniformly in ``lesion_volume_ml`` (none for ``no_lesion_fraction`` of the samples) and
   infarct-like other pathology (label 2) for ``other_pathology_fraction``;
3. contrast (``contrast``): a FLAIR-like prior per tissue or fully random contrast, texture,
   graded lesions and bright non-lesions, partial volume;
4. acquisition (``imaging``): bias field, gamma, slices of 1-9 mm along a mostly axial axis
   with a slice profile, in-plane resolution, ghosting, Rician noise, then linear
   interpolation onto the network grid (``target_spacing``, RAS), and for
   ``skull_stripped_fraction`` of the samples skull stripping.

The label has the classes of ``anatomy.CLASSES``: 0 background, 1 WMH, 2 other pathology,
3 lateral ventricles, 4 other brain tissue, 5 CSF; stripped-away voxels are background.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from .. import acquisition as acq
from ..fields import smooth_random_field
from ..phantom import severity_for_volume
from . import imaging
from .anatomy import BRAIN, CEREBRAL_WM, CORTEX, OTHER, VENTRICLES, WMH, LabelMap, class_of_labels, tissue_group
from .contrast import add_bright_mimics, compose_image, draw_label_means, lesion_contrast, paint_lesion
from .lesions import infarct_regions, lesion_from_score, wmh_score


@dataclass
class SynthesisSettings:
    """Ranges of every random choice of :class:`FLAIRSynthesizer` (lengths in mm, volumes in ml)."""

    target_spacing: tuple[float, float, float] = (1.0, 1.0, 3.0)
    rotation_deg: float = 15.0
    scaling: float = 0.15
    displacement_mm: tuple[float, float] = (0.0, 4.0)
    margin_mm: tuple[float, float] = (-15.0, 25.0)
    max_work_shape: tuple[int, int, int] = (192, 224, 192)
    lesion_volume_ml: tuple[float, float] = (0.2, 120.0)
    no_lesion_fraction: float = 0.1
    other_pathology_fraction: float = 0.2
    random_contrast_fraction: float = 0.15
    skull_stripped_fraction: float = 0.5
    thin_slice_fraction: float = 0.3
    thin_slice_mm: tuple[float, float] = (0.8, 1.5)
    thick_slice_mm: tuple[float, float] = (2.0, 9.0)
    axial_fraction: float = 0.75
    inplane_mm: tuple[float, float] = (0.4, 1.3)
    partial_volume_mm: tuple[float, float] = (0.2, 0.6)
    snr: tuple[float, float] = (8.0, 40.0)
    bias_strength: tuple[float, float] = (0.0, 0.3)
    gamma_log_std: float = 0.15
    ghosting_fraction: float = 0.15
    strip_margin_mm: tuple[float, float] = (0.0, 4.0)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> SynthesisSettings:
        """Settings with ``values`` replacing the defaults; an unknown name is an error that lists the known."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values or {}) - known)
        if unknown:
            raise ValueError(f"unknown synthesis setting(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in (values or {}).items()})


@dataclass
class SyntheticSample:
    """``image`` float32 raw intensities and ``label`` uint8 (0..5) on the network grid with ``affine`` (RAS)."""

    image: np.ndarray
    label: np.ndarray
    affine: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


class FLAIRSynthesizer:
    """Draws :class:`SyntheticSample` s from label maps (see the module docstring).

    Args:
        label_maps: the anatomy (``anatomy.load_label_maps``).
        settings: a :class:`SynthesisSettings` or a dict of its fields.

    ``synthesizer(seed, **overrides)``: one sample; ``overrides`` fix single choices
    (``lesion_volume_ml``, ``slice_axis``, ``thickness_mm``, ``skull_stripped``, ``random_contrast``,
    ``other_pathology``, ``map_index``) for tests and figures.
    """

    def __init__(self, label_maps: Sequence[LabelMap], settings: SynthesisSettings | dict[str, Any] | None = None):
        if not label_maps:
            raise ValueError("FLAIRSynthesizer needs at least one label map")
        self.label_maps = list(label_maps)
        self.settings = settings if isinstance(settings, SynthesisSettings) else SynthesisSettings.from_dict(settings)
        self.steps = tuple(max(1, int(round(s))) for s in self.settings.target_spacing)
        self._luts = [self._lookup_tables(m) for m in self.label_maps]

    @staticmethod
    def _lookup_tables(label_map: LabelMap) -> dict[str, np.ndarray]:
        groups = np.array([tissue_group(int(v)) for v in label_map.values])
        return {
            "class": class_of_labels(label_map.values),
            "wm": np.isin(label_map.values, CEREBRAL_WM),
            "cortex": np.isin(label_map.values, CORTEX),
            "ventricles": groups == "ventricles",
            "csf": groups == "csf",
        }

    def _choices(self, rng: np.random.Generator, overrides: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        thin = rng.uniform() < s.thin_slice_fraction
        axial = rng.uniform() < s.axial_fraction
        lesion = 0.0 if rng.uniform() < s.no_lesion_fraction else _log_uniform(rng, *s.lesion_volume_ml)
        choices = {
            "map_index": int(rng.integers(len(self.label_maps))),
            "lesion_volume_ml": lesion,
            "other_pathology": bool(rng.uniform() < s.other_pathology_fraction),
            "random_contrast": bool(rng.uniform() < s.random_contrast_fraction),
            "skull_stripped": bool(rng.uniform() < s.skull_stripped_fraction),
            "slice_axis": 2 if axial else int(rng.integers(2)),
            "thickness_mm": float(rng.uniform(*(s.thin_slice_mm if thin else s.thick_slice_mm))),
            "inplane_mm": float(rng.uniform(*s.inplane_mm)),
        }
        unknown = set(overrides) - set(choices)
        if unknown:
            raise ValueError(f"unknown override(s) {sorted(unknown)}; known: {sorted(choices)}")
        choices.update(overrides)
        return choices

    def _work_grid(self, label_map: LabelMap, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, ...]]:
        """Label-map voxel coordinates (3, *shape) of every working-grid voxel, and the shape."""
        s = self.settings
        rotation = Rotation.from_euler("xyz", rng.uniform(-s.rotation_deg, s.rotation_deg, size=3), degrees=True)
        scale = rng.uniform(1 - s.scaling, 1 + s.scaling) * rng.uniform(0.97, 1.03, size=3)
        extent = label_map.brain_extent_mm * scale + 2 * rng.uniform(*s.margin_mm, size=3)
        shape = [int(min(max(e, 48), m)) for e, m in zip(extent, s.max_work_shape)]
        shape = tuple(max(step, n - n % step) for n, step in zip(shape, self.steps))
        # output-frame mm -> map world mm (inverse of: scale, then rotate), then -> map voxels
        frame_to_world = np.linalg.inv(rotation.as_matrix() @ np.diag(scale))
        world_to_voxel = np.linalg.inv(label_map.affine)
        linear = world_to_voxel[:3, :3] @ frame_to_world
        centre_world = label_map.brain_centre_mm + rng.uniform(-8, 8, size=3)
        offset = world_to_voxel[:3, :3] @ centre_world + world_to_voxel[:3, 3]
        coords = np.empty((3, *shape), dtype=np.float32)
        axes = [np.arange(n, dtype=np.float32) - (n - 1) / 2.0 for n in shape]
        for d in range(3):
            coords[d] = offset[d]
            coords[d] += linear[d, 0] * axes[0][:, None, None]
            coords[d] += linear[d, 1] * axes[1][None, :, None]
            coords[d] += linear[d, 2] * axes[2][None, None, :]
        displacement = rng.uniform(*s.displacement_mm)
        if displacement > 0:
            warp = smooth_random_field(shape, (1.0, 1.0, 1.0), rng.uniform(15.0, 35.0), rng, n_fields=3)
            warp *= np.float32(displacement) / label_map.spacing.astype(np.float32)[:, None, None, None]
            coords += warp
        return coords, shape

    def __call__(self, seed: int, **overrides: Any) -> SyntheticSample:
        rng = np.random.default_rng(seed)
        s = self.settings
        c = self._choices(rng, overrides)
        label_map, lut = self.label_maps[c["map_index"]], self._luts[c["map_index"]]
        coords, shape = self._work_grid(label_map, rng)

        labels = ndi.map_coordinates(
            label_map.labels, coords, order=0, mode="constant", cval=0, output=np.uint8, prefilter=False
        )
        coords /= (np.linalg.norm(label_map.fields_affine[:3, :3], axis=0) / label_map.spacing).astype(np.float32)[
            :, None, None, None
        ]
        fields = [
            ndi.map_coordinates(f, coords, order=1, mode="nearest", output=np.float32, prefilter=False)
            for f in label_map.fields
        ]
        del coords
        ventricle_distance, wm_depth, brain_distance = fields
        wm = lut["wm"][labels]
        classes = lut["class"][labels]

        severity = severity_for_volume(c["lesion_volume_ml"]) if c["lesion_volume_ml"] > 0 else 0.0
        score, patterns = wmh_score(wm, ventricle_distance, wm_depth, rng, severity)
        contrast = lesion_contrast(rng, c["random_contrast"])
        wmh, grade = lesion_from_score(
            score, wm, int(round(c["lesion_volume_ml"] * 1000.0)), contrast["rim_width"], rng
        )
        del score
        other = np.zeros(shape, bool)
        other_core = other
        if c["other_pathology"]:
            other, other_core = infarct_regions(classes == BRAIN, wm, wm_depth, rng, int(rng.integers(1, 3)))
            other &= ~wmh
            other_core &= other

        means = draw_label_means(label_map.values, rng, c["random_contrast"])
        image = compose_image(labels, means, rng)
        paint_lesion(image, wmh, grade, contrast)
        if other.any():
            csf_level = float(means[lut["csf"]].mean()) if lut["csf"].any() else 0.1
            image[other & ~other_core] *= np.float32(rng.uniform(1.1, 1.7))
            image[other_core] = np.float32(csf_level * rng.uniform(0.7, 1.5))
        mimics = add_bright_mimics(
            image,
            {"cortex": lut["cortex"][labels], "ventricles": lut["ventricles"][labels], "csf": lut["csf"][labels]},
            rng,
        )
        image = imaging.blur(image, [rng.uniform(*s.partial_volume_mm)] * 3)
        image *= acq.bias_field(shape, (1.0, 1.0, 1.0), rng.uniform(*s.bias_strength), rng)
        gamma = float(np.exp(rng.normal(0.0, s.gamma_log_std)))
        np.power(np.clip(image, 0.0, None, out=image), np.float32(gamma), out=image)

        axis, thickness = int(c["slice_axis"]), float(c["thickness_mm"])
        profile = rng.uniform(0.9, 1.3)
        slices = imaging.slice_positions(shape[axis], thickness, rng.uniform())

        def acquire(volume: np.ndarray) -> np.ndarray:
            blurred = imaging.acquisition_blur(volume, axis, thickness, c["inplane_mm"], profile)
            return imaging.resample_axis(blurred, axis, np.arange(shape[axis]), slices)

        acquired = acquire(image)
        del image
        ghost = rng.uniform() < s.ghosting_fraction
        if ghost:
            acquired = acq.ghosting(
                acquired, int(rng.choice([a for a in range(3) if a != axis])), float(rng.uniform(0.02, 0.1))
            )
        wm_level = rng.uniform(100.0, 1000.0)
        snr = rng.uniform(*s.snr)
        acquired *= np.float32(wm_level)
        acquired = acq.rician(acquired, wm_level / snr, rng)
        out_image = imaging.to_network_grid(acquired, axis, slices, shape, self.steps)

        def on_grid(mask: np.ndarray) -> np.ndarray:
            return imaging.to_network_grid(acquire(mask.astype(np.float32)), axis, slices, shape, self.steps) > 0.5

        centre = tuple(slice(step // 2, (n // step) * step, step) for n, step in zip(shape, self.steps))
        label = classes[centre].copy()
        if other.any():
            label[on_grid(other)] = OTHER
        if wmh.any():
            label[on_grid(wmh)] = WMH
        stripped_mm = None
        if c["skull_stripped"]:
            stripped_mm = float(rng.uniform(*s.strip_margin_mm))
            jitter = smooth_random_field(label.shape, s.target_spacing, 8.0, rng)[0]
            keep = brain_distance[centre] <= stripped_mm + 0.75 * (1.0 + np.clip(jitter, -1.0, 1.0))
            keep &= label > 0
            keep = ndi.binary_fill_holes(keep)
            out_image[~keep] = 0.0
            label[~keep] = 0

        affine = np.diag([*map(float, s.target_spacing), 1.0])
        affine[:3, 3] = [(step - 1) / 2.0 - (n - 1) / 2.0 for n, step in zip(shape, self.steps)]
        voxel_ml = float(np.prod(s.target_spacing)) / 1000.0
        info = {
            "seed": int(seed),
            "label_map": label_map.name,
            **{k: v for k, v in c.items() if k not in ("map_index", "lesion_volume_ml")},
            "requested_lesion_volume_ml": float(c["lesion_volume_ml"]),
            "lesion_volume_ml": float(np.count_nonzero(label == WMH) * voxel_ml),
            "other_volume_ml": float(np.count_nonzero(label == OTHER) * voxel_ml),
            "ventricle_volume_ml": float(np.count_nonzero(label == VENTRICLES) * voxel_ml),
            "intracranial_volume_ml": float(np.count_nonzero(label > 0) * voxel_ml),
            "patterns": patterns,
            "lesion_contrast": contrast,
            "mimics": mimics,
            "gamma": gamma,
            "snr": float(snr),
            "ghosting": bool(ghost),
            "strip_margin_mm": stripped_mm,
            "work_shape": list(shape),
        }
        return SyntheticSample(
            image=out_image.astype(np.float32), label=label.astype(np.uint8), affine=affine, info=info
        )
