"""Build the tissue atlas that the synthetic FLAIR phantoms are drawn from.

Source: the MNI ICBM152 2009a nonlinear symmetric T1 template and its grey- and
white-matter probability maps as carried inside the ``nilearn`` wheel
(``nilearn/datasets/data/mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz``,
1 mm, uint8). Output: ``wmhseg/data/assets/icbm152_2009a_phantom_atlas.nii.gz``, one
4D uint8 image on a 1.5 mm RAS grid cropped to the brain plus a margin for the
synthetic head, with six channels (see ``CHANNELS``), and a JSON sidecar saying how
to decode them. The atlas copyright notice lies beside it.

Only needed to rebuild the asset: ``pip install "nilearn==0.14.1"`` (the ``atlas``
extra) and run ``python pipelines/build_phantom_atlas.py``, or point ``--nilearn-wheel``
at a downloaded wheel file without installing it.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

ASSETS = Path(__file__).resolve().parents[1] / "wmhseg" / "data" / "assets"
STEM = "icbm152_2009a_phantom_atlas"
TEMPLATE = "nilearn/datasets/data/mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"

VOXEL_MM = 1.5
MARGIN_MM = (16.0, 16.0, 16.0)  # head margin around the brain in x, y and top of z
BOTTOM_MARGIN_MM = 8.0  # the template stops at the brain stem; a little room below it
DISTANCE_STEP_MM = 0.1  # distances are stored in 0.1 mm units, so 255 means >= 25.5 mm

# channel name -> (kind, meaning); probabilities are stored x255, distances in 0.1 mm
CHANNELS = {
    "gm": ("probability", "grey matter (template map)"),
    "wm": ("probability", "white matter (template map)"),
    "csf": ("probability", "cerebrospinal fluid: brain mask minus grey and white matter"),
    "ventricle_distance": ("distance", "distance to the lateral ventricles (0 inside them)"),
    "wm_depth": ("distance", "depth inside white matter (distance to the nearest non-WM voxel)"),
    "brain_distance": ("distance", "distance outside the brain mask (0 inside the brain)"),
}


def _read_template(kind: str, wheel: Path | None) -> nib.Nifti1Image:
    member = TEMPLATE.format(kind)
    if wheel is not None:
        with zipfile.ZipFile(wheel) as archive:
            raw = archive.read(member)
        return nib.Nifti1Image.from_bytes(gzip.decompress(raw))
    import nilearn  # only needed here, to locate the files inside the installed package

    return nib.load(Path(nilearn.__file__).parent.parent / member)


def lateral_ventricles(csf: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Largest connected CSF region (probability > 0.5) in a box around the MNI lateral ventricles."""
    world = nib.affines.apply_affine(affine, np.indices(csf.shape).reshape(3, -1).T).T.reshape((3, *csf.shape))
    box = (np.abs(world[0]) < 30) & (world[1] > -50) & (world[1] < 35) & (world[2] > -10) & (world[2] < 40)
    labels, n = ndi.label((csf > 0.5) & box)
    sizes = ndi.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    ventricles = labels == 1 + int(np.argmax(sizes))
    volume_ml = ventricles.sum() * abs(np.linalg.det(affine[:3, :3])) / 1000
    if not 8 < volume_ml < 60:
        raise RuntimeError(f"lateral-ventricle volume {volume_ml:.1f} ml is implausible; check the template.")
    return ventricles


