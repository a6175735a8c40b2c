"""Stages as tracked MLflow runs, and the DVC DAG: a fresh `voxflow repro`, then a no-op one."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from voxflow import stages
from voxflow.tracking import pipeline_run

REPO = Path(__file__).parents[1]


def _runs():
    return {r.info.run_name: r for r in mlflow.search_runs(experiment_names=["voxflow"],
                                                             output_format="list")}


def test_a_stage_is_one_tracked_run_under_its_pipeline(tiny_corpus, tmp_path, tracking,
                                                       monkeypatch):
    monkeypatch.setenv("KFP_RUN_ID", "kfp-run-123")
    options = {"test_fraction": 0.25, "seed": 0}
    with pipeline_run("test-pipeline") as parent_id:
        metrics = stages.ingest("noise", tiny_corpus("noise"), tmp_path / "noise.parquet",
                                tmp_path / "metrics" / "noise.json", options)
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
        stages.ingest("grid", tmp_path / "missing", tmp_path / "g.parquet", tmp_path / "g.json", {})
    assert _runs()["ingest@grid"].info.status == "FAILED"
    assert not (tmp_path / "g.parquet").exists() and not (tmp_path / "g.json").exists()


@pytest.mark.slow
def test_dvc_repro_builds_the_dag_once(tmp_path):
    """The README's main job on a fresh copy: every stage runs and is tracked; a second
    `voxflow repro` finds nothing to do."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    for path in ("dvc.yaml", "params.yaml", "src"):      # the working tree under test
        (shutil.copytree if (REPO / path).is_dir() else shutil.copy)(
            REPO / path, clone / path, **({"dirs_exist_ok": True} if (REPO / path).is_dir() else {}))
    (clone / "dvc.lock").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",
                                                             "VOXFLOW_PARENT_RUN_ID")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["VOXFLOW_PROGRESS"] = "0"
    voxflow = [sys.executable, "-m", "voxflow.cli", "repro"]

    first = subprocess.run(voxflow, cwd=clone, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    for corpus in ("libritts", "grid", "asvspoof", "iemocap", "mlms", "noise"):
        assert (clone / "data" / "manifests" / f"{corpus}.parquet").is_file()
        assert json.loads((clone / "metrics" / "ingest" / f"{corpus}.json").read_text())["utterances"] > 0
    features = json.loads((clone / "metrics" / "vocoder" / "features.json").read_text())
    assert features["utterances"] > 100 and features["rejected"] == 0
    evaluation = json.loads((clone / "metrics" / "vocoder" / "evaluation.json").read_text())
    systems = ("upw", "upw-ref", "sdpw", "griffin-lim", "teacher")
    assert {f"{system}/{metric}" for system in systems for metric in ("pesq_wb", "mcd")} <= \
        set(evaluation)
    assert (clone / "reports" / "vocoder" / "summary.md").is_file()
    assert (clone / "reports" / "vocoder" / "mushra" / "configs" / "vocoder.yaml").is_file()
    champion = json.loads((clone / "metrics" / "vocoder" / "champion.json").read_text())
    assert champion["gate_passed"] and champion["promoted"]    # the first candidate: no champion

    second = subprocess.run(voxflow, cwd=clone, env=env, capture_output=True, text=True)
    assert second.returncode == 0 and "Running stage" not in second.stdout, second.stdout

    mlflow.set_tracking_uri(f"sqlite:///{clone / 'mlflow' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["voxflow"], output_format="list")
    parents = [r for r in runs if r.info.run_name == "dvc-repro"]
    children = [r for r in runs if "voxflow.stage" in r.data.tags]
    # 6 synth, 6 ingest; vocoder features, 2 teachers, 2 students, evaluate, register, promote;
    # antispoof features x 3, GMM x 2, 9 systems, evaluate, register, promote
    assert len(parents) == 2 and len(children) == 37
    assert {c.data.tags["mlflow.parentRunId"] for c in children} <= {p.info.run_id for p in parents}
    ingest_grid = next(c for c in children if c.info.run_name == "ingest@grid")
    lock_md5 = json.loads(ingest_grid.data.tags["voxflow.data_version"])["data/corpora/GRID"]
    assert lock_md5.endswith(".dir")          # taken from dvc.lock, recorded by synth@grid
