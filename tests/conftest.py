"""Shared fixtures: the real Ljubljana MS cases, when the checkout has ``../shared`` beside it; the embedded
default phantom set, generated once per test session; small phantom sets; one tiny paper-tables study for the
pipeline and notebook tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

LJUBLJANA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ljubljana_ms_mni"


@pytest.fixture(scope="session")
def tiny_phantoms(tmp_path_factory) -> Path:
    """Datalist of three small real phantoms, one per fold: 48×56×12 voxels of 3.5×3.5×10 mm, WMH 20-60 ml,
    stored in LAS, RAS and LPS order; phantom-000 also has other pathology (label 2). About 4 s to generate."""
    from wmhseg.data.synthetic import Protocol, generate_phantoms

    grid = Protocol("tiny", (48, 56, 12), (3.5, 3.5, 10.0), 1, "small grid for tests")
    folder = tmp_path_factory.mktemp("tiny_phantoms")
    return generate_phantoms(folder, 3, seed=1, protocols=[grid], num_folds=3, lesion_volume_range=(20.0, 60.0))


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


# ---------------------------------------------------------------- experiments (pipelines and notebooks)
@pytest.fixture(scope="session")
def scanner_phantoms(tmp_path_factory) -> Path:
    """Six phantoms, two on each of three coarse (80x80x24, 2.4x2.4x6 mm) Utrecht-, Singapore- and GE3T-named
    grids, in three folds: small volumes keep every bundle run of the pipeline tests to seconds."""
    from wmhseg.data.synthetic import Protocol, generate_phantoms

    grids = [
        Protocol(name, (80, 80, 24), (2.4, 2.4, 6.0), description="coarse test grid")
        for name in ("utrecht", "singapore", "ge3t")
    ]
    return generate_phantoms(tmp_path_factory.mktemp("scanner_phantoms"), 6, seed=3, protocols=grids, num_folds=3)


@pytest.fixture(scope="session")
def paper_study(tmp_path_factory, scanner_phantoms):
    """One tiny ``pipelines/reproduce_tables.py`` run on :func:`scanner_phantoms`, shared by the tests that read it.

    A namespace: ``process`` (the CompletedProcess), ``tracking_uri``, ``experiment``, ``work_dir`` and
    ``seconds`` (wall time).
    """
    import time
    from types import SimpleNamespace

    from pipeline_helpers import run_pipeline

    root = tmp_path_factory.mktemp("paper_study")
    (root / "store").mkdir()
    tracking_uri = f"sqlite:///{root / 'store' / 'mlruns.db'}"
    start = time.perf_counter()
    process = run_pipeline(
        "reproduce_tables.py",
        "--budget",
        "tiny",
        "--datalist",
        scanner_phantoms,
        "--work-dir",
        root / "work",
        "--tracking-uri",
        tracking_uri,
        timeout=900,
    )
    return SimpleNamespace(
        process=process,
        tracking_uri=tracking_uri,
        experiment="wmhseg-paper",
        work_dir=root / "work",
        seconds=time.perf_counter() - start,
    )


# ---------------------------------------------------------------- label maps for the synthetic generator
def write_toy_label_map(path: Path, seed: int = 0, spacing: float = 2.0) -> Path:
    """A small whole-head FreeSurfer-style label map (RAS grid of ``spacing`` mm): scalp (507),
    skull (515), CSF (24), cortex (3/42), cerebral white matter (2/41), lateral ventricles (4/43), thalamus
    (10/49) and brain stem (16), as nested ellipsoids with a little random shape per ``seed``."""
    import nibabel as nib
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = tuple(int(round(e / spacing)) for e in (150.0, 180.0, 160.0))
    grid = np.stack(np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * spacing for n in shape], indexing="ij"))
    x, y, z = grid

    def inside(centre, radii) -> np.ndarray:
        return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1.0

    scale = rng.uniform(0.95, 1.05)
    labels = np.zeros(shape, np.int32)
    labels[inside((0, 0, 0), np.array([72, 88, 76]) * scale)] = 507
    labels[inside((0, 0, 0), np.array([66, 82, 70]) * scale)] = 515
    labels[inside((0, 0, 0), np.array([62, 78, 66]) * scale)] = 24
    cortex = inside((0, 0, 0), np.array([59, 75, 62]) * scale)
    labels[cortex] = np.where(x[cortex] < 0, 3, 42)
    wm = inside((0, 0, 0), np.array([54, 70, 56]) * scale)
    labels[wm] = np.where(x[wm] < 0, 2, 41)
    for side, (vent, grey) in ((-1, (4, 10)), (1, (43, 49))):
        labels[inside((side * 9, 0, 8), np.array([5, 24, 8]) * rng.uniform(0.8, 1.2))] = vent
        labels[inside((side * 14, -4, -6), (7, 9, 7))] = grey
    labels[inside((0, -10, -40), (9, 10, 18))] = 16
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(labels, np.diag([spacing, spacing, spacing, 1.0])), str(path))
    return path


@pytest.fixture(scope="session")
def toy_label_maps(tmp_path_factory) -> Path:
    """Folder of three small toy label maps (``write_toy_label_map``), for the synthetic generator's tests."""
    folder = tmp_path_factory.mktemp("toy_label_maps")
    for seed in range(3):
        write_toy_label_map(folder / f"toy_seg_{seed:02d}.nii.gz", seed)
    return folder
