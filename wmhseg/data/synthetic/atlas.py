"""The tissue atlas shipped with wmhseg, decoded to physical units.

The atlas is derived from the MNI ICBM152 2009a nonlinear symmetric templates (see
``wmhseg/data/assets/ICBM152_2009a_LICENSE.txt`` and ``pipelines/build_phantom_atlas.py``):
grey matter, white matter and CSF probabilities, the distance to the lateral ventricles,
the depth inside white matter and the distance outside the brain, on a 1.5 mm RAS grid
in MNI world coordinates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np

ASSETS = Path(__file__).resolve().parents[1] / "assets"
ATLAS_FILE = ASSETS / "icbm152_2009a_phantom_atlas.nii.gz"


@dataclass(frozen=True)
class TissueAtlas:
    """Tissue maps on one grid: probabilities in [0, 1], distances in mm, ``affine`` voxel -> MNI mm."""

    maps: dict[str, np.ndarray]
    affine: np.ndarray
    brain_centre_mm: np.ndarray  # centre of the brain's bounding box, MNI mm

    @property
    def shape(self) -> tuple[int, int, int]:
        return next(iter(self.maps.values())).shape

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))


@lru_cache(maxsize=1)
def load_atlas() -> TissueAtlas:
    """Read and decode the shipped atlas once per process (read-only arrays)."""
    if not ATLAS_FILE.is_file():
        raise FileNotFoundError(
            f"phantom atlas missing: {ATLAS_FILE}; rebuild it with pipelines/build_phantom_atlas.py"
        )
    sidecar = json.loads(ATLAS_FILE.with_name(ATLAS_FILE.name.replace(".nii.gz", ".json")).read_text())
    img = nib.load(ATLAS_FILE)
    data = np.asarray(img.dataobj)
    maps = {}
    for i, channel in enumerate(sidecar["channels"]):
        value = data[..., i].astype(np.float32) * np.float32(channel["scale"])
        value.setflags(write=False)
        maps[channel["name"]] = value
    brain = np.argwhere(maps["brain_distance"] == 0)
    centre = img.affine[:3, :3] @ (0.5 * (brain.min(0) + brain.max(0))) + img.affine[:3, 3]
    return TissueAtlas(maps=maps, affine=img.affine.copy(), brain_centre_mm=centre)
