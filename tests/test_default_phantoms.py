"""The embedded default phantom set: composition, format and caching (the real set, generated once)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from monai.data import load_decathlon_datalist

from wmhseg.data.synthetic import PROTOCOLS, default_datalist


@pytest.mark.slow
def test_default_set(default_phantom_root, monkeypatch) -> None:
    root, stamp = default_phantom_root
    monkeypatch.setenv("WMHSEG_DATA_DIR", str(root))
    path = default_datalist()
    assert path == root / "default" / "datalist.json"
    assert path.stat().st_mtime_ns == stamp  # the session's set, found through the variable: not regenerated
    content = json.loads(path.read_text())
    entries = content["training"]
    assert len(entries) == 16 and content["num_folds"] == 4
    assert {e["scanner"] for e in entries} == {f"phantom-{name}" for name in PROTOCOLS}
    assert Counter(e["fold"] for e in entries) == {0: 4, 1: 4, 2: 4, 3: 4}
    assert sum(e["other_volume_ml"] > 0 for e in entries) == 4
    assert sum(e["skull_stripped"] for e in entries) == 5
    assert {e["orientation"] for e in entries} == {"RAS", "LPS", "LAS"}
    volumes = [e["lesion_volume_ml"] for e in entries]
    assert min(volumes) < 1.0 and max(volumes) > 60.0
    for entry in load_decathlon_datalist(path, data_list_key="training", base_dir=path.parent):
        assert all(Path(entry[k]).is_file() for k in ("image", "label", "brain_mask"))
    assert default_datalist() == path and path.stat().st_mtime_ns == stamp  # cached: not regenerated
