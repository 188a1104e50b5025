"""Shared fixtures: the real Ljubljana MS cases, when the checkout has ``../shared`` beside it, and the
embedded default phantom set, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

LJUBLJANA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ljubljana_ms_mni"


@pytest.fixture(scope="session")
def ljubljana_dir() -> Path:
    """Folder of the three real MS cases; the test is skipped where it is absent."""
    if not (LJUBLJANA / "patient07" / "FLAIR.nii.gz").is_file():
        pytest.skip(f"real Ljubljana data not found at {LJUBLJANA}")
    return LJUBLJANA


@pytest.fixture(scope="session")
def default_phantom_root(tmp_path_factory) -> tuple[Path, int]:
    """A fresh ``WMHSEG_DATA_DIR`` holding the real default phantom set (16 subjects, about 30 s to generate),
    generated once for the whole session; returns the folder and the datalist's ``st_mtime_ns`` right after
    generation (to check that later calls reuse the cache). Point ``WMHSEG_DATA_DIR`` at the folder (with
    ``monkeypatch.setenv``) to make ``default_datalist()`` use it."""
    from wmhseg.data.synthetic import default_datalist

    root = tmp_path_factory.mktemp("wmhseg_data_dir")
    path = default_datalist(root)
    return root, path.stat().st_mtime_ns
