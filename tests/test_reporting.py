"""wmhseg.reporting: 26-connected lesion table, QC mosaic, cohort summary."""

from __future__ import annotations

import csv

import matplotlib.image
import numpy as np
import pytest
from infer_support import AFFINES, phantom

from wmhseg.reporting import (
    COHORT_COLUMNS,
    LESION_COLUMNS,
    cohort_row,
    label_lesions,
    lesion_table,
    render_qc,
    write_cohort_csv,
    write_lesion_csv,
)


def test_lesions_are_26_connected_and_small_ones_can_be_dropped():
    mask = np.zeros((10, 10, 10), bool)
    mask[1, 1, 1] = mask[2, 2, 2] = True  # touch by a corner only: one lesion under 26-connectivity
    mask[6:8, 6:8, 6:8] = True  # 8 voxels
    mask[1, 8, 1] = True  # isolated voxel
    labels, n = label_lesions(mask)
    assert n == 3 and sorted(np.bincount(labels.ravel())[1:]) == [1, 2, 8]
    labels, n = label_lesions(mask, min_voxels=2)
    assert n == 2 and set(np.unique(labels)) == {0, 1, 2}
    assert not labels[1, 8, 1] and labels[1, 1, 1] == labels[2, 2, 2] > 0
    assert label_lesions(np.zeros((4, 4, 4), bool)) == (pytest.approx(np.zeros((4, 4, 4))), 0)


def test_lesion_table_volumes_centroids_and_probabilities():
    aff = AFFINES["oblique"]
    mask = np.zeros((12, 12, 6), bool)
    mask[2:4, 2:5, 1:3] = True  # 12 voxels
    mask[8, 8, 4] = True
    prob = np.where(mask, 0.6, 0.1).astype(np.float32)
    prob[3, 4, 2] = 0.95
    labels, n = label_lesions(mask)
    rows = lesion_table(labels, n, aff, prob)
    assert [r["lesion_id"] for r in rows] == [1, 2] and [r["voxels"] for r in rows] == [12, 1]
    voxel_ml = abs(np.linalg.det(aff[:3, :3])) / 1000
    assert rows[0]["volume_ml"] == pytest.approx(12 * voxel_ml)
    centre = np.array([2.5, 3.0, 1.5])
    np.testing.assert_allclose([rows[0][f"centroid_{a}_mm"] for a in "xyz"], aff[:3, :3] @ centre + aff[:3, 3])
    np.testing.assert_allclose([rows[1][f"centroid_{a}_mm"] for a in "xyz"], aff[:3, :3] @ [8, 8, 4] + aff[:3, 3])
    assert rows[0]["max_prob"] == pytest.approx(0.95)
    assert rows[0]["mean_prob"] == pytest.approx((11 * 0.6 + 0.95) / 12, rel=1e-6)


def test_lesion_csv_has_the_header_even_without_lesions(tmp_path):
    write_lesion_csv([], tmp_path / "none.csv")
    assert (tmp_path / "none.csv").read_text().strip() == ",".join(LESION_COLUMNS)
    labels, n = label_lesions(phantom() > 500)
    write_lesion_csv(lesion_table(labels, n, AFFINES["RAS"], None), tmp_path / "one.csv")
    with open(tmp_path / "one.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["voxels"] == str(6 * 5 * 3) and rows[0]["mean_prob"] == "nan"


def _world_identical_volumes():
    """The same head stored in RAS voxel order and in LPS voxel order (both axes flipped)."""
    data = phantom()
    return (data, AFFINES["RAS"]), (data[::-1, ::-1, :].copy(), AFFINES["RAS"] @ _flip_xy(data.shape))


def _flip_xy(shape):
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[0, 3], flip[1, 3] = shape[0] - 1, shape[1] - 1
    return flip


def test_qc_mosaic_is_drawn_in_world_orientation_whatever_the_voxel_order(tmp_path):
    (ras, ras_aff), (lps, lps_aff) = _world_identical_volumes()
    render_qc(ras, ras > 500, ras_aff, tmp_path / "ras.png", "ras")
    render_qc(lps, lps > 500, lps_aff, tmp_path / "lps.png", "ras")
    a, b = matplotlib.image.imread(tmp_path / "ras.png"), matplotlib.image.imread(tmp_path / "lps.png")
    assert a.shape == b.shape and a.shape[1] == 1200
    np.testing.assert_array_equal(a, b)
    render_qc(ras, np.zeros_like(ras, bool), ras_aff, tmp_path / "empty.png", "no lesion")
    assert not np.array_equal(matplotlib.image.imread(tmp_path / "empty.png"), a)  # the outline is drawn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.png", "lps.png", "ras.png"]


def test_cohort_csv_rows(tmp_path):
    ok = {
        "subject": "a",
        "status": "ok",
        "input": {"path": "/x/a.nii.gz"},
        "wmh_volume_ml": 1.23456789,
        "lesion_count": 3,
        "wmh_voxels": 100,
        "threshold": 0.5,
        "min_lesion_voxels": 1,
        "elapsed_s": 2.5,
    }
    failed = {"subject": "b", "status": "failed", "error": "/x/b.nii.gz: holds no signal", "input": "/x/b.nii.gz"}
    write_cohort_csv([cohort_row(ok), cohort_row(failed)], tmp_path / "summary.csv")
    with open(tmp_path / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(COHORT_COLUMNS)
    assert (
        rows[0]["input"] == "/x/a.nii.gz" and rows[0]["wmh_volume_ml"] == "1.234568" and rows[0]["elapsed_s"] == "2.50"
    )
    assert (
        rows[1]["status"] == "failed" and rows[1]["error"].endswith("holds no signal") and rows[1]["lesion_count"] == ""
    )
