"""Synthetic training data from label maps: an endless on-the-fly stream, and a cached validation set.

Drawing a volume costs a few CPU seconds (``benchmarks/bench_synthetic.py``); a training step
uses a few patches. ``SyntheticFLAIRStream`` therefore keeps a rolling pool of volumes per
data-loader worker: every ``patches_per_volume`` patches one new volume replaces the oldest,
and each patch comes from a random volume of the pool. With one worker the generator runs
beside the network, so training does not wait for data (the benchmark measures the share).

``synthetic_set`` writes a fixed set (for validation and model selection) as NIfTI files and a
datalist, cached by the generator's code, settings and label maps, like the phantom set.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from ....io import save_nifti
from ...datalist import is_cached, write_datalist
from ..dataset import folder_lock
from .anatomy import CLASSES, label_map_files, load_label_maps
from .generator import FLAIRSynthesizer, SynthesisSettings, SyntheticSample


def split_label_maps(folder: str | os.PathLike, n_validation: int = 2) -> dict[str, list[str]]:
    """``{"training": files, "validation": files}``: the last ``n_validation`` maps (by name) are held out."""
    if folder in (None, ""):
        raise ValueError(
            "no label maps: pass --label_maps_dir DIR, a folder of whole-head FreeSurfer label maps "
            "(e.g. SynthSeg's training label maps)"
        )
    files = [str(p) for p in label_map_files(folder)]
    if not 0 <= n_validation < len(files):
        raise ValueError(
            f"{folder}: {len(files)} label maps cannot hold out {n_validation} for validation "
            f"and keep at least one for training"
        )
    cut = len(files) - n_validation
    return {"training": files[:cut], "validation": files[cut:]}


def sample_to_dict(sample: SyntheticSample, name: str) -> dict[str, Any]:
    """A sample as MONAI data: channel-first ``image`` and ``label`` MetaTensors with the sample's affine."""
    meta = {"filename_or_obj": name}
    affine = torch.as_tensor(sample.affine, dtype=torch.float64)
    return {
        "image": MetaTensor(torch.from_numpy(sample.image[None]), affine=affine, meta=dict(meta)),
        "label": MetaTensor(torch.from_numpy(sample.label[None].astype(np.float32)), affine=affine, meta=dict(meta)),
    }


class SyntheticFLAIRStream(torch.utils.data.IterableDataset):
    """Endless training patches of synthetic FLAIR (see the module docstring).

    Args:
        label_maps: label-map files (or a folder) to draw anatomy from.
        volume_transform: applied once per volume (e.g. intensity normalisation), on the
            ``sample_to_dict`` form.
        patch_transform: applied per draw; may return a list of patches (e.g. ``RandCropByLabelClassesd``
            with ``num_samples``), each is yielded.
        settings: :class:`SynthesisSettings` fields to override.
        pool_size: volumes kept per worker.
        patches_per_volume: draws between two new volumes.
        seed: base seed; worker ``w`` draws volumes from seeds ``seed + 1_000_003 * w + i``.
    """

    def __init__(
        self,
        label_maps: str | os.PathLike | Sequence[str | os.PathLike],
        volume_transform: Callable | None = None,
        patch_transform: Callable | None = None,
        settings: dict[str, Any] | None = None,
        pool_size: int = 8,
        patches_per_volume: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.label_maps = label_maps
        self.volume_transform = volume_transform
        self.patch_transform = patch_transform
        self.settings = SynthesisSettings.from_dict(settings)
        self.pool_size = max(1, int(pool_size))
        self.patches_per_volume = max(1, int(patches_per_volume))
        self.seed = int(seed)
        self.volumes_drawn = 0

    def _volume(self, synthesizer: FLAIRSynthesizer, seed: int) -> dict[str, Any]:
        data = sample_to_dict(synthesizer(seed), f"synthetic-{seed}")
        self.volumes_drawn += 1
        return self.volume_transform(data) if self.volume_transform is not None else data

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        worker_id = worker.id if worker is not None else 0
        if worker is not None:
            torch.set_num_threads(1)
        synthesizer = FLAIRSynthesizer(load_label_maps(self.label_maps), self.settings)
        rng = np.random.default_rng(self.seed + 7919 * worker_id)
        base, count, draws = self.seed + 1_000_003 * worker_id, 0, 0
        pool: list[dict[str, Any]] = []
        while True:
            if len(pool) < self.pool_size or draws >= self.patches_per_volume:
                if len(pool) >= self.pool_size:
                    pool.pop(0)
                pool.append(self._volume(synthesizer, base + count))
                count, draws = count + 1, 0
            draws += 1
            data = dict(pool[int(rng.integers(len(pool)))])
            out = self.patch_transform(data) if self.patch_transform is not None else data
            yield from (out if isinstance(out, list) else [out])


def _set_key(files: Sequence[str], n: int, seed: int, settings: SynthesisSettings) -> str:
    digest = hashlib.sha256(
        json.dumps(
            {
                "n": n,
                "seed": seed,
                "settings": str(settings),
                "maps": [(Path(f).name, Path(f).stat().st_size) for f in files],
            }
        ).encode()
    )
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def synthetic_set(
    folder: str | os.PathLike,
    label_maps: str | os.PathLike | Sequence[str | os.PathLike],
    n: int,
    seed: int = 1,
    settings: dict[str, Any] | None = None,
) -> Path:
    """Datalist of ``n`` synthetic subjects in ``folder`` (one fold, 0), generated only when missing or stale.

    Each subject is ``subjects/synthetic-NNN/{FLAIR,label}.nii.gz`` on the network grid (FLAIR float32, label
    uint8 with the classes of ``CLASSES``); the datalist's ``scanner`` says the slice thickness and axis.
    """
    folder = Path(folder)
    files = (
        [str(p) for p in label_map_files(label_maps)]
        if isinstance(label_maps, (str, os.PathLike))
        else [str(p) for p in label_maps]
    )
    synthesis = SynthesisSettings.from_dict(settings)
    key = _set_key(files, n, seed, synthesis)
    datalist = folder / "datalist.json"

    if is_cached(datalist, key):
        return datalist
    with folder_lock(folder):
        if is_cached(datalist, key):
            return datalist
        synthesizer = FLAIRSynthesizer(load_label_maps(files), synthesis)
        entries = []
        for index in range(n):
            sample = synthesizer(seed * 100_003 + index)
            subject = f"synthetic-{index:03d}"
            paths = {
                "image": folder / "subjects" / subject / "FLAIR.nii.gz",
                "label": folder / "subjects" / subject / "label.nii.gz",
            }
            save_nifti(sample.image, sample.affine, paths["image"], np.float32)
            save_nifti(sample.label, sample.affine, paths["label"], np.uint8)
            info = sample.info
            axis = "axial" if info["slice_axis"] == 2 else ("sagittal" if info["slice_axis"] == 0 else "coronal")
            entries.append(
                {
                    **paths,
                    "subject": subject,
                    "fold": 0,
                    "scanner": f"synthetic-{info['thickness_mm']:.1f}mm-{axis}",
                    "lesion_volume_ml": round(info["lesion_volume_ml"], 3),
                    "label_map": info["label_map"],
                    "skull_stripped": info["skull_stripped"],
                }
            )
        write_datalist(
            datalist,
            entries,
            name="wmhseg-synthetic",
            labels=dict(enumerate(CLASSES)),
            description="synthetic FLAIR from label maps (wmhseg.data.synthetic.labelmaps)",
            generator={"key": key, "seed": seed, "label_maps": [Path(f).name for f in files]},
        )
    return datalist
