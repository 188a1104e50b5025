"""wmhseg.io: native-grid reading (NIfTI and ITK), header-preserving writes, atomic replacement, one voxel-grid test."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from infer_support import AFFINES, phantom, write_itk, write_nifti
from monai.transforms import LoadImage

from wmhseg.io import (
    GRID_TOLERANCE_MM,
    ImageFileError,
    atomic_path,
    grid_distance_mm,
    grid_mismatch,
    image_problem,
    read_native,
    same_grid,
    save_nifti,
    save_on_native_grid,
    sha256_file,
    strip_image_suffix,
)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".mha", ".nrrd"])
@pytest.mark.parametrize("orientation", list(AFFINES))
def test_read_native_matches_monai_reader_geometry_and_voxel_order(tmp_path, suffix, orientation):
    data = phantom()
    path = tmp_path / f"img{suffix}"
    (write_nifti if suffix.startswith(".nii") else write_itk)(path, data, AFFINES[orientation])
    image = read_native(path)
    monai_image = LoadImage(image_only=True)(str(path))
    assert image.shape == data.shape == tuple(monai_image.shape)
    np.testing.assert_allclose(image.affine, np.asarray(monai_image.affine), atol=1e-5)
    np.testing.assert_allclose(image.affine, AFFINES[orientation], atol=1e-5)
    np.testing.assert_array_equal(image.data, data)
    assert image.voxel_volume_ml == pytest.approx(abs(np.linalg.det(AFFINES[orientation][:3, :3])) / 1000, rel=1e-6)


def test_read_native_rejects_what_is_not_one_3d_volume(tmp_path):
    write_nifti(tmp_path / "two.nii.gz", phantom()[..., None].repeat(2, axis=-1), np.eye(4))
    write_nifti(tmp_path / "flat.nii.gz", phantom()[:, :, 0], np.eye(4))
    write_nifti(tmp_path / "one.nii.gz", phantom()[..., None], np.eye(4))
    (tmp_path / "bad.mha").write_text("garbage")
    sitk.WriteImage(
        sitk.GetImageFromArray(np.zeros((10, 36, 40, 3), np.float32), isVector=True), str(tmp_path / "rgb.mha")
    )
    with pytest.raises(ImageFileError, match=r"rgb\.mha: has 3 values per voxel"):
        read_native(tmp_path / "rgb.mha")
    with pytest.raises(ImageFileError, match=r"two\.nii\.gz: is 4D with 2 volumes"):
        read_native(tmp_path / "two.nii.gz")
    with pytest.raises(ImageFileError, match=r"flat\.nii\.gz: is 2D"):
        read_native(tmp_path / "flat.nii.gz")
    with pytest.raises(ImageFileError, match=r"bad\.mha: cannot be read by ITK"):
        read_native(tmp_path / "bad.mha")
    with pytest.raises(ImageFileError, match="file not found"):
        read_native(tmp_path / "absent.nii.gz")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ImageFileError, match="unsupported file type"):
        read_native(tmp_path / "notes.txt")
    assert read_native(tmp_path / "one.nii.gz").shape == phantom().shape


@pytest.mark.parametrize("codes", [(0, 0), (1, 0), (0, 1), (2, 1), (4, 2)])
def test_save_on_native_grid_keeps_every_geometry_field_of_a_nifti(tmp_path, codes):
    src = write_nifti(tmp_path / "in.nii.gz", phantom(), AFFINES["oblique"], *codes)
    reference = read_native(src, load_data=False)
    mask = (phantom() > 500).astype(np.uint8)
    save_on_native_grid(mask, reference, tmp_path / "mask.nii.gz")
    out, original = nib.load(tmp_path / "mask.nii.gz"), nib.load(src)
    for field in (
        "sform_code",
        "qform_code",
        "srow_x",
        "srow_y",
        "srow_z",
        "quatern_b",
        "quatern_c",
        "quatern_d",
        "qoffset_x",
        "qoffset_y",
        "qoffset_z",
        "pixdim",
        "xyzt_units",
    ):
        np.testing.assert_array_equal(out.header[field], original.header[field], err_msg=field)
    assert out.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(out.dataobj), mask)


def test_save_on_native_grid_refuses_data_on_another_grid(tmp_path):
    reference = read_native(write_nifti(tmp_path / "in.nii.gz", phantom(), np.eye(4)), load_data=False)
    with pytest.raises(ValueError, match="not on the grid"):
        save_on_native_grid(np.zeros((4, 4, 4), np.uint8), reference, tmp_path / "x.nii.gz")
    assert not (tmp_path / "x.nii.gz").exists()


def test_atomic_path_publishes_only_complete_files(tmp_path):
    target = tmp_path / "out.nii.gz"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".nii.gz") and tmp != target
        tmp.write_bytes(b"half")
        assert target.read_bytes() == b"old"  # readers still see the previous complete file
    assert target.read_bytes() == b"half"

    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"broken")
        raise RuntimeError("writer died")
    assert target.read_bytes() == b"half"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nii.gz"]  # no temporary left behind


def test_suffix_and_hash_helpers(tmp_path):
    assert strip_image_suffix("a/sub-01_FLAIR.nii.gz") == "sub-01_FLAIR"
    assert strip_image_suffix("b.MHA") == "b"
    (tmp_path / "f").write_bytes(b"abc")
    assert sha256_file(tmp_path / "f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_metaimage_headers_are_images_for_every_command(tmp_path):
    """One list of endings: a MetaImage header (.mhd + .raw) is read, listed by predict and imported by prepare."""
    from wmhseg.data.folder import split_extension
    from wmhseg.inference import discover_inputs

    path = write_itk(tmp_path / "sub-01.mhd", phantom(), AFFINES["oblique"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub-01.mhd", "sub-01.raw"]
    image = read_native(path)
    np.testing.assert_array_equal(image.data, phantom())
    np.testing.assert_allclose(image.affine, AFFINES["oblique"], atol=1e-5)
    assert [e["subject"] for e in discover_inputs(tmp_path)] == ["sub-01"]  # the .raw data file is not an input
    assert split_extension("sub-01.mhd") == ("sub-01", ".mhd") and split_extension("sub-01.raw") is None


def test_one_voxel_grid_test_for_every_check(tmp_path):
    shape, grid = (40, 36, 10), AFFINES["oblique"]
    rounded = grid.astype(np.float32).astype(np.float64)  # a header written by another tool
    assert same_grid(shape, grid, shape, rounded)
    for moved in (grid @ np.diag([-1.0, 1.0, 1.0, 1.0]), grid + np.pad(np.full((3, 1), 0.01), ((0, 1), (3, 0)))):
        assert not same_grid(shape, grid, shape, moved)  # a flipped axis; a shift of 0.01 mm
    assert not same_grid(shape, grid, (40, 36, 11), grid) and not same_grid(shape, grid, shape, np.full((4, 4), np.nan))
    assert grid_distance_mm(shape, grid, shape, rounded) < GRID_TOLERANCE_MM
    write_nifti(tmp_path / "flair.nii.gz", phantom(), grid)
    write_nifti(tmp_path / "same.nii.gz", np.zeros(shape, np.float32), rounded)
    write_itk(tmp_path / "same.mha", np.zeros(shape, np.float32), grid)  # the same grid in ITK's LPS geometry
    write_nifti(tmp_path / "shifted.nii.gz", np.zeros(shape, np.float32), grid + np.pad([[0.5]], ((0, 3), (3, 0))))
    write_nifti(tmp_path / "short.nii.gz", np.zeros((40, 36, 9), np.float32), grid)
    flair = tmp_path / "flair.nii.gz"
    assert (
        grid_mismatch(flair, tmp_path / "same.nii.gz") is None and grid_mismatch(flair, tmp_path / "same.mha") is None
    )
    assert (
        grid_mismatch(flair, tmp_path / "shifted.nii.gz")
        == "voxel grid differs from the image's (corners up to 0.5 mm apart)"
    )
    assert grid_mismatch(flair, tmp_path / "short.nii.gz") == "shape (40, 36, 9) differs from the image's (40, 36, 10)"


def test_save_nifti_writes_scanner_geometry_and_checks_integer_ranges(tmp_path):
    values = np.array([[[0.4, 1.6], [2.5, 254.7]]], np.float32)
    path = save_nifti(values, AFFINES["LPS"], tmp_path / "labels.nii.gz", np.uint8, description="labels")
    image = nib.load(path)
    assert int(image.header["sform_code"]) == int(image.header["qform_code"]) == 1
    np.testing.assert_allclose(image.affine, AFFINES["LPS"], atol=1e-6)
    assert image.get_data_dtype() == np.uint8 and image.header["descrip"].item() == b"labels"
    np.testing.assert_array_equal(np.asarray(image.dataobj), [[[0, 2], [2, 255]]])
    with pytest.raises(ValueError, match="do not fit uint8"):
        save_nifti(values + 10, AFFINES["LPS"], tmp_path / "over.nii.gz", np.uint8)
    assert not (tmp_path / "over.nii.gz").exists()
    assert read_native(save_nifti(values[0], AFFINES["LPS"], tmp_path / "slice.nii"), ndim=None).shape == (2, 2)


def test_image_problem_names_what_is_wrong(tmp_path):
    write_nifti(tmp_path / "good.nii.gz", phantom(), np.eye(4))
    write_nifti(tmp_path / "two.nii.gz", phantom()[..., None].repeat(2, axis=-1), np.eye(4))
    (tmp_path / "truncated.nii.gz").write_bytes((tmp_path / "good.nii.gz").read_bytes()[:400])
    assert image_problem(tmp_path / "good.nii.gz") is None
    assert image_problem(tmp_path / "absent.nii.gz") == "missing" and image_problem(tmp_path) == "not a file"
    assert image_problem(tmp_path / "two.nii.gz").startswith("is 4D with 2 volumes")
    assert image_problem(tmp_path / "truncated.nii.gz").startswith("unreadable (cannot be read as NIfTI")
