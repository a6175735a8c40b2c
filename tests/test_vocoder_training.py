"""The vocoder's training stages on the tiny LibriTTS: teacher, then the distilled student."""
from __future__ import annotations

import copy

import mlflow
import pytest
import torch
import yaml

from voxflow import stages
from voxflow.ingest import ingest
from voxflow.vocoder.data import extract_features
from voxflow.vocoder.training import load_student, load_teacher

PARAMS = yaml.safe_load(open("params.yaml"))["vocoder"]


@pytest.fixture(scope="module")
def features(tiny_corpus, tmp_path_factory):
    work = tmp_path_factory.mktemp("vocoder-training")
    ingest("libritts", tiny_corpus("libritts"), work / "libritts.parquet")
    extract_features(work / "libritts.parquet", work / "features")
    return work / "features"


def _quick(options: dict) -> dict:
    """params.yaml's vocoder section with a few short steps."""
    options = copy.deepcopy(options)
    for part in ("teacher", "student"):
        options[part].update(steps=3, batch_size=2, segment_seconds=0.05, checkpoint_every=2,
                             log_every=1)
    options["student"].update(n_fft=256, hop_length=64)
    return options


def test_teacher_then_student_train_resume_and_load(features, tmp_path, tracking):
    options = _quick(PARAMS)
    teacher_path = stages.train_vocoder_teacher(features, tmp_path / "teacher", options)
    student_path = stages.distill_vocoder_student(features, teacher_path, tmp_path / "student",
                                                  options)
    teacher, student = load_teacher(teacher_path), load_student(student_path)
    # the student's conditioning is the teacher's, frozen during distillation
    for name, value in teacher.conditioning.state_dict().items():
        assert torch.equal(value, student.conditioning.state_dict()[name]), name
    mel = torch.randn(1, 4, 80)
    assert student.synthesize(mel, generator=torch.Generator().manual_seed(0)).shape == (1, 1200)

    runs = {r.info.run_name: r for r in mlflow.search_runs(experiment_names=["voxflow"],
                                                            output_format="list")}
    assert {"vocoder-teacher", "vocoder-student"} <= set(runs)
    assert "train/nll" in runs["vocoder-teacher"].data.metrics
    assert "train/power" in runs["vocoder-student"].data.metrics
    assert runs["vocoder-teacher"].data.params["preset"] == "tiny"

    evaluation = {**options["evaluation"], "utterances": 2, "max_seconds": 0.1}
    metrics = stages.evaluate_vocoder(features, teacher_path, student_path, tmp_path / "eval",
                                      tmp_path / "metrics.json", {**options,
                                                                  "evaluation": evaluation})
    systems = ("student", "student-ref", "griffin-lim", "teacher")
    assert {f"{s}/{m}" for s in systems for m in ("mcd", "stoi")} <= set(metrics)
    assert metrics["griffin-lim/mcd"] < metrics["student/mcd"]     # a 3-step student is noise
    assert sorted(p.name for p in (tmp_path / "eval" / "audio").iterdir()) == sorted(
        ("reference", *systems))
    summary = (tmp_path / "eval" / "summary.md").read_text()
    assert "| griffin-lim |" in summary and "test-clean (2 utterances" in summary

    # more steps continue from the last checkpoint instead of starting again
    options["teacher"]["steps"] = 4
    stages.train_vocoder_teacher(features, tmp_path / "teacher", options)
    checkpoints = sorted(p.name for p in (tmp_path / "teacher" / "checkpoints").glob("*.pt"))
    assert checkpoints == ["step-00000003.pt", "step-00000004.pt"]


def test_unknown_preset_is_an_error(features, tmp_path):
    with pytest.raises(ValueError, match="unknown vocoder preset 'huge'"):
        stages.train_vocoder_teacher(features, tmp_path, {**PARAMS, "preset": "huge"})
