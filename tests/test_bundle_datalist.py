"""Bad training datalists fail before the first iteration, with every bad entry and its problem named."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from bundle_helpers import TRAIN, error_chain, mlflow_runs, sqlite_uri, tiny_overrides, write_phantom_set

from wmhseg.bundle import load_split, run_workflow

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _resave(path, data=None, shift_mm=0.0):
    """Rewrite a NIfTI file with other voxel values and/or its affine shifted along x."""
    image = nib.load(path)
    array = np.asarray(image.dataobj) if data is None else data
    moved = image.affine.copy()
    moved[0, 3] += shift_mm
    nib.save(nib.Nifti1Image(array.astype(np.float32), moved), path)


def test_every_bad_entry_is_named_with_its_problem(tmp_path):
    datalist = write_phantom_set(tmp_path / "data", n_cases=6, n_folds=3)
    data = datalist.parent
    assert len(load_split(datalist, "all")) == 6  # the set itself is fine

    _resave(data / "case01" / "wmh.nii.gz", shift_mm=5.0)  # the label on another grid: moved 5 mm
    label = np.asarray(nib.load(data / "case02" / "wmh.nii.gz").dataobj)
    _resave(data / "case02" / "wmh.nii.gz", data=label[:, :, :10])  # the label on another grid: fewer slices
    values = label.copy()
    values[0, 0, 0], values[0, 0, 1] = 3, 255  # a 0/255 mask, a class the task does not have
    _resave(data / "case04" / "wmh.nii.gz", data=values)
    with pytest.raises(ValueError) as raised:
        load_split(datalist, "all")
    message = str(raised.value)
    assert message.startswith(f"datalist {datalist}: 3 bad item(s):")
    lines = message.splitlines()[1:]
    assert (
        lines[0]
        .strip()
        .startswith(
            f"'training' item 1 (subject case01): label {data / 'case01' / 'wmh.nii.gz'} "
            f"is not on the voxel grid of its image {data / 'case01' / 'FLAIR.nii.gz'}"
        )
    )
    assert "affines differ by up to 5 mm" in lines[0]
    assert (
        lines[1].strip().startswith("'training' item 2 (subject case02): label")
        and "label shape 48x48x10, image shape 48x48x12" in lines[1]
    )
    assert lines[2].strip().startswith("'training' item 4 (subject case04): label")
    assert "holds values outside the classes 0..2 (3, 255)" in lines[2]
    # a task with six classes accepts label 3, not 255; only the split's own items are checked
    with pytest.raises(ValueError, match=r"item 4 \(subject case04\).*outside the classes 0\.\.5 \(255\)"):
        load_split(datalist, "validation", fold=1, num_classes=6)

    (data / "case03" / "FLAIR.nii.gz").unlink()
    (data / "case05" / "wmh.nii.gz").unlink()
    with pytest.raises(FileNotFoundError) as raised:
        load_split(datalist, "training", fold=1)
    lines = str(raised.value).splitlines()
    assert lines[0] == f"datalist {datalist}: 2 file(s) not found:"
    assert (
        lines[1].strip() == f"'training' item 3 (subject case03): image not found: {data / 'case03' / 'FLAIR.nii.gz'}"
    )
    assert lines[2].strip() == f"'training' item 5 (subject case05): label not found: {data / 'case05' / 'wmh.nii.gz'}"


def test_empty_lists_and_splits_are_refused(tmp_path):
    datalist = write_phantom_set(tmp_path / "data", n_cases=2, n_folds=1)
    with pytest.raises(ValueError, match=r"the 'training' split \(fold 0\) is empty"):
        load_split(datalist, "training", fold=0)  # every item is in the validation fold
    content = json.loads(datalist.read_text())
    datalist.write_text(json.dumps({**content, "training": []}))
    with pytest.raises(ValueError, match="its 'training' list is empty"):
        load_split(datalist, "training", fold=0)


def test_training_on_a_bad_datalist_fails_before_the_first_iteration(tmp_path):
    datalist = write_phantom_set(tmp_path / "data", n_cases=3)
    label = tmp_path / "data" / "case02" / "wmh.nii.gz"
    _resave(label, shift_mm=2.0)
    with pytest.raises(Exception) as raised:
        run_workflow(TRAIN, "training", **tiny_overrides(tmp_path, datalist, run_name="bad"))
    assert any(
        "'training' item 2 (subject case02)" in m and "not on the voxel grid" in m for m in error_chain(raised.value)
    )
    assert mlflow_runs(sqlite_uri(tmp_path), "test") == []  # no run was started, so none is left open
    assert not (tmp_path / "models" / "latest.pt").exists()
