"""Periventricular / deep classification of lesions by distance to the ventricles, on volumes with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from wmhseg.reporting.lesions import label_lesions
from wmhseg.reporting.regions import lesion_regions, regional_volumes


def _volume(spacing=(1.0, 1.0, 1.0)):
    shape = (80, 60, 40)
    ventricles = np.zeros(shape, bool)
    ventricles[30:40, 20:40, 15:25] = True  # a box; its face at x = 40 voxels
    return shape, ventricles


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.5, 0.5, 3.0)])
def test_regions_by_distance(spacing):
    shape, ventricles = _volume()
    mask = np.zeros(shape, bool)
    sx = spacing[0]
    near_gap, far_gap = int(round(6.0 / sx)), int(round(14.0 / sx))  # voxels beyond the ventricle face at x = 39
    mask[39 + near_gap, 28:31, 18:21] = True  # 6 mm away: periventricular
    mask[39 + far_gap : 39 + far_gap + 2, 28:31, 18:21] = True  # 14 mm away: deep
    mask[5:8, 5:8, 2:4] = True  # far corner: deep
    labels, n = label_lesions(mask)
    assert n == 3
    regions = lesion_regions(labels, n, ventricles, spacing, distance_mm=10.0)
    by_x = {int(np.argwhere(labels == i + 1)[:, 0].min()): r for i, r in enumerate(regions)}
    assert by_x == {39 + near_gap: "periventricular", 39 + far_gap: "deep", 5: "deep"}
    # a wider cut-off turns the 14 mm lesion periventricular
    assert lesion_regions(labels, n, ventricles, spacing, distance_mm=15.0).count("periventricular") == 2


def test_confluent_lesion_reaching_the_ventricles_is_periventricular():
    shape, ventricles = _volume()
    mask = np.zeros(shape, bool)
    mask[40:70, 28:31, 18:21] = True  # touches the ventricle face and runs 30 mm deep
    labels, n = label_lesions(mask)
    assert lesion_regions(labels, n, ventricles, (1.0, 1.0, 1.0)) == ["periventricular"]


def test_no_ventricles_is_undetermined_and_volumes_add_up():
    shape, _ = _volume()
    mask = np.zeros(shape, bool)
    mask[5:8, 5:8, 2:4] = True
    mask[60:62, 5:8, 2:4] = True
    labels, n = label_lesions(mask)
    assert lesion_regions(labels, n, np.zeros(shape, bool), (1, 1, 1)) == ["undetermined"] * 2
    assert lesion_regions(labels, n, None, (1, 1, 1)) == ["undetermined"] * 2
    volumes = regional_volumes([0.5, 0.25, 1.0], ["periventricular", "deep", "deep"])
    assert volumes == {"periventricular_volume_ml": 0.5, "deep_volume_ml": 1.25}
    assert sum(regional_volumes([0.5, 0.25], ["deep", "undetermined"]).values()) == 0.75
    with pytest.raises(ValueError, match="shape"):
        lesion_regions(labels, n, np.zeros((2, 2, 2), bool), (1, 1, 1))
