"""The five WMH challenge metrics: hand-computed cases, empty sets, and agreement with the SimpleITK reference path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage
import SimpleITK as sitk
import torch
from monai.data import MetaTensor
from scipy.spatial.transform import Rotation

from wmhseg.metrics import (
    avd,
    binarise_result,
    dice,
    evaluate_volumes,
    hd95,
    inplane_contour,
    lesion_counts,
    lesion_recall_f1,
    reference_masks,
    spacing_from_geometry,
)
from wmhseg.metrics import official_sitk as official

ERROR = "error"  # the official script raises


def official_values(reference, result, spacing=(1.0, 1.0, 1.0), origin=(0, 0, 0), direction=None) -> dict:
    """Each metric from the SimpleITK reference path, or ERROR where the official evaluation raises."""
    wmh, binary = official.official_masks(
        official.image_from_array(reference, spacing, origin, direction), official.image_from_array(result)
    )

    def attempt(fn):
        try:
            return fn(wmh, binary)
        except (RuntimeError, ValueError, ZeroDivisionError):
            return ERROR

    values = {name: attempt(getattr(official, f"official_{name}")) for name in ("dsc", "hd95", "avd")}
    lesions = attempt(official.official_lesion_recall_f1)
    values["recall"], values["f1"] = (ERROR, ERROR) if lesions == ERROR else lesions
    return values


def assert_matches_official(ours: dict, theirs: dict, tol: float = 1e-6) -> None:
    for name, expected in theirs.items():
        value = ours[name]
        if expected == ERROR or math.isnan(expected):
            assert math.isnan(value), f"{name}: official {expected}, ours {value}"
        else:
            assert value == pytest.approx(expected, abs=tol), f"{name}: official {expected}, ours {value}"


def volume(shape=(8, 8, 6), voxels=(), value=1, dtype=np.float32) -> np.ndarray:
    array = np.zeros(shape, dtype=dtype)
    for index in voxels:
        array[index] = value
    return array


# ---------------------------------------------------------------------------------------------------------------
# hand-computed metrics


def test_dice_and_avd_by_hand():
    t = volume(voxels=[(1, 1, 1), (1, 2, 1), (1, 3, 1), (1, 4, 1)]) > 0
    r = volume(voxels=[(1, 1, 1), (1, 2, 1), (5, 5, 4), (6, 6, 4), (6, 5, 4), (5, 6, 4)]) > 0
    assert dice(t, r) == pytest.approx(2 * 2 / (4 + 6))
    assert avd(t, r) == pytest.approx(abs(4 - 6) / 4 * 100)  # 50 %
    assert avd(r, t) == pytest.approx(2 / 6 * 100)  # relative to the reference, unsigned


def test_hd95_single_voxels_anisotropic():
    spacing = (0.5, 1.5, 4.0)
    t = volume(voxels=[(2, 2, 2)]) > 0
    r = volume(voxels=[(3, 4, 3)]) > 0
    assert hd95(t, r, spacing) == pytest.approx(math.sqrt(0.5**2 + 3.0**2 + 4.0**2))


def test_hd95_percentile_is_linear_interpolation():
    # T: one voxel; R: a one-voxel-thick line (all contour) at 1..5 voxels from it
    t = volume(shape=(10, 5, 3), voxels=[(2, 2, 1)]) > 0
    r = volume(shape=(10, 5, 3), voxels=[(x, 2, 1) for x in range(3, 8)]) > 0
    # R->T distances 1,2,3,4,5: rank 0.95*4 = 3.8 -> 4 + 0.8 = 4.8; T->R: 1
    assert hd95(t, r, (1.0, 1.0, 1.0)) == pytest.approx(4.8)
    assert hd95(t, r, (2.0, 1.0, 1.0)) == pytest.approx(9.6)


def sitk_contour(mask: np.ndarray) -> np.ndarray:
    image = official.image_from_array(mask.astype(np.uint8))
    return np.transpose(sitk.GetArrayFromImage(sitk.Subtract(image, sitk.BinaryErode(image, (1, 1, 0))))) > 0


def test_inplane_contour_is_2d_erosion_with_border_as_foreground():
    mask = np.zeros((6, 6, 3), dtype=bool)
    mask[1:4, 1:4, :] = True  # a 3x3x3 cube: in-plane only the centre column is interior
    contour = inplane_contour(mask)
    assert contour.sum() == 8 * 3 and not contour[2, 2, :].any()
    full = np.ones((4, 4, 2), dtype=bool)
    assert not inplane_contour(full).any()  # touching the border does not make a voxel a contour voxel
    corner = np.zeros((4, 4, 2), dtype=bool)
    corner[:2, :2, 0] = True  # a 2x2 square in a corner: the corner voxel's in-image neighbours are all foreground
    assert inplane_contour(corner)[:, :, 0].tolist()[0][:2] == [False, True] and inplane_contour(corner).sum() == 3
    edge = np.ones((5, 5, 1), dtype=bool)
    edge[4, :, 0] = False  # only the row next to the removed one is contour
    assert inplane_contour(edge)[:, :, 0].sum() == 5 and inplane_contour(edge)[3, :, 0].all()
    for m in (mask, full, corner, edge):
        np.testing.assert_array_equal(inplane_contour(m), sitk_contour(m))


def test_hd95_2d_erosion_differs_from_3d_erosion():
    # T: a 3x3x3 cube. R: the cube's in-plane ring in each slice (a hollow tube, all contour).
    shape = (7, 7, 7)
    t = np.zeros(shape, dtype=bool)
    t[2:5, 2:5, 2:5] = True
    r = t.copy()
    r[3, 3, 2:5] = False
    spacing = (0.5, 0.5, 3.0)
    # 2D (official): contour(T) = the 24 ring voxels = contour(R), so HD95 = 0
    assert hd95(t, r, spacing) == 0.0
    # a 3D erosion would add T's top and bottom centre voxels, 1 voxel (0.5 mm) from the ring:
    # T->R distances = 24 zeros and two 0.5, P95 at rank 23.75 = 0.75 * 0.5
    contour_3d = t & ~scipy.ndimage.binary_erosion(t, np.ones((3, 3, 3)), border_value=1)
    assert contour_3d.sum() == 26
    d = scipy.ndimage.distance_transform_edt(~r, sampling=spacing)[contour_3d]
    assert np.percentile(d, 95) == pytest.approx(0.375)


def test_26_connectivity_merges_corner_contacts():
    # T: two voxels touching only at a corner (one lesion with 26-connectivity, two with 6) and a distant lesion
    t = volume(voxels=[(2, 2, 2), (3, 3, 3), (6, 6, 0)]) > 0
    r = volume(voxels=[(2, 2, 2)]) > 0
    counts = lesion_counts(t, r)
    assert (counts.n_reference, counts.n_reference_detected, counts.n_result, counts.n_result_correct) == (2, 1, 1, 1)
    recall, f1 = lesion_recall_f1(t, r)
    assert recall == pytest.approx(0.5)  # 6-connectivity would give 1/3
    assert f1 == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    six = scipy.ndimage.label(t)[1]
    assert six == 3


def test_lesion_numerators_are_the_official_ones():
    # T: lesions A and B; R: one bar covering both, and a false positive
    t = volume(shape=(12, 6, 3), voxels=[(1, 1, 1), (5, 1, 1)]) > 0
    r = volume(shape=(12, 6, 3), voxels=[(x, 1, 1) for x in range(1, 6)] + [(10, 4, 1)]) > 0
    counts = lesion_counts(t, r)
    assert (counts.n_reference, counts.n_reference_detected) == (2, 2)
    assert (counts.n_result, counts.n_result_correct) == (2, 1)
    # precision counts R components touching T (1 of 2), not detected T lesions over N_R (2/2, the pre-2017 bug)
    assert counts.recall == 1.0 and counts.precision == 0.5
    assert counts.f1 == pytest.approx(2 * 0.5 / 1.5)
    assert_matches_official(
        {"recall": counts.recall, "f1": counts.f1},
        {k: v for k, v in official_values(t.astype(np.float32), r.astype(np.uint8)).items() if k in ("recall", "f1")},
    )


def test_label2_is_dont_care():
    ref = volume(voxels=[(1, 1, 1), (1, 2, 1), (2, 1, 1), (2, 2, 1)])
    ref[5:7, 5:7, 1] = 2
    pred = (ref > 0).astype(np.uint8)  # predicts WMH on the label-2 region too
    scores = evaluate_volumes(ref, pred, (1, 1, 1))
    assert scores.metrics() == {"dsc": 1.0, "hd95": 0.0, "avd": 0.0, "recall": 1.0, "f1": 1.0}
    assert scores.n_result_voxels == 4
    # a prediction only inside label 2 is an empty prediction
    only2 = (ref == 2).astype(np.uint8)
    assert evaluate_volumes(ref, only2, (1, 1, 1)).n_result_voxels == 0
    # the bounds are inclusive: 1.5 is WMH in the reference and masked in the result
    ref15 = volume(voxels=[(3, 3, 3)], value=1.5)
    wmh, ignore = reference_masks(ref15)
    assert wmh[3, 3, 3] and ignore[3, 3, 3]
    assert_matches_official(
        evaluate_volumes(ref15, volume(voxels=[(3, 3, 3)]), (1, 1, 1)).metrics(),
        official_values(ref15, volume(voxels=[(3, 3, 3)])),
    )


@pytest.mark.parametrize(
    "dtype, values, expected",
    [
        (np.float32, [-1.0, 0.0, 0.49, 0.5, 1.0, 2.0, 1000.0, 1000.5, np.nan], [0, 0, 0, 1, 1, 1, 1, 0, 0]),
        (np.float64, [0.4999999, 0.5, 999.9, 1000.0000001], [0, 1, 1, 0]),
        (np.int16, [-1, 0, 1, 2, 1000, 1001], [0, 0, 1, 1, 1, 0]),
        (np.int32, [0, 1, 1000, 1001], [0, 1, 1, 0]),
        (np.uint16, [0, 1, 1000, 1001], [0, 1, 1, 0]),
        (np.uint8, [0, 1, 2, 232, 233, 255], [0, 1, 1, 1, 0, 0]),
        (bool, [False, True], [0, 1]),
    ],
)
def test_result_binarisation_by_dtype(dtype, values, expected):
    result = np.array(values, dtype=dtype).reshape(-1, 1, 1)
    assert binarise_result(result).ravel().astype(int).tolist() == expected
    if dtype is not bool:  # the SimpleITK window agrees (bool has no SimpleITK pixel type)
        image = official.image_from_array(result)
        official_binary = sitk.GetArrayFromImage(
            sitk.BinaryThreshold(image, 1 if np.issubdtype(dtype, np.integer) else 0.5, 1000, 1, 0)
        )
        assert np.transpose(official_binary).ravel().tolist() == expected


def test_float_versus_integer_predictions():
    ref = volume(voxels=[(2, 2, 2), (2, 3, 2), (3, 2, 2), (3, 3, 2)])
    probabilities = (ref * 0.6).astype(np.float32)  # 0.6 is WMH as a float...
    assert evaluate_volumes(ref, probabilities, (1, 1, 1)).dsc == 1.0
    assert evaluate_volumes(ref, (ref * 0.6).astype(np.float64), (1, 1, 1)).dsc == 1.0
    truncated = probabilities.astype(np.int16)  # ...but the same values truncated to integers are 0
    assert evaluate_volumes(ref, truncated, (1, 1, 1)).n_result_voxels == 0
    assert evaluate_volumes(ref, (ref * 255).astype(np.uint8), (1, 1, 1)).n_result_voxels == 0  # 255 is background
    assert evaluate_volumes(ref, (ref * 255).astype(np.uint16), (1, 1, 1)).dsc == 1.0


def test_int8_results_are_rejected_like_the_official_script():
    ref = volume(voxels=[(2, 2, 2)])
    pred = ref.astype(np.int8)
    with pytest.raises(ValueError, match="int8"):
        evaluate_volumes(ref, pred, (1, 1, 1))
    with pytest.raises(RuntimeError):
        official.official_masks(official.image_from_array(ref), official.image_from_array(pred))


def test_integer_reference_is_read_by_value():
    rng = np.random.default_rng(3)
    ref = (rng.random((10, 9, 5)) < 0.2).astype(np.uint8)
    ref[rng.random(ref.shape) < 0.1] = 2
    pred = (rng.random(ref.shape) < 0.25).astype(np.uint8)
    ours = evaluate_volumes(ref, pred, (1.0, 1.2, 3.0)).metrics()
    # identical to the official script on the reference stored as float (as in the challenge) ...
    assert_matches_official(ours, official_values(ref.astype(np.float64), pred, (1.0, 1.2, 3.0)))
    # ... whereas the script on an integer reference casts 0.5 to 0 and counts the background as WMH
    trap = official.official_masks(official.image_from_array(ref), official.image_from_array(pred))[0]
    assert sitk.GetArrayFromImage(trap).sum() == ref.size - (ref == 2).sum()


# ---------------------------------------------------------------------------------------------------------------
# empty sets (as the official evaluation.py handles them, Kuijf et al., IEEE TMI 2019)

EMPTY_CASES = {
    "both empty": ([], [], {"dsc": math.nan, "hd95": math.nan, "avd": math.nan, "recall": 1.0, "f1": 1.0}),
    "empty reference": ([], [(3, 3, 3)], {"dsc": 0.0, "hd95": math.nan, "avd": math.nan, "recall": 1.0, "f1": 0.0}),
    "empty result": ([(3, 3, 3)], [], {"dsc": 0.0, "hd95": math.nan, "avd": 100.0, "recall": 0.0, "f1": 0.0}),
}
OFFICIAL_ERRORS = {"both empty": {"avd"}, "empty reference": {"hd95", "avd"}, "empty result": set()}


@pytest.mark.parametrize("case", sorted(EMPTY_CASES))
def test_empty_sets(case):
    t_voxels, r_voxels, expected = EMPTY_CASES[case]
    ref, pred = volume(voxels=t_voxels), volume(voxels=r_voxels, dtype=np.uint8)
    scores = evaluate_volumes(ref, pred, (1.0, 1.0, 3.0))
    for name, value in expected.items():
        got = scores.metrics()[name]
        assert (math.isnan(got) and math.isnan(value)) or got == value, (name, got, value)
    theirs = official_values(ref, pred, (1.0, 1.0, 3.0))
    assert {k for k, v in theirs.items() if v == ERROR} == OFFICIAL_ERRORS[case]
    assert_matches_official(scores.metrics(), theirs)
    assert bool(scores.notes) == bool(OFFICIAL_ERRORS[case])


def test_no_contour_and_no_background_follow_the_script():
    # T fills a whole slice: no in-plane contour, the official HD95 raises -> NaN
    ref = np.zeros((5, 4, 3), dtype=np.float32)
    ref[:, :, 1] = 1
    pred = ref.astype(np.uint8)
    scores = evaluate_volumes(ref, pred, (1, 1, 1))
    assert math.isnan(scores.hd95) and scores.notes
    assert_matches_official(scores.metrics(), official_values(ref, pred))
    # T = R = the whole image: the script's len(unique) - 1 counts no lesion and reports recall = F1 = 1
    full = np.ones((4, 4, 2), dtype=np.float32)
    scores = evaluate_volumes(full, full.astype(np.uint8), (1, 1, 1))
    assert scores.lesions.n_reference == 0 and scores.recall == 1.0 and scores.f1 == 1.0
    assert_matches_official(scores.metrics(), official_values(full, full.astype(np.uint8)))


# ---------------------------------------------------------------------------------------------------------------
# geometry


def test_geometry_forms_agree_and_direction_does_not_matter():
    rotation = Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix()
    spacing = np.array([0.9, 1.2, 3.0])
    affine = np.eye(4)
    affine[:3, :3] = rotation * spacing
    affine[:3, 3] = [-90, 30, 12]
    assert spacing_from_geometry(affine) == pytest.approx(tuple(spacing))
    assert spacing_from_geometry(torch.tensor(affine)) == pytest.approx(tuple(spacing))
    meta = MetaTensor(torch.zeros(1, 4, 4, 4), affine=torch.tensor(affine))
    assert spacing_from_geometry(meta) == pytest.approx(tuple(spacing))
    for bad in ([1.0, 2.0], np.eye(3), [1.0, 0.0, 1.0], np.zeros((2, 4, 4))):
        with pytest.raises(ValueError):
            spacing_from_geometry(bad)

    rng = np.random.default_rng(7)
    ref = (scipy.ndimage.uniform_filter(rng.random((16, 14, 6)), 3) > 0.55).astype(np.float32)
    pred = np.roll(ref, (1, -1, 1), axis=(0, 1, 2)).astype(np.uint8)
    from_affine = evaluate_volumes(ref, pred, affine).metrics()
    assert from_affine == pytest.approx(evaluate_volumes(ref, pred, tuple(spacing)).metrics(), abs=1e-12)
    theirs = official_values(ref, pred, spacing, origin=(-12.0, 40.0, 7.5), direction=rotation)
    assert_matches_official(from_affine, theirs)
    assert from_affine["hd95"] != evaluate_volumes(ref, pred, (1, 1, 1)).hd95  # spacing is used


def test_affine_maps_points_exactly_like_the_official_script():
    # a direction matrix rounded as in a file header (not exactly orthonormal) and lesions ~87 mm apart
    rotation = Rotation.from_euler("xyz", [12, -25, 40], degrees=True).as_matrix()
    rotation += np.random.default_rng(0).normal(size=(3, 3)) * 3e-7
    spacing = np.array([0.9, 1.15, 3.0])
    ref = np.zeros((120, 100, 20), np.float32)
    ref[5:8, 5:8, 2:4] = 1
    ref[100:104, 80:85, 15:18] = 1
    pred = np.zeros(ref.shape, np.uint8)
    pred[5:8, 5:8, 2:4] = 1
    pred[100:103, 80:85, 15:18] = 1
    pred[110:113, 5:8, 10] = 1
    theirs = official_values(ref, pred, spacing, (1.0, 2.0, 3.0), rotation)["hd95"]
    affine = np.eye(4)
    affine[:3, :3] = rotation * spacing
    assert evaluate_volumes(ref, pred, affine).hd95 == pytest.approx(theirs, abs=1e-9)
    assert hd95(ref == 1, pred > 0, affine, method="kdtree") == pytest.approx(theirs, abs=1e-9)
    # spacings alone assume an exactly orthonormal direction: close, but not to the last digits
    assert evaluate_volumes(ref, pred, spacing).hd95 == pytest.approx(theirs, abs=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# agreement with the SimpleITK reference path on random volumes


def random_case(rng: np.random.Generator):
    shape = tuple(int(n) for n in rng.integers(5, 22, size=3))
    density = rng.uniform(0.05, 0.6)
    ref = (scipy.ndimage.uniform_filter(rng.random(shape), int(rng.integers(1, 4))) < density * 0.7).astype(np.float32)
    if rng.random() < 0.5:
        ref[rng.random(shape) < 0.08] = 2
    if rng.random() < 0.2:
        ref[0, :, :] = 1  # lesions on the border
    kind = rng.integers(0, 5)
    if kind == 0:
        pred = (rng.random(shape) * rng.uniform(0.7, 2.0)).astype(np.float32)
    elif kind == 1:
        pred = (rng.random(shape) < density).astype(np.uint8) * rng.choice([1, 7, 232, 255]).astype(np.uint8)
    elif kind == 2:
        pred = (rng.integers(-3, 1500, size=shape) * (rng.random(shape) < density)).astype(np.int16)
    elif kind == 3:
        pred = np.roll(ref, int(rng.integers(-2, 3)), axis=int(rng.integers(0, 3))).astype(np.float64)
    else:
        pred = scipy.ndimage.binary_dilation(ref == 1).astype(np.int32) * 2
    if rng.random() < 0.08:
        pred[:] = 0
    if rng.random() < 0.08:
        ref[ref == 1] = 0
    spacing = rng.uniform(0.3, 3.5, size=3)
    direction = Rotation.random(random_state=int(rng.integers(1 << 31))).as_matrix()
    origin = rng.normal(size=3) * 60
    return ref, pred, spacing, origin, direction


def test_agrees_with_official_on_random_volumes():
    rng = np.random.default_rng(2024)
    for _ in range(80):
        ref, pred, spacing, origin, direction = random_case(rng)
        theirs = official_values(ref, pred, spacing, origin, direction)
        affine = np.eye(4)
        affine[:3, :3], affine[:3, 3] = direction * spacing, origin
        assert_matches_official(evaluate_volumes(ref, pred, spacing).metrics(), theirs)
        assert_matches_official(evaluate_volumes(ref, pred, affine).metrics(), theirs)
        wmh, ignore = reference_masks(ref)
        binary = binarise_result(pred, ignore)
        by_edt, by_tree = hd95(wmh, binary, spacing, method="edt"), hd95(wmh, binary, spacing, method="kdtree")
        assert (math.isnan(by_edt) and math.isnan(by_tree)) or by_edt == pytest.approx(by_tree, abs=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# real data: the Ljubljana MS cases (reference vs shifted / eroded copies)

LJUBLJANA = {"patient07": (37, 1.30), "patient19": (98, 49.77), "patient26": (19, 8.23)}


def read_xyz(path):
    image = sitk.ReadImage(str(path))
    return image, np.transpose(sitk.GetArrayFromImage(image))


@pytest.mark.parametrize("patient", sorted(LJUBLJANA))
def test_ljubljana_counts_and_agreement(ljubljana_dir, patient):
    image, lesion = read_xyz(ljubljana_dir / patient / "lesion.nii.gz")
    spacing = image.GetSpacing()
    wmh, _ = reference_masks(lesion)
    n_lesions, volume_ml = LJUBLJANA[patient]
    assert lesion_counts(wmh, wmh).n_reference == n_lesions
    assert wmh.sum() * np.prod(spacing) / 1000 == pytest.approx(volume_ml, abs=0.005)

    float_reference = sitk.Cast(image, sitk.sitkFloat64)  # the challenge references are float images
    variants = {
        "shifted": np.roll(lesion, (2, -1, 1), axis=(0, 1, 2)),
        "eroded": scipy.ndimage.binary_erosion(lesion).astype(np.uint8),
    }
    for name, result in variants.items():
        ours = evaluate_volumes(lesion, result, image.GetSpacing())
        theirs = official.official_scores(float_reference, official.image_from_array(result))
        for metric, value in theirs.items():
            assert ours.metrics()[metric] == pytest.approx(value, abs=1e-6), (name, metric)
        assert 0 < ours.dsc < 1 and ours.hd95 > 0 and ours.recall < 1
