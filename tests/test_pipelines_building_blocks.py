"""The pieces under the pipelines, without training: budgets as bundle overrides, fold schemes, the paper's
numbers and how results become Tables 1-3."""

from __future__ import annotations

import json
import math

import pytest

from wmhseg.data.datalist import datalist_folds, default_eval_split
from wmhseg.experiments import build_tables, get_budget, leave_one_scanner_out
from wmhseg.experiments.paper import TABLE1_ROWS, TABLE3_ROWS, match_scanner
from wmhseg.experiments.results import Evaluation, StudyResults
from wmhseg.networks import TABLE1, get_network

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # in-process work: one thread on shared cores


def test_tiny_budget_overrides_build_every_variant_small():
    budget = get_budget("tiny")
    overrides = budget.overrides()
    assert overrides["epochs"] == 1 and overrides["patch_size"] == [32, 32, 8] and overrides["num_workers"] == 0
    for preset in (*TABLE1, "unet3d", "attention_unet3d"):  # every variant takes the budget's widths
        net = get_network(preset, **overrides["network_options"])
        assert sum(p.numel() for p in net.parameters()) < 200_000, preset
    assert get_budget("paper").overrides() == {}  # the bundle's defaults: the paper's recipe
    changed = budget.replace(epochs=3, patch_size=[64, 64, 16])
    assert changed.name == "custom" and changed.overrides()["patch_size"] == [64, 64, 16]
    assert budget.replace(epochs=None) is budget
    with pytest.raises(ValueError, match="unknown budget 'huge'"):
        get_budget("huge")


def _datalist(tmp_path, items, test=None):
    content = {"name": "toy", "training": items, **({"test": test} if test is not None else {})}
    path = tmp_path / "toy" / "datalist.json"
    path.parent.mkdir()
    path.write_text(json.dumps(content))
    return path


def test_leave_one_scanner_out_refolds_by_scanner_and_keeps_paths_valid(tmp_path):
    items = [
        {
            "image": f"s{i}/FLAIR.nii.gz",
            "label": f"s{i}/wmh.nii.gz",
            "subject": f"s{i}",
            "scanner": ["B", "A", "C"][i % 3],
            "fold": i % 2,
        }
        for i in range(6)
    ]
    source = _datalist(tmp_path, items)
    assert datalist_folds(source) == [0, 1]
    copy = leave_one_scanner_out(source, tmp_path / "elsewhere" / "loso.json")
    content = json.loads(copy.read_text())
    assert content["fold_scheme"] == "leave-one-scanner-out" and content["name"] == "toy"
    assert {item["subject"]: item["fold"] for item in content["training"]} == {
        f"s{i}": {"A": 0, "B": 1, "C": 2}[["B", "A", "C"][i % 3]] for i in range(6)
    }
    for item in content["training"]:  # relative to the new file, pointing at the same files
        assert (copy.parent / item["image"]).resolve() == (source.parent / item["subject"] / "FLAIR.nii.gz").resolve()
    (tmp_path / "one").mkdir()
    single = _datalist(tmp_path / "one", [{**items[0], "scanner": "A"}])
    with pytest.raises(ValueError, match="needs two scanners or more"):
        leave_one_scanner_out(single, tmp_path / "x.json")


def test_evaluation_split_defaults_to_a_labelled_test_list(tmp_path):
    item = {"image": "a.nii.gz", "label": "a_wmh.nii.gz", "subject": "a", "scanner": "A", "fold": 0}
    (tmp_path / "v").mkdir()
    (tmp_path / "t").mkdir()
    assert default_eval_split(_datalist(tmp_path / "v", [item], test=[{"image": "b.nii.gz"}])) == "validation"
    assert default_eval_split(_datalist(tmp_path / "t", [item], test=[item])) == "test"


def test_challenge_scanners_match_the_papers_table3_rows():
    rows = {
        scanner: match_scanner(scanner)
        for scanner in (
            "Utrecht",
            "Singapore",
            "PETMR",
            "Amsterdam/Philips_VU .PETMR_01.",
            "GE3T",
            "Amsterdam/GE1T5",
            "Average",
        )
    }
    assert [rows[s].label.split(" (")[0] for s in rows] == [
        "Utrecht",
        "Singapore",
        "Amsterdam Philips",
        "Amsterdam Philips",
        "Amsterdam GE3T",
        "Amsterdam GE1.5T",
        "Average",
    ]
    assert match_scanner("phantom-iso1mm") is None
    assert TABLE3_ROWS[-1].avd_percent == pytest.approx(17.4) and TABLE1_ROWS[-1].preset == "saunet3d"


def _row(subject, scanner, dsc, avd=20.0):
    return {"subject": subject, "scanner": scanner, "dsc": dsc, "hd95": 5.0, "avd": avd, "recall": 0.5, "f1": 0.6}


def test_tables_pool_the_cases_of_every_fold_and_mark_missing_variants():
    evaluations = (
        Evaluation("r0", "saunet3d", 0, None, (_row("1", "Utrecht", 0.8), _row("2", "GE3T", 0.6, avd=math.nan))),
        Evaluation("r1", "saunet3d", 1, None, (_row("3", "Utrecht", 0.7),)),
        Evaluation("r2", "backbone_gn", 0, None, (_row("1", "Utrecht", 0.5),)),
    )
    results = StudyResults("s1", "exp", "sqlite:///x.db", None, "toy", "tiny", "validation", evaluations)
    table1, table2, table3 = build_tables(results)
    rows1 = {row.key: row for row in table1.rows}
    assert list(rows1) == list(TABLE1)
    assert rows1["saunet3d"].ours["n"] == 3 and rows1["saunet3d"].ours["dsc"] == pytest.approx(0.7)
    assert rows1["saunet3d"].ours["avd"] == pytest.approx(20.0) and rows1["saunet3d"].ours["avd_nan"] == 1
    assert rows1["saunet3d"].n_folds == 2 and rows1["backbone_333_bn"].ours is None
    markdown = table1.markdown()
    assert "| Backbone with (3,3,3) & (2,2,2) (BN) | `backbone_333_bn` | — | — |" in markdown
    row = "| 3D SA-UNet | `saunet3d` | 3 | 0.700 | 20.0 | 0.600 | 5.00 | 0.500 | 0.79 | 17.4 [0.174] | 0.76 |"
    assert row in markdown
    assert "paper HD95 (mm)" in table2.markdown() and "paper HD95" not in markdown
    by_scanner = {row.key: row for row in table3.rows if row.key}
    assert by_scanner["Utrecht"].ours["dsc"] == pytest.approx(0.75) and by_scanner["Utrecht"].paper is TABLE3_ROWS[0]
    assert by_scanner["all"].ours["dsc"] == pytest.approx(0.7)
    assert "skipped in the means: saunet3d: AVD (%) 1 of 3." in markdown
    csv_lines = table1.csv().splitlines()
    assert csv_lines[0].startswith("table,label,key,n_cases,n_folds,dsc,avd,f1,hd95,recall,paper_dsc")
    assert len(csv_lines) == 1 + len(TABLE1)
