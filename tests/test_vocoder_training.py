"""The vocoder's training stages on the tiny LibriTTS: teacher, then the distilled student."""
from __future__ import annotations

import copy
import json

import mlflow
import pandas as pd
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
    teacher_path = stages.train_vocoder_teacher("upw", features, tmp_path / "teacher", options)
    student_path = stages.distill_vocoder_student("upw", features, teacher_path,
                                                  tmp_path / "student", options)
    teacher, student = load_teacher(teacher_path), load_student(student_path)
    # the student's conditioning is the teacher's, frozen during distillation
    for name, value in teacher.conditioning.state_dict().items():
        assert torch.equal(value, student.conditioning.state_dict()[name]), name
    # the conditioner normalizes with the training set's log-mel statistics
    assert teacher.conditioning.mel.mel_mean.mean() < -1.0
    mel = torch.randn(1, 4, 80)
    assert student.synthesize(mel, generator=torch.Generator().manual_seed(0)).shape == (1, 1200)

    runs = {r.info.run_name: r for r in mlflow.search_runs(experiment_names=["voxflow"],
                                                            output_format="list")}
    assert {"vocoder-teacher@upw", "vocoder-student@upw"} <= set(runs)
    assert "train/nll" in runs["vocoder-teacher@upw"].data.metrics
    assert {"train/power", "train/mel", "train/kl"} <= set(runs["vocoder-student@upw"].data.metrics)
    assert runs["vocoder-teacher@upw"].data.params["preset"] == "tiny"

    # SDPW: no Audio Encoder, trained on its one speaker only
    sdpw_teacher = stages.train_vocoder_teacher("sdpw", features, tmp_path / "sdpw-teacher",
                                                options)
    sdpw_path = stages.distill_vocoder_student("sdpw", features, sdpw_teacher,
                                               tmp_path / "sdpw-student", options)
    assert load_student(sdpw_path).conditioning.encoder is None

    evaluation = {**options["evaluation"], "utterances": 2, "max_seconds": 0.5}
    metrics = stages.evaluate_vocoder(features, teacher_path, student_path, sdpw_path,
                                      tmp_path / "eval", tmp_path / "metrics.json",
                                      tmp_path / "systems.csv",
                                      {**options, "evaluation": evaluation})
    systems = ("upw", "upw-ref", "sdpw", "griffin-lim", "teacher")
    assert {f"{s}/{m}" for s in systems for m in ("mcd", "stoi", "pesq_wb")} <= set(metrics)
    assert metrics["griffin-lim/mcd"] < metrics["upw/mcd"]     # a 3-step student is noise
    assert sorted(p.name for p in (tmp_path / "eval" / "audio").iterdir()) == sorted(
        ("reference", *systems))
    summary = (tmp_path / "eval" / "summary.md").read_text()
    assert "| griffin-lim |" in summary and "test-clean (2 utterances" in summary
    plot = pd.read_csv(tmp_path / "systems.csv")
    assert set(plot["system"]) == set(systems)
    # (F0 RMSE is NaN where a 3-step model leaves no frame voiced in both)
    assert plot[plot["metric"].isin(["pesq_wb", "mcd"])]["value"].notna().all()
    # the MUSHRA package: per utterance the reference, two anchors and one file per system
    mushra = tmp_path / "eval" / "mushra"
    assert (mushra / "configs" / "vocoder.yaml").is_file()
    items = list((mushra / "configs" / "resources" / "audio" / "vocoder").iterdir())
    assert len(items) == 2
    assert sorted(p.stem for p in items[0].iterdir()) == sorted(
        ("reference", "anchor35", "anchor70", *systems))

    # the registry gate: the first candidate becomes champion, a worse one does not
    decision = stages.register_vocoder(student_path, tmp_path / "metrics.json",
                                       tmp_path / "candidate.json", options)
    assert decision["gate_passed"] and decision["version"] == "1"
    assert stages.promote_vocoder(tmp_path / "candidate.json",
                                  tmp_path / "champion.json")["promoted"]
    worse = {**metrics, "upw/pesq_wb": metrics["upw/pesq_wb"] - 0.5}
    (tmp_path / "worse.json").write_text(json.dumps(worse))
    decision = stages.register_vocoder(student_path, tmp_path / "worse.json",
                                       tmp_path / "candidate.json", options)
    assert not decision["gate_passed"] and decision["version"] == "2"
    assert not stages.promote_vocoder(tmp_path / "candidate.json",
                                      tmp_path / "champion.json")["promoted"]
    champion = mlflow.MlflowClient().get_model_version_by_alias("voxflow-upw-vocoder",
                                                                "champion")
    assert str(champion.version) == "1"

    # more steps continue from the last checkpoint instead of starting again
    options["teacher"]["steps"] = 4
    stages.train_vocoder_teacher("upw", features, tmp_path / "teacher", options)
    checkpoints = sorted(p.name for p in (tmp_path / "teacher" / "checkpoints").glob("*.pt"))
    assert checkpoints == ["step-00000003.pt", "step-00000004.pt"]


def test_unknown_preset_or_system_is_an_error(features, tmp_path):
    with pytest.raises(ValueError, match="unknown vocoder preset 'huge'"):
        stages.train_vocoder_teacher("upw", features, tmp_path, {**PARAMS, "preset": "huge"})
    with pytest.raises(ValueError, match="unknown vocoder system 'mb'"):
        stages.train_vocoder_teacher("mb", features, tmp_path, PARAMS)


def test_the_same_params_train_the_same_teacher(features, tmp_path, tracking):
    """Seeded from params.yaml's `seed`, initial weights included: two runs, one model."""
    options = _quick(PARAMS)
    first, second = (load_teacher(stages.train_vocoder_teacher("upw", features, tmp_path / name,
                                                              options))
                     for name in ("first", "second"))
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name
