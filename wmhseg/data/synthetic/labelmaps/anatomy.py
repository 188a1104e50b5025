"""Whole-head FreeSurfer label maps as the anatomy of synthetic FLAIR images.

A label map (FreeSurfer look-up-table values: 2/41 cerebral white matter, 3/42 cortex,
4/43 lateral ventricles, 24 CSF, ..., extra-cerebral tissues >= 500 as in SynthSeg's
training maps) is read once, cropped to the head and stored as compact ``uint8`` indices,
together with three distance fields on a coarse (about 2 mm) grid that lesion placement and
skull stripping need: the distance to the lateral ventricles, the depth inside the cerebral
white matter and the distance outside the brain.

The training classes of the synthetic model (``CLASSES``) follow from the labels: WMH and
other pathology are painted later; the lateral ventricles, the rest of the brain and the
CSF come from the map (Billot et al., "SynthSeg: segmentation of brain MRI scans of any
contrast and resolution without retraining", Medical Image Analysis 2023).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

#: Output classes of a network trained on synthetic images (label values 0..5).
CLASSES = ("background", "wmh", "other_pathology", "lateral_ventricles", "brain", "csf")
WMH, OTHER, VENTRICLES, BRAIN, CSF_CLASS = 1, 2, 3, 4, 5

CEREBRAL_WM = (2, 41)
CORTEX = (3, 42)
LATERAL_VENTRICLES = (4, 5, 43, 44)
CSF = (24,)
EXTRA_CEREBRAL_MIN = 500
#: Tissue groups that share a FLAIR contrast prior; labels below 500 not listed are "brain_other".
TISSUE_GROUPS: dict[str, tuple[int, ...]] = {
    "wm": CEREBRAL_WM,
    "cortex": CORTEX,
    "ventricles": LATERAL_VENTRICLES + (14, 15),
    "csf": CSF,
    "deep_grey": (10, 11, 12, 13, 26, 49, 50, 51, 52, 58),
    "mesial_temporal": (17, 18, 53, 54),
    "cerebellum_wm": (7, 46),
    "cerebellum_cortex": (8, 47),
    "brainstem": (16, 28, 60),
    "vessel": (30, 62),
    "choroid": (31, 63),
}
LABEL_MAP_SUFFIXES = (".nii", ".nii.gz", ".mgz")
FIELD_STEP_MM = 2.0
FIELD_NAMES = ("ventricle_distance", "wm_depth", "brain_distance")


def tissue_group(value: int) -> str:
    """The contrast group of a FreeSurfer label value (``"background"``, ``"extra"`` for >= 500)."""
    if value == 0:
        return "background"
    if value >= EXTRA_CEREBRAL_MIN:
        return "extra"
    for name, values in TISSUE_GROUPS.items():
        if value in values:
            return name
    return "brain_other"


def class_of_labels(values: np.ndarray) -> np.ndarray:
    """Training class (``CLASSES`` index) of FreeSurfer label values: ventricles, CSF, brain or background."""
    values = np.asarray(values)
    out = np.where((values > 0) & (values < EXTRA_CEREBRAL_MIN), BRAIN, 0).astype(np.uint8)
    out[np.isin(values, LATERAL_VENTRICLES)] = VENTRICLES
    out[np.isin(values, CSF)] = CSF_CLASS
    return out


@dataclass
class LabelMap:
    """One head: compact ``labels`` (indices into ``values``) with ``affine`` (voxel -> world mm), and
    ``fields`` (3, ...) float32 distances in mm (``FIELD_NAMES``) on a grid with ``fields_affine``."""

    name: str
    labels: np.ndarray
    values: np.ndarray
    affine: np.ndarray
    fields: np.ndarray
    fields_affine: np.ndarray
    brain_centre_mm: np.ndarray
    brain_extent_mm: np.ndarray

    @property
    def spacing(self) -> np.ndarray:
        return np.linalg.norm(self.affine[:3, :3], axis=0)


def _fields(
    brain: np.ndarray, wm: np.ndarray, ventricles: np.ndarray, spacing: np.ndarray, step: np.ndarray
) -> np.ndarray:
    """Distance to the ventricles, depth in the white matter, distance outside the brain (mm), on a strided grid."""
    sub = tuple(slice(None, None, int(s)) for s in step)
    sampling = spacing * step
    out = np.empty((3, *brain[sub].shape), dtype=np.float32)
    vent = ventricles[sub]
    out[0] = ndi.distance_transform_edt(~vent, sampling=sampling) if vent.any() else 1e3
    out[1] = ndi.distance_transform_edt(wm[sub], sampling=sampling)
    out[2] = ndi.distance_transform_edt(~brain[sub], sampling=sampling)
    return out


def load_label_map(path: str | os.PathLike) -> LabelMap:
    """Read one FreeSurfer-style label map and derive what the generator needs.

    Raises:
        ValueError: naming the file, if it is not a 3D integer label map with cerebral white
            matter (2/41) and lateral ventricles (4/43).
    """
    path = Path(path)
    try:
        image = nib.load(str(path))
        data = np.asarray(image.dataobj)
    except Exception as err:
        raise ValueError(f"{path}: cannot be read as a label map ({err})") from err
    data = np.squeeze(data)
    if data.ndim != 3:
        raise ValueError(f"{path}: a label map must be 3D, got shape {data.shape}")
    if not np.all(np.isfinite(data)) or np.any(data != np.round(data)) or data.min() < 0:
        raise ValueError(f"{path}: is not a label map (values must be non-negative integers)")
    data = data.astype(np.int32)
    present = np.unique(data)
    missing = [
        name
        for name, values in (("cerebral white matter (2/41)", CEREBRAL_WM), ("lateral ventricles (4/43)", (4, 43)))
        if not np.isin(values, present).any()
    ]
    if missing:
        raise ValueError(f"{path}: is not a FreeSurfer label map: no {' and no '.join(missing)}")
    if present.size > 255:
        raise ValueError(f"{path}: has {present.size} distinct labels; at most 255 are supported")
    idx = np.argwhere(data > 0)
    lo, hi = np.maximum(idx.min(0) - 2, 0), np.minimum(idx.max(0) + 3, data.shape)
    data = data[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    affine = image.affine.copy()
    affine[:3, 3] = image.affine[:3, :3] @ lo + image.affine[:3, 3]
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    step = np.maximum(np.round(FIELD_STEP_MM / spacing), 1).astype(int)
    classes = class_of_labels(data)
    brain = (classes == BRAIN) | (classes == VENTRICLES)
    fields = _fields(brain, np.isin(data, CEREBRAL_WM), classes == VENTRICLES, spacing, step)
    brain_idx = np.argwhere(brain)
    centre_vox = (brain_idx.min(0) + brain_idx.max(0)) / 2.0
    extent_vox = brain_idx.max(0) - brain_idx.min(0) + 1.0
    return LabelMap(
        name=path.name.split(".")[0],
        labels=np.searchsorted(present, data).astype(np.uint8),
        values=present,
        affine=affine,
        fields=fields,
        fields_affine=affine @ np.diag([*step, 1.0]),
        brain_centre_mm=affine[:3, :3] @ centre_vox + affine[:3, 3],
        brain_extent_mm=np.abs(affine[:3, :3] @ extent_vox),
    )


def label_map_files(folder: str | os.PathLike) -> list[Path]:
    """The label-map files (NIfTI or MGZ) in ``folder``, sorted by name; an error naming the folder if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of label maps")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(LABEL_MAP_SUFFIXES))
    if not files:
        raise FileNotFoundError(f"{folder}: holds no label maps ({', '.join(LABEL_MAP_SUFFIXES)})")
    return files


def load_label_maps(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[LabelMap]:
    """All label maps of a folder, or of a list of files."""
    files = (
        label_map_files(source)
        if isinstance(source, (str, os.PathLike)) and Path(source).is_dir()
        else [Path(p) for p in ([source] if isinstance(source, (str, os.PathLike)) else source)]
    )
    return [load_label_map(p) for p in files]
