"""The notebooks: saved without outputs, and each executes headless without error with tiny settings
(``WMHSEG_NB_TINY=1``) in a real Jupyter kernel of this interpreter."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from pipeline_helpers import pipeline_env

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("01_quickstart", "02_wmh_challenge", "03_experiments", "04_networks")


def test_every_notebook_is_saved_without_outputs():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)
    for name in NAMES:
        notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(notebook)
        assert notebook.metadata.kernelspec.name == "python3"
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: a cell has saved outputs"


def execute(name: str, monkeypatch, tmp_path: Path, cwd: Path = NOTEBOOKS, **env: str) -> nbformat.NotebookNode:
    """Execute notebook ``name`` from ``cwd`` with tiny settings and outputs under ``tmp_path``; return it executed."""
    for key, value in {**pipeline_env(), "WMHSEG_NB_TINY": "1", "WMHSEG_NB_WORK_DIR": str(tmp_path), **env}.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode, kind: str) -> list:
    """Every output of type ``kind`` (``stream`` texts, or ``image/png`` / ``text/markdown`` display data)."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if kind == "stream" and output.output_type == "stream":
                found.append(output.text)
            elif kind != "stream" and kind in output.get("data", {}):
                found.append(output.data[kind])
    return found


def test_quickstart_trains_infers_and_shows_the_results(monkeypatch, tmp_path):
    notebook = execute("01_quickstart", monkeypatch, tmp_path)
    work = tmp_path / "01_quickstart"
    assert (work / "bundle_run" / "models" / "model.pt").is_file()
    assert {p.name for p in (work / "predictions" / "FLAIR").iterdir()} >= {
        "wmh_mask.nii.gz",
        "wmh_prob.nii.gz",
        "lesions.csv",
        "qc.png",
        "summary.json",
    }
    images = outputs(notebook, "image/png")
    assert len(images) >= 3 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert any("lesions," in text for text in outputs(notebook, "stream"))


def test_wmh_challenge_notebook_skips_without_the_data(monkeypatch, tmp_path):
    notebook = execute("02_wmh_challenge", monkeypatch, tmp_path, WMH_CHALLENGE_DIR=str(tmp_path / "absent"))
    texts = "".join(outputs(notebook, "stream"))
    assert "NOT found" in texts and texts.count("skipped") == 3
    assert not (tmp_path / "02_wmh_challenge" / "datalist.json").exists()


def test_experiments_notebook_reads_a_study_from_mlflow(monkeypatch, tmp_path, paper_study):
    assert paper_study.process.returncode == 0
    notebook = execute(
        "03_experiments",
        monkeypatch,
        tmp_path,
        WMHSEG_NB_TRACKING_URI=paper_study.tracking_uri,
        WMHSEG_NB_EXPERIMENT=paper_study.experiment,
    )
    tables = outputs(notebook, "text/markdown")
    assert [t.splitlines()[0] for t in tables] == [
        "**Table 1. Ablation of the 3D SA-UNet's modules.**",
        "**Table 2. Comparison with other methods.**",
        "**Table 3. 3D SA-UNet per scanner (`saunet3d`).**",
    ]
    assert len(outputs(notebook, "image/png")) >= 3  # variant bars, a QC image, learning curves


def test_networks_notebook_runs_from_the_repository_root(monkeypatch, tmp_path):
    notebook = execute(
        "04_networks", monkeypatch, tmp_path, cwd=NOTEBOOKS.parent, WMHSEG_NB_CHECKPOINT=str(tmp_path / "none.pt")
    )
    texts = "".join(outputs(notebook, "stream"))
    assert f"checkout {NOTEBOOKS.parent}" in texts and "untrained network" in texts
    assert "attentions.2" in "".join(str(o) for c in notebook.cells for o in c.get("outputs", []))
    assert len(outputs(notebook, "image/png")) == 1
