"""The corpora stages as tracked MLflow runs."""
from __future__ import annotations

import json

import mlflow
import pytest

from voxflow.corpora import stages
from voxflow.tracking import pipeline_run

def _runs():
    return {r.info.run_name: r for r in mlflow.search_runs(experiment_names=["voxflow"],
                                                             output_format="list")}


def test_a_stage_is_one_tracked_run_under_its_pipeline(tiny_corpus, tmp_path, tracking,
                                                       monkeypatch):
    monkeypatch.setenv("KFP_RUN_ID", "kfp-run-123")
    section = {"noise": {"test_fraction": 0.25, "seed": 0}}
    with pipeline_run("test-pipeline") as parent_id:
        metrics = stages.ingest("noise", tiny_corpus("noise"), tmp_path / "noise.parquet",
                                tmp_path / "metrics" / "noise.json", section)
    assert metrics["utterances"] == 48 and metrics["rejected"] == 0
    assert json.loads((tmp_path / "metrics" / "noise.json").read_text()) == metrics
    run = _runs()["ingest@noise"]
    tags = run.data.tags
    assert tags["mlflow.parentRunId"] == parent_id
    assert tags["voxflow.stage"] == "ingest@noise" and tags["kfp.run_id"] == "kfp-run-123"
    assert len(tags["mlflow.source.git.commit"]) == 40
    version = json.loads(tags["voxflow.data_version"])
    assert list(version) == [tiny_corpus("noise").as_posix()] and len(version.popitem()[1]) == 32
    assert run.data.params == {"corpus": "noise", "test_fraction": "0.25", "seed": "0"}
    assert run.data.metrics["utterances"] == 48
    artifacts = mlflow.MlflowClient().list_artifacts(run.info.run_id)
    assert [a.path for a in artifacts] == ["noise.rejects.parquet"]


def test_a_failing_stage_run_is_marked_failed(tmp_path, tracking):
    with pytest.raises(Exception, match="expected"):
        stages.ingest("grid", tmp_path / "missing", tmp_path / "g.parquet", tmp_path / "g.json",
                      {"grid": {}})
    assert _runs()["ingest@grid"].info.status == "FAILED"
    assert not (tmp_path / "g.parquet").exists() and not (tmp_path / "g.json").exists()
