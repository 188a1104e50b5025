"""Shared fixtures: the real Ljubljana MS cases, when the checkout has ``../shared`` beside it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

LJUBLJANA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ljubljana_ms_mni"


@pytest.fixture(scope="session")
def ljubljana_dir() -> Path:
    """Folder of the three real MS cases; the test is skipped where it is absent."""
    if not (LJUBLJANA / "patient07" / "FLAIR.nii.gz").is_file():
        pytest.skip(f"real Ljubljana data not found at {LJUBLJANA}")
    return LJUBLJANA


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread: tiny networks are as fast and do not oversubscribe shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
