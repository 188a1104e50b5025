"""Importer for the Kaggle LGG brain-MRI segmentation data (``lgg-mri-segmentation``, ``kaggle_3m``).

Buda M., Saha A., Mazurowski M.A., "Association of genomic subtypes of lower-grade
gliomas with shape features automatically extracted by a deep learning algorithm",
Computers in Biology and Medicine 109 (2019).  The Kaggle layout is one folder per
case, ``kaggle_3m/TCGA_<site>_<id>_<date>/``, holding 3-channel 256×256 slices
``<case>_<n>.tif`` and their masks ``<case>_<n>_mask.tif``.

:func:`build_lgg_datalist` writes a datalist of 2D slices in the shared wmhseg format
(``"training"`` entries with a cross-validation ``"fold"``, plus a held-out
``"test"`` list) split **by patient**: every slice of a patient lands in the same fold
or in the test list.  (The SA-UNet brain notebook splits by slice, which leaks
patients between its splits.)  The patient is the TCGA barcode ``TCGA_<site>_<id>``;
``"scanner"`` holds the TCGA tissue-source site, the contributing institution.

Command line: ``wmhseg prepare lgg <kaggle_3m> -o lgg.json``.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any

from ..io import write_text_atomic

_SLICE = re.compile(r"^(?P<case>.+)_(?P<slice>\d+)(?P<mask>_mask)?\.tif$")
_CASE = re.compile(r"^TCGA_(?P<site>[A-Za-z0-9]+)_(?P<id>[A-Za-z0-9]+)(_.*)?$")


def find_lgg_slices(root: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """Slices under ``root`` (the ``kaggle_3m`` folder or its parent), grouped by patient.

    Returns ``{patient: [{"image", "label", "case", "site", "slice"}, ...]}`` with absolute
    paths, sorted by case and slice number.  Raises ``FileNotFoundError`` when no case
    folder is found and ``ValueError`` naming the file for an image without its mask,
    a mask without its image, or a slice named after another case.
    """
    root = Path(root)
    if (root / "kaggle_3m").is_dir():
        root = root / "kaggle_3m"
    cases = sorted(p for p in root.iterdir() if p.is_dir() and _CASE.match(p.name)) if root.is_dir() else []
    if not cases:
        raise FileNotFoundError(f"{root}: no kaggle_3m case folders (TCGA_<site>_<id>_<date>) found.")
    patients: dict[str, list[dict[str, Any]]] = {}
    for case_dir in cases:
        case = case_dir.name
        match = _CASE.match(case)
        assert match is not None
        images: dict[int, Path] = {}
        masks: dict[int, Path] = {}
        for path in sorted(case_dir.glob("*.tif")):
            name = _SLICE.match(path.name)
            if name is None or name["case"] != case:
                raise ValueError(
                    f"{path}: not a slice of case {case} (expected {case}_<n>.tif or {case}_<n>_mask.tif)."
                )
            (masks if name["mask"] else images)[int(name["slice"])] = path
        for index in sorted(set(images) ^ set(masks)):
            if index in images:
                raise ValueError(f"{images[index]}: slice has no mask (expected {case}_{index}_mask.tif).")
            raise ValueError(f"{masks[index]}: mask has no image (expected {case}_{index}.tif).")
        if not images:
            raise ValueError(f"{case_dir}: case folder holds no slices.")
        patient = f"TCGA_{match['site']}_{match['id']}"
        patients.setdefault(patient, []).extend(
            {
                "image": images[i].resolve(),
                "label": masks[i].resolve(),
                "case": case,
                "site": match["site"],
                "slice": i,
            }
            for i in sorted(images)
        )
    return patients


def split_by_patient(
    patients: list[str], num_folds: int = 5, test_fraction: float = 0.1, seed: int = 42
) -> dict[str, int | None]:
    """Assign each patient a fold in ``0 … num_folds-1``, or ``None`` for the held-out test set.

    Patients are shuffled with ``seed``; ``round(test_fraction · n)`` of them go to the
    test set and the rest are dealt to the folds in turn, so fold sizes differ by at
    most one patient.
    """
    if num_folds < 1:
        raise ValueError(f"num_folds must be at least 1, got {num_folds}.")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}.")
    order = sorted(patients)
    random.Random(seed).shuffle(order)
    num_test = int(round(test_fraction * len(order)))
    if len(order) - num_test < num_folds:
        raise ValueError(
            f"{len(order)} patients cannot fill {num_folds} folds after holding out {num_test} for testing."
        )
    split: dict[str, int | None] = {p: None for p in order[:num_test]}
    split.update({p: i % num_folds for i, p in enumerate(order[num_test:])})
    return split


def build_lgg_datalist(
    root: str | os.PathLike,
    output: str | os.PathLike,
    num_folds: int = 5,
    test_fraction: float = 0.1,
    seed: int = 42,
) -> Path:
    """Write the slice datalist of the kaggle_3m tree at ``root`` to ``output`` and return its path.

    Paths in the datalist are relative to the folder of ``output``, so
    ``monai.data.load_decathlon_datalist(output, data_list_key="training", base_dir=folder)``
    resolves them.  The file is written atomically.
    """
    output = Path(output)
    patients = find_lgg_slices(root)
    split = split_by_patient(list(patients), num_folds, test_fraction, seed)
    folder = output.parent.resolve()
    training: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    for patient in sorted(patients):
        fold = split[patient]
        for item in patients[patient]:
            entry: dict[str, Any] = {
                "image": os.path.relpath(item["image"], folder),
                "label": os.path.relpath(item["label"], folder),
                "subject": patient,
                "scanner": item["site"],
                "case": item["case"],
                "slice": item["slice"],
            }
            if fold is None:
                test.append(entry)
            else:
                training.append({**entry, "fold": fold})
    datalist = {
        "name": "lgg-mri-segmentation (kaggle_3m), 2D slices",
        "split": {"by": "patient", "num_folds": num_folds, "test_fraction": test_fraction, "seed": seed},
        "training": training,
        "test": test,
    }
    write_text_atomic(output, json.dumps(datalist, indent=1))
    return output
