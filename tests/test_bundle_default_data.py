"""With no data argument the bundle trains on the embedded default phantom set (``WMHSEG_DATA_DIR``)."""

from __future__ import annotations

import pytest
from bundle_helpers import (
    TRAIN,
    mlflow_runs,
    sqlite_uri,
    tiny_overrides,
)

from wmhseg.bundle import run_workflow

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_no_datalist_argument_trains_on_the_default_phantoms(default_phantom_root, monkeypatch, tmp_path):
    root, stamp = default_phantom_root
    monkeypatch.setenv("WMHSEG_DATA_DIR", str(root))
    expected = root / "default" / "datalist.json"
    overrides = tiny_overrides(
        tmp_path, expected, epochs=1, epoch_length=1, val_interval=2, cache_rate=0.0, run_name="default_data"
    )
    del overrides["datalist"]  # neither --datalist nor --dataset_dir
    workflow = run_workflow(TRAIN, "training", **overrides)

    assert workflow.parser.get_parsed_content("datalist") == str(expected)
    training = workflow.parser.get_parsed_content("train#datalist")
    validation = workflow.parser.get_parsed_content("validate#datalist")
    assert (len(training), len(validation)) == (12, 4)  # fold 0 of the 16 phantoms held out
    assert {item["scanner"] for item in training + validation} == {
        "phantom-utrecht", "phantom-singapore", "phantom-ge3t", "phantom-thick6mm", "phantom-iso1mm",
    }  # fmt: skip
    assert all(item["image"].startswith(str(root)) for item in training)
    assert expected.stat().st_mtime_ns == stamp  # the cached set was used, not regenerated
    (run,) = mlflow_runs(sqlite_uri(tmp_path), "test")
    assert run.info.status == "FINISHED"
    assert run.data.params["datalist.path"] == str(expected) and run.data.params["datalist.n_training"] == "16"