def build(wheel: Path | None) -> dict[str, np.ndarray]:
    t1_img = _read_template("t1", wheel)
    affine = t1_img.affine
    brain = ndi.binary_fill_holes(np.asarray(t1_img.dataobj) > 0)
    gm = np.asarray(_read_template("gm", wheel).dataobj, dtype=np.float32) / 255
    wm = np.asarray(_read_template("wm", wheel).dataobj, dtype=np.float32) / 255
    gm, wm = gm * brain, wm * brain
    csf = np.clip(brain - gm - wm, 0, 1).astype(np.float32)
    ventricles = lateral_ventricles(csf, affine)
    spacing = np.abs(np.diag(affine)[:3])
    maps = {
        "gm": gm,
        "wm": wm,
        "csf": csf,
        "ventricle_distance": ndi.distance_transform_edt(~ventricles, sampling=spacing),
        "wm_depth": ndi.distance_transform_edt(wm > 0.5, sampling=spacing),
        "brain_distance": ndi.distance_transform_edt(~brain, sampling=spacing),
    }
    # the 1.5 mm output grid: brain bounding box plus the head margin, in world (RAS mm) coordinates
    idx = np.argwhere(brain)
    lo = nib.affines.apply_affine(affine, idx.min(0)) - np.array([MARGIN_MM[0], MARGIN_MM[1], BOTTOM_MARGIN_MM])
    hi = nib.affines.apply_affine(affine, idx.max(0)) + np.array(MARGIN_MM)
    shape = tuple(int(np.ceil(s)) + 1 for s in (hi - lo) / VOXEL_MM)
    out_affine = np.diag([VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0])
    out_affine[:3, 3] = lo
    to_source = np.linalg.inv(affine) @ out_affine
    sigma = 0.5 * VOXEL_MM / spacing  # mild anti-aliasing before sub-sampling
    out = {}
    for name, volume in maps.items():
        kind = CHANNELS[name][0]
        smooth = ndi.gaussian_filter(volume.astype(np.float32), sigma) if kind == "probability" else volume
        # outside the template: no tissue, far from ventricles and WM, far outside the brain
        fill = {"probability": 0.0, "distance": 0.0 if name == "wm_depth" else 1e3}[kind]
        res = ndi.affine_transform(
            smooth.astype(np.float32),
            to_source[:3, :3],
            to_source[:3, 3],
            output_shape=shape,
            order=1,
            mode="constant",
            cval=fill,
        )
        scale = 255.0 if kind == "probability" else 1.0 / DISTANCE_STEP_MM
        out[name] = np.clip(np.rint(res * scale), 0, 255).astype(np.uint8)
    out["_affine"] = out_affine
    return out


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save(maps: dict[str, np.ndarray], folder: Path) -> Path:
    affine = maps.pop("_affine")
    stack = np.stack([maps[name] for name in CHANNELS], axis=-1)
    img = nib.Nifti1Image(stack, affine)
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = b"ICBM152 2009a sym tissue atlas, wmhseg"
    buffer = io.BytesIO()
    file_map = img.make_file_map({"image": buffer, "header": buffer})
    img.to_file_map(file_map)
    _write_atomic(folder / f"{STEM}.nii.gz", gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0))
    sidecar = {
        "source": "MNI ICBM152 2009a nonlinear symmetric: T1 template (brain mask) and GM/WM probability maps, "
        "as shipped in the nilearn 0.14.1 wheel (nilearn/datasets/data/*_09a_converted.nii.gz)",
        "built_by": "pipelines/build_phantom_atlas.py",
        "voxel_mm": VOXEL_MM,
        "space": "MNI world coordinates (RAS mm)",
        "channels": [
            {
                "name": n,
                "kind": k,
                "meaning": m,
                "scale": 1 / 255 if k == "probability" else DISTANCE_STEP_MM,
                "unit": "probability" if k == "probability" else "mm (255 stored means at least 25.5 mm)",
            }
            for n, (k, m) in CHANNELS.items()
        ],
        "decode": "physical value = stored uint8 value * scale",
        "licence": "ICBM152_2009a_LICENSE.txt",
    }
    _write_atomic(folder / f"{STEM}.json", (json.dumps(sidecar, indent=2) + "\n").encode())
    return folder / f"{STEM}.nii.gz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--nilearn-wheel",
        type=Path,
        default=None,
        help="read the templates from this wheel file instead of the installed nilearn",
    )
    parser.add_argument("--output", type=Path, default=ASSETS, help="folder to write the atlas into")
    args = parser.parse_args(argv)
    path = save(build(args.nilearn_wheel), args.output)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
