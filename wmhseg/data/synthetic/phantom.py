"""One synthetic FLAIR subject: anatomy, lesions, contrast and acquisition, from a seed.

Pipeline: the ICBM152-derived atlas is elastically deformed (``anatomy``), lesion and
infarct score maps are drawn on it (``lesions``), a FLAIR-like intensity image is
composed (CSF dark, white matter below grey matter, lesions brightest, optional skull
and scalp), and the subject is placed in the scanner with a random head size and pose
and imaged on the protocol's grid with partial volume, bias field, ghosting and Rician
noise (``acquisition``). Labels follow the WMH challenge: 0 background, 1 WMH,
2 other pathology (dilated by one voxel in-plane, label 1 winning where they touch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from . import acquisition as acq
from .anatomy import ElasticWarp, SubjectAnatomy, subject_anatomy
from .atlas import load_atlas
from .fields import smooth_random_field
from .lesions import infarct_score, wmh_score

ORIENTATIONS = ("RAS", "LPS", "LAS")
DEFAULT_LESION_RANGE_ML = (0.5, 80.0)


@dataclass
class Phantom:
    """A phantom in its stored orientation: ``image`` float32, ``label`` and ``brain_mask`` uint8, ``affine``."""

    image: np.ndarray
    label: np.ndarray
    brain_mask: np.ndarray
    affine: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def severity_for_volume(volume_ml: float) -> float:
    """Map a WMH load to a severity in [0, 1]: 0.3 ml -> 0, 100 ml -> 1, logarithmic in between."""
    return float(np.clip(np.log(max(volume_ml, 1e-3) / 0.3) / np.log(100 / 0.3), 0.0, 1.0))


def _draw_parameters(rng: np.random.Generator, lesion_range: tuple[float, float]) -> dict[str, Any]:
    """Every per-subject random choice, always drawn in the same order so explicit overrides
    do not change the others."""
    lo, hi = lesion_range
    wm_level = rng.uniform(250, 700)
    return {
        "lesion_volume_ml": float(np.exp(rng.uniform(np.log(lo), np.log(hi)))),
        "other_pathology": bool(rng.uniform() < 0.25),
        "orientation": ORIENTATIONS[int(rng.integers(len(ORIENTATIONS)))],
        "skull_stripped": bool(rng.uniform() < 0.35),
        "contrast": {  # tissue intensities relative to white matter
            "gm": rng.uniform(1.12, 1.35),
            "csf": rng.uniform(0.08, 0.3),
            "wmh": rng.uniform(1.35, 1.85),
            "skull": rng.uniform(0.03, 0.12),
            "marrow": rng.uniform(0.35, 0.8),
            "fat": rng.uniform(0.9, 1.5),
            "soft_tissue": rng.uniform(0.5, 0.8),
            "texture": rng.uniform(0.02, 0.05),
        },
        "wm_level": wm_level,
        "snr": rng.uniform(15, 40),
        "bias_strength": rng.uniform(0.05, 0.2),
        "ghosting": float(rng.uniform(0.02, 0.08)) if rng.uniform() < 0.35 else 0.0,
        "ghost_axis": int(rng.integers(2)),
        "scale": rng.uniform(0.86, 1.0) * rng.uniform(0.97, 1.03, size=3),
        "rotation_deg": rng.uniform(-1, 1, size=3) * np.array([12.0, 5.0, 6.0]),  # pitch, roll, yaw
        "shift_mm": rng.uniform(-5, 5, size=3),
        "displacement_mm": rng.uniform(1.5, 3.5),
        "ventricle_enlargement_mm": rng.uniform(0.0, 3.0),
        "skull_thickness": rng.uniform(0.8, 1.2),
        "n_infarcts": int(rng.integers(1, 3)),
        "tissue_sharpness": rng.uniform(1.5, 2.5),
    }


def _head_shells(
    brain_distance: np.ndarray, contrast: dict[str, float], thickness: float, perturbation: np.ndarray
) -> np.ndarray:
    """FLAIR intensity of CSF, skull (tables and diploe), galea, scalp fat and skin by distance from the brain."""
    d = (brain_distance + 1.5 * perturbation) / thickness
    layers = [
        (1.5, contrast["csf"]),
        (3.0, contrast["skull"]),
        (5.5, contrast["marrow"]),
        (7.0, contrast["skull"]),
        (8.5, contrast["soft_tissue"]),
        (13.0, contrast["fat"]),
        (14.5, contrast["soft_tissue"]),
    ]
    out = np.zeros_like(brain_distance)
    for outer, value in reversed(layers):
        out[d <= outer] = value
    out[brain_distance <= 0] = 0.0
    return out


def _pose(params: dict[str, Any], centre_mm: np.ndarray) -> np.ndarray:
    """Atlas world -> scanner world: scale and rotate about the brain centre, which lands near the origin."""
    linear = Rotation.from_euler("xyz", params["rotation_deg"], degrees=True).as_matrix() @ np.diag(params["scale"])
    pose = np.eye(4)
    pose[:3, :3] = linear
    pose[:3, 3] = -linear @ centre_mm + params["shift_mm"]
    return pose


def _paint(image_sub: np.ndarray, box: tuple[np.ndarray, np.ndarray], weight: np.ndarray, value: np.ndarray) -> None:
    """Blend ``value`` into the sub-sampled image inside ``box`` with partial-volume ``weight``."""
    (x0, y0, z0), (x1, y1, z1) = box
    region = image_sub[x0:x1, y0:y1, z0:z1]
    region += weight * (value - region)


def make_phantom(
    seed: int,
    protocol: str | acq.Protocol = "utrecht",
    *,
    lesion_volume_ml: float | None = None,
    lesion_volume_range: tuple[float, float] = DEFAULT_LESION_RANGE_ML,
    other_pathology: bool | None = None,
    orientation: str | None = None,
    skull_stripped: bool | None = None,
    artefacts: bool = True,
) -> Phantom:
    """Generate one synthetic FLAIR subject, deterministic for ``seed``.

    Args:
        seed: the subject's seed; the same arguments give the same arrays.
        protocol: a name in ``PROTOCOLS`` or a :class:`~wmhseg.data.synthetic.acquisition.Protocol`.
        lesion_volume_ml: WMH (label 1) volume in the output label image, in ml; drawn
            log-uniformly from ``lesion_volume_range`` when None; 0 gives no WMH.
        other_pathology: add infarct-like label-2 regions; random (25 %) when None.
        orientation: NIfTI orientation code of the stored arrays (e.g. "RAS", "LPS",
            "LAS"); random among those three when None. It changes voxel order and
            header only, never values.
        skull_stripped: brain only, zero outside (True), or with skull and scalp (False);
            random (35 % stripped) when None.
        artefacts: bias field, ghosting and Rician noise (False gives the clean image,
            useful for tests).
    """
    protocol = acq.PROTOCOLS[protocol] if isinstance(protocol, str) else protocol
    # independent streams: parameters, warp, WMH, infarcts, acquisition noise, textures
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    params = _draw_parameters(streams[0], lesion_volume_range)
    for key, value in (
        ("lesion_volume_ml", lesion_volume_ml),
        ("other_pathology", other_pathology),
        ("orientation", orientation),
        ("skull_stripped", skull_stripped),
    ):
        if value is not None:
            params[key] = value
    contrast = params["contrast"]

    # anatomy, lesion scores and the intensity image on the atlas grid, then one elastic warp for all
    atlas = load_atlas()
    anatomy: SubjectAnatomy = subject_anatomy(atlas, params["ventricle_enlargement_mm"], params["tissue_sharpness"])
    maps = anatomy.maps
    source_voxel_ml = float(np.prod(anatomy.spacing) * np.prod(params["scale"])) / 1000.0
    volume_ml = float(params["lesion_volume_ml"])
    wmh = wmh_score(anatomy, streams[2], severity_for_volume(volume_ml)) if volume_ml > 0 else None
    infarct = infarct_score(anatomy, streams[3], params["n_infarcts"]) if params["other_pathology"] else None
    if wmh is not None and infarct is not None:
        wmh[infarct > 0.45] = 0.0
    perturbation, texture = (
        smooth_random_field(anatomy.shape, anatomy.spacing, 12.0, streams[5])[0],
        smooth_random_field(anatomy.shape, anatomy.spacing, 5.0, streams[5])[0],
    )
    intensity = maps["gm"] * contrast["gm"] + maps["wm"] + maps["csf"] * contrast["csf"]
    intensity *= 1.0 + contrast["texture"] * texture
    if not params["skull_stripped"]:
        intensity += _head_shells(maps["brain_distance"], contrast, params["skull_thickness"], perturbation)
    warp = ElasticWarp(anatomy.shape, anatomy.spacing, streams[1], params["displacement_mm"], 20.0)
    intensity = warp(intensity)
    brain = warp(maps["gm"] + maps["wm"] + maps["csf"])
    if wmh is not None:
        # a looser threshold than the final one bounds the region the lesion can occupy
        n_loose = min(wmh.size - 1, int(1.6 * volume_ml / source_voxel_ml) + 1)
        loose = np.partition(wmh.ravel(), wmh.size - n_loose)[wmh.size - n_loose]
        wmh = warp(wmh, box=warp.support(wmh > loose))
    if infarct is not None:
        infarct = warp(infarct, box=warp.support(infarct > 0.3))

    # scanner grids: the stored (reconstruction) grid and the acquisition grid it was interpolated from
    up = protocol.inplane_upsampling
    if protocol.shape[0] % up or protocol.shape[1] % up:
        raise ValueError(f"protocol {protocol.name}: in-plane matrix {protocol.shape[:2]} is not divisible by {up}")
    scanner_from_atlas = _pose(params, atlas.brain_centre_mm)
    recon_affine = acq.canonical_affine(protocol.shape, protocol.spacing, np.zeros(3))
    acq_shape = (protocol.shape[0] // up, protocol.shape[1] // up, protocol.shape[2])
    acq_spacing = (protocol.spacing[0] * up, protocol.spacing[1] * up, protocol.spacing[2])
    acq_affine = recon_affine @ np.array(
        [[up, 0, 0, (up - 1) / 2], [0, up, 0, (up - 1) / 2], [0, 0, 1, 0], [0, 0, 0, 1.0]]
    )
    source_from_scanner = np.linalg.inv(anatomy.affine) @ np.linalg.inv(scanner_from_atlas)
    source_from_acq = source_from_scanner @ acq_affine
    n_acq = acq.subsampling(acq_spacing)  # the stored grid has the same slices, so the same sub-sampling in z
    recon_voxel_ml = float(np.prod(protocol.spacing)) / 1000.0

    image_sub = acq.sample(intensity, source_from_acq, acq_shape, n_acq)
    # nearest neighbour is enough for a mask and halves the cost on large grids
    brain_acq = acq.sample(brain, source_from_acq, acq_shape, order=0)[..., 0] > 0.5
    label = np.zeros(protocol.shape, dtype=np.uint8)

    def region(score: np.ndarray, support: np.ndarray):
        """Sub-sampled score on the acquisition grid around ``support``, and its >50 % critical values
        on the stored grid (in-plane interpolation of the acquisition grid's, as reconstruction does)."""
        box = acq.bounding_box(support, np.linalg.inv(source_from_acq), acq_shape)
        if box is None:
            return None
        sub = acq.sample(score, source_from_acq, box[1] - box[0], n_acq, box[0])
        critical = acq.upsample_inplane(acq.majority_value(sub), up)
        scale = np.array([up, up, 1])
        return box, sub, critical, (box[0] * scale, box[1] * scale)

    if wmh is not None and (found := region(wmh, wmh > loose)) is not None:
        box, score, critical, ((x0, y0, z0), (x1, y1, z1)) = found
        threshold = acq.calibrate_threshold(critical, int(round(volume_ml / recon_voxel_ml)))
        label[x0:x1, y0:y1, z0:z1][critical > threshold] = 1
        if threshold > 0:
            weight = np.clip((score - threshold) / (0.1 * threshold) + 0.5, 0.0, 1.0)
            core = 1.0 + 0.15 * np.clip((score - threshold) / threshold, 0.0, 1.0)
            _paint(image_sub, box, weight, max(contrast["wmh"], 1.15 * contrast["gm"]) * core)

    if infarct is not None and (found := region(infarct, infarct > 0.3)) is not None:
        box, score, critical, ((x0, y0, z0), (x1, y1, z1)) = found
        other = np.zeros(protocol.shape, dtype=bool)
        other[x0:x1, y0:y1, z0:z1] = critical > 0.5
        other = ndi.binary_dilation(other, structure=np.ones((3, 3, 1), dtype=bool))
        label[other & (label != 1)] = 2
        weight = np.clip((score - 0.5) / 0.05 + 0.5, 0.0, 1.0)
        cavity = np.clip((score - 0.7) / 0.2, 0.0, 1.0)
        _paint(image_sub, box, weight, cavity * 1.2 * contrast["csf"] + (1 - cavity) * 0.9 * contrast["wmh"])

    image = image_sub[..., 0] if image_sub.shape[-1] == 1 else image_sub.mean(-1)
    if artefacts:
        image *= acq.bias_field(acq_shape, acq_spacing, params["bias_strength"], streams[4])
        if params["ghosting"] > 0:
            image = acq.ghosting(image, params["ghost_axis"], params["ghosting"])
        image = acq.rician(image, 1.0 / params["snr"], streams[4])
    if params["skull_stripped"]:
        image *= brain_acq
    image = acq.upsample_inplane(image * np.float32(params["wm_level"]), up)
    brain_mask = acq.upsample_inplane(brain_acq.astype(np.uint8), up, order=0)
    image = np.rint(np.clip(image, 0, None)).astype(np.float32)

    axcodes = params["orientation"]
    image, affine = acq.reorient(image, recon_affine, axcodes)
    label, _ = acq.reorient(label, recon_affine, axcodes)
    brain_mask, _ = acq.reorient(brain_mask, recon_affine, axcodes)
    info = {
        "seed": int(seed),
        "protocol": protocol.name,
        "orientation": axcodes,
        "skull_stripped": bool(params["skull_stripped"]),
        "requested_lesion_volume_ml": volume_ml,
        "lesion_volume_ml": float((label == 1).sum() * recon_voxel_ml),
        "other_volume_ml": float((label == 2).sum() * recon_voxel_ml),
    }
    return Phantom(image=image, label=label, brain_mask=brain_mask, affine=affine, info=info)
