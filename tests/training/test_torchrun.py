"""Data-parallel training for real: `torchrun --nproc_per_node=2 -m voxflow stage ...` on the CPU
(gloo) trains a vocoder teacher and an antispoof system for a few steps. Only rank 0 tracks and
writes: one MLflow run and one model file per stage. Each rank draws its own batches (seeded
from (seed, rank)) and DDP averages the gradients, so a 2-process run is not the single-process
run (it sees twice the data per step) but is reproducible: the same params and world size give
the same weights."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch
import yaml

from voxflow.antispoof.features import extract_features as antispoof_features
from voxflow.ingest import ingest
from voxflow.stage_io import load_params
from voxflow.vocoder.data import extract_features as vocoder_features

REPO = Path(__file__).parents[2]
TORCHRUN = Path(sys.executable).parent / "torchrun"


def _params(tmp_path: Path) -> Path:
    """params.yaml with a few short steps for both systems."""
    params = copy.deepcopy(load_params(REPO / "params.yaml"))
    params["vocoder"]["threads"] = 1    # per rank: two ranks on two cores
    params["vocoder"]["teacher"].update(steps=4, batch_size=2, segment_seconds=0.05,
                                        checkpoint_every=2, log_every=1)
    params["antispoof"]["frames"]["lfcc"] = 40
    params["antispoof"]["training"].update(batch_size=16, pairs=10, epochs=1,
                                           classifier_epochs=1, checkpoint_every=5, log_every=2)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _torchrun(*stage: str | Path, params: Path) -> None:
    env = {**os.environ, "VOXFLOW_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "voxflow", "stage",
               *map(str, stage), "--params", str(params)]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _runs() -> list:
    return mlflow.search_runs(experiment_names=["voxflow"], output_format="list")


@pytest.fixture(scope="module")
def work(tiny_corpus, tmp_path_factory):
    work = tmp_path_factory.mktemp("torchrun")
    ingest("libritts", tiny_corpus("libritts"), work / "libritts.parquet")
    vocoder_features(work / "libritts.parquet", work / "vocoder")
    ingest("asvspoof", tiny_corpus("asvspoof"), work / "asvspoof.parquet")
    antispoof_features(work / "asvspoof.parquet", "lfcc", work / "lfcc", {}, workers=1)
    return work


@pytest.mark.slow(minutes=1)
def test_a_vocoder_teacher_trains_on_two_processes_reproducibly(work, tmp_path, tracking):
    params = _params(tmp_path)
    for name in ("first", "second"):
        _torchrun("vocoder-teacher", "upw", work / "vocoder", "--out", tmp_path / name,
                  params=params)
    runs = _runs()                          # one per execution, not one per process
    assert [r.info.run_name for r in runs] == ["vocoder-teacher@upw"] * 2
    assert all(r.info.status == "FINISHED" and "train/nll" in r.data.metrics for r in runs)
    assert sorted(p.name for p in (tmp_path / "first").iterdir()) == ["checkpoints", "teacher.pt"]
    first, second = (torch.load(tmp_path / name / "teacher.pt", weights_only=True)["state_dict"]
                     for name in ("first", "second"))
    for key, value in first.items():
        assert torch.equal(value, second[key]), key


def test_an_antispoof_system_trains_on_two_processes(work, tmp_path, tracking):
    _torchrun("antispoof-train", "lfcc-senet34", work / "lfcc", "--out", tmp_path / "system",
              params=_params(tmp_path))
    runs = _runs()
    assert [r.info.run_name for r in runs] == ["antispoof-train@lfcc-senet34"]
    assert "train/contrastive" in runs[0].data.metrics
    assert {p.name for p in (tmp_path / "system").iterdir()} == {
        "checkpoints", "model.pt", "scores", "embeddings.npz", "system.json"}
