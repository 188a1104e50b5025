"""``pipelines/reproduce_tables.py`` end to end on tiny settings: every variant trained through the bundle,
scored, tagged in a real MLflow store, and Tables 1-3 built from that store (and rebuilt from it alone)."""

from __future__ import annotations

import csv
import json
import math
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient
from pipeline_helpers import REPO, run_main

from wmhseg.experiments import VARIANTS
from wmhseg.experiments.paper import CHALLENGE_WINNER, TABLE1_ROWS
from wmhseg.networks import TABLE1, TABLE2

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # in-process work: one thread on shared cores

DEFINED = ("dsc", "avd", "f1", "recall")
"""Metrics defined for every case with WMH in the reference (HD95 is not for a mask without contour)."""


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def study_folder(paper_study) -> Path:
    folders = [p for p in paper_study.work_dir.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def runs_of(paper_study, **tags: str) -> list:
    client = MlflowClient(paper_study.tracking_uri)
    experiment = client.get_experiment_by_name(paper_study.experiment)
    found = client.search_runs([experiment.experiment_id])
    return [run for run in found if all(run.data.tags.get(k) == v for k, v in tags.items())]


def test_reproduce_tables_trains_every_variant_and_writes_the_tables(paper_study, scanner_phantoms):
    process = paper_study.process
    assert process.returncode == 0, process.stderr[-3000:]
    print(f"reproduce_tables, tiny budget, 6 phantoms: {paper_study.seconds:.0f} s")
    tables = study_folder(paper_study) / "tables"

    table1 = read_csv(tables / "table1.csv")
    assert [row["key"] for row in table1] == list(TABLE1)
    table2 = read_csv(tables / "table2.csv")
    assert [row["key"] for row in table2 if row["key"]] == list(TABLE2)
    for row in table1 + [row for row in table2 if row["key"]]:
        assert int(row["n_cases"]) == 2 and row["n_folds"] == "1", row  # fold 0 holds two phantoms
        assert all(math.isfinite(float(row[m])) for m in DEFINED), row
        # HD95 is undefined only for masks without a contour (e.g. a prediction filling whole slices)
        assert math.isfinite(float(row["hd95"])) or row["hd95_nan"] == row["n_cases"], row
        assert 0 <= float(row["dsc"]) <= 1 and 0 <= float(row["f1"]) <= 1 and float(row["avd"]) >= 0, row
    # the paper's numbers beside ours; AVD converted from the printed fraction
    first = table1[0]
    assert float(first["paper_dsc"]) == TABLE1_ROWS[0].dsc
    assert float(first["paper_avd_fraction"]) == TABLE1_ROWS[0].avd_fraction
    assert float(first["paper_avd_percent"]) == pytest.approx(100 * TABLE1_ROWS[0].avd_fraction)
    winner = next(row for row in table2 if not row["key"])
    assert winner["dsc"] == "" and float(winner["paper_hd95"]) == CHALLENGE_WINNER.hd95

    table3 = read_csv(tables / "table3.csv")
    ours = {row["key"]: row for row in table3 if row["key"]}
    held_out = {item["scanner"] for item in json.loads(scanner_phantoms.read_text())["training"] if item["fold"] == 0}
    assert set(ours) == held_out | {"all"}
    assert all(row["paper_dsc"] for key, row in ours.items())  # phantom-<site> matched to the paper's <site> row
    assert all(math.isfinite(float(ours["all"][m])) for m in DEFINED)
    assert ours["all"]["dsc"] == next(row for row in table1 if row["key"] == "saunet3d")["dsc"]

    markdown = (tables / "table1.md").read_text()
    assert all(f"`{preset}`" in markdown for preset in TABLE1) and "paper AVD (%) [fraction]" in markdown
    for image in ("tables.png", "table3.png"):
        assert (tables / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Table 1." in process.stdout and "mlflow ui --backend-store-uri" in process.stdout


def test_runs_are_tagged_described_and_carry_tables_and_qc(paper_study):
    assert paper_study.process.returncode == 0
    client = MlflowClient(paper_study.tracking_uri)
    (study,) = runs_of(paper_study, **{"wmhseg.role": "study"})
    study_id = study.data.tags["wmhseg.study"]
    assert study.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(study.info.run_id, "tables")} >= {
        "tables/table1.md",
        "tables/table1.csv",
        "tables/table2.csv",
        "tables/table3.csv",
        "tables/tables.png",
    }

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    for role in ("train", "evaluation"):
        runs = runs_of(paper_study, **{"wmhseg.role": role, "wmhseg.study": study_id})
        assert sorted(run.data.tags["wmhseg.network_preset"] for run in runs) == sorted(VARIANTS)
        for run in runs:
            tags = run.data.tags
            assert run.info.status == "FINISHED"
            assert tags["wmhseg.fold"] == "0" and tags["wmhseg.dataset"] == "wmhseg-phantoms"
            assert tags["wmhseg.budget"] == "tiny" and tags["mlflow.parentRunId"] == study.info.run_id
            assert tags["wmhseg.network_preset"] in tags["mlflow.note.content"]
            if commit.returncode == 0:
                assert tags["wmhseg.git_commit"].startswith(commit.stdout.strip())
                assert tags["mlflow.source.git.commit"] == commit.stdout.strip()
    evaluation = runs_of(paper_study, **{"wmhseg.role": "evaluation", "wmhseg.network_preset": "saunet3d"})[0]
    assert set(evaluation.data.metrics) >= {f"eval_{m}" for m in DEFINED}
    artifacts = {a.path for a in client.list_artifacts(evaluation.info.run_id)}
    assert artifacts >= {"per_case.csv", "per_scanner.csv", "summary.json", "qc"}
    qc = [a.path for a in client.list_artifacts(evaluation.info.run_id, "qc")]
    assert len(qc) == 1 and qc[0].endswith(".png")  # the tiny budget draws one QC image
    training = client.get_run(evaluation.data.tags["wmhseg.train_run_id"])
    assert training.data.tags["wmhseg.role"] == "train" and "model.pt" in {
        a.path for a in client.list_artifacts(training.info.run_id)
    }


def test_tables_only_rebuilds_the_same_tables_from_the_store_alone(paper_study, tmp_path, capsys):
    assert paper_study.process.returncode == 0
    original = study_folder(paper_study) / "tables"
    expected = {name: (original / name).read_text() for name in ("table1.csv", "table2.csv", "table3.csv", "tables.md")}
    hidden = paper_study.work_dir.with_name("work-hidden")
    paper_study.work_dir.rename(hidden)  # nothing on disk but the MLflow store
    try:
        status = run_main(
            "reproduce_tables.py",
            "--tables-only",
            "--tracking-uri",
            paper_study.tracking_uri,
            "--work-dir",
            tmp_path / "empty",
            "--out",
            tmp_path / "rebuilt",
        )
    finally:
        hidden.rename(paper_study.work_dir)
    assert status == 0, capsys.readouterr().err
    for name, text in expected.items():
        assert (tmp_path / "rebuilt" / name).read_text() == text, name


def test_tables_only_without_a_study_says_so(tmp_path, capsys):
    status = run_main(
        "reproduce_tables.py", "--tables-only", "--tracking-uri", tmp_path / "empty.db", "--work-dir", tmp_path
    )
    assert status == 2
    assert "no reproduce_tables study in MLflow experiment 'wmhseg-paper'" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["prepare.py", "cross_validate.py", "reproduce_tables.py"])
def test_each_pipeline_has_help(script, capsys):
    with pytest.raises(SystemExit) as stop:
        run_main(script, "--help")
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage:")
    if script != "prepare.py":
        assert "--budget {paper,small,tiny}" in text and "--tracking-uri" in text and "Examples" in text
