"""``pipelines/cross_validate.py`` end to end on tiny settings: leave-one-scanner-out over a small phantom set,
every fold trained and evaluated through the bundle, grouped in one MLflow experiment."""

from __future__ import annotations

import csv
import json
import math
import time

import pytest
from mlflow import MlflowClient
from pipeline_helpers import run_pipeline

from wmhseg.experiments import cross_validate, get_budget

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # in-process work: one thread on shared cores


EXPERIMENT = "cv-test"


@pytest.fixture(scope="module")
def loso(tmp_path_factory, scanner_phantoms):
    root = tmp_path_factory.mktemp("cv")
    uri = f"sqlite:///{root / 'mlruns.db'}"
    start = time.perf_counter()
    process = run_pipeline(
        "cross_validate.py",
        "--budget",
        "tiny",
        "--datalist",
        scanner_phantoms,
        "--network",
        "saunet3d",
        "--scheme",
        "leave-one-scanner-out",
        "--experiment",
        EXPERIMENT,
        "--tracking-uri",
        uri,
        "--work-dir",
        root / "work",
        timeout=600,
    )
    print(f"cross_validate, tiny budget, 3 folds: {time.perf_counter() - start:.0f} s")
    assert process.returncode == 0, process.stderr[-3000:]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    return {"uri": uri, "root": root, "process": process, "runs": runs, "client": client}


def test_every_scanner_is_held_out_once_and_scored(loso, scanner_phantoms):
    items = json.loads(scanner_phantoms.read_text())["training"]
    scanners = sorted({item["scanner"] for item in items})
    evaluations = [run for run in loso["runs"] if run.data.tags.get("wmhseg.role") == "evaluation"]
    assert sorted(int(run.data.tags["wmhseg.fold"]) for run in evaluations) == list(range(len(scanners)))
    for run in evaluations:
        tags = run.data.tags
        assert tags["wmhseg.fold_scheme"] == "leave-one-scanner-out" and tags["wmhseg.network_preset"] == "saunet3d"
        assert run.info.status == "FINISHED" and math.isfinite(run.data.metrics["eval_dsc"])
        local = loso["client"].download_artifacts(run.info.run_id, "per_case.csv", str(loso["root"]))
        with open(local, newline="") as stream:
            held_out = {row["scanner"] for row in csv.DictReader(stream)}
        assert held_out == {scanners[int(tags["wmhseg.fold"])]}  # fold K = the K-th scanner, and nothing else
    trainings = [run for run in loso["runs"] if run.data.tags.get("wmhseg.role") == "train"]
    assert len(trainings) == len(scanners)
    assert {
        run.data.tags["mlflow.parentRunId"] for run in loso["runs"] if run.data.tags.get("wmhseg.role") != "study"
    } == {run.info.run_id for run in loso["runs"] if run.data.tags.get("wmhseg.role") == "study"}


def test_summary_has_each_fold_and_the_pooled_means(loso, scanner_phantoms):
    (study,) = [run for run in loso["runs"] if run.data.tags.get("wmhseg.role") == "study"]
    summary_dir = loso["root"] / "work" / study.data.tags["wmhseg.study"] / "summary"
    with open(summary_dir / "cv_summary.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    groups = [row["group"] for row in rows]
    assert [g.split(" (")[0] for g in groups[:3]] == ["fold 0", "fold 1", "fold 2"]
    assert groups[-1] == "pooled: all cases"
    assert int(rows[-1]["n"]) == len(json.loads(scanner_phantoms.read_text())["training"])
    # defined for every case with reference WMH (HD95 is not, for a prediction without contour)
    assert all(math.isfinite(float(row[m])) for row in rows for m in ("dsc", "avd", "recall", "f1"))
    assert "pooled: all cases" in loso["process"].stdout
    logged = {a.path for a in loso["client"].list_artifacts(study.info.run_id, "summary")}
    assert logged == {"summary/cv_summary.md", "summary/cv_summary.csv"}


def test_continuing_a_finished_study_skips_every_fold(loso, scanner_phantoms):
    (study,) = [run for run in loso["runs"] if run.data.tags.get("wmhseg.role") == "study"]
    result = cross_validate(
        scanner_phantoms,
        get_budget("tiny"),
        loso["uri"],
        loso["root"] / "work",
        scheme="leave-one-scanner-out",
        experiment=EXPERIMENT,
        study_id=study.data.tags["wmhseg.study"],
    )
    assert [r.skipped for r in result.results] == [True, True, True] and not result.failures
    client = loso["client"]
    assert len(client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])) == len(loso["runs"])
    with pytest.raises(ValueError, match=r"was run with other settings \(budget.epochs: '1', now '2'"):
        cross_validate(
            scanner_phantoms,
            get_budget("tiny", epochs=2),
            loso["uri"],
            loso["root"] / "work",
            scheme="leave-one-scanner-out",
            experiment=EXPERIMENT,
            study_id=study.data.tags["wmhseg.study"],
        )


def test_unknown_fold_is_refused_before_any_training(scanner_phantoms, tmp_path, capsys):
    from pipeline_helpers import run_main

    status = run_main(
        "cross_validate.py",
        "--budget",
        "tiny",
        "--datalist",
        scanner_phantoms,
        "--folds",
        "7",
        "--tracking-uri",
        tmp_path / "m.db",
        "--work-dir",
        tmp_path,
    )
    assert status == 2
    assert "folds [7] are not in" in capsys.readouterr().err


def test_a_failing_fold_is_reported_with_its_cause(scanner_phantoms, tmp_path, capsys):
    from pipeline_helpers import run_main

    status = run_main(
        "cross_validate.py",
        "--budget",
        "tiny",
        "--datalist",
        scanner_phantoms,
        "--folds",
        "0",
        "--set",
        'network_options={"channels": [8, 8, 16]}',
        "--tracking-uri",
        tmp_path / "m.db",
        "--work-dir",
        tmp_path,
    )
    assert status == 1
    err = capsys.readouterr().err
    assert "FAILED: saunet3d fold 0" in err and "channels needs 4 widths" in err
    client = MlflowClient(f"sqlite:///{tmp_path / 'm.db'}")
    (study,) = client.search_runs([client.get_experiment_by_name("wmhseg-cv").experiment_id])
    assert study.data.tags["wmhseg.role"] == "study" and study.info.status == "FAILED"
