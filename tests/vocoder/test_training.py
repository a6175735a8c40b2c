"""The vocoder's stages on the tiny LibriTTS at a few steps: teachers, distilled students, the
evaluation and the registry gate, trained once for the module (`trained`), one claim per test."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch

from voxflow import stages as shared_stages
from voxflow.stage_io import load_section
from voxflow.vocoder import stages
from voxflow.vocoder.training import load_student, load_teacher

REPO = Path(__file__).parents[2]
SECTION = load_section("vocoder", REPO / "params.yaml")
SYSTEMS = ("upw", "upw-ref", "sdpw", "griffin-lim", "teacher")


def quick(section: dict = SECTION, **evaluation) -> dict:
    """params.yaml's vocoder section with a few short steps (and `evaluation` overrides)."""
    section = copy.deepcopy(section)
    section["threads"] = 1              # `make test`'s two workers share two cores
    for part in ("teacher", "student"):
        section[part].update(steps=3, batch_size=2, segment_seconds=0.05, checkpoint_every=2,
                             log_every=1)
    section["student"].update(n_fft=256, hop_length=64)
    section["teacher"].update(validation_seconds=0.05)
    section["evaluation"].update(evaluation)
    return section


@pytest.fixture(scope="module")
def trained(features, tmp_path_factory, module_tracking):
    """Teacher and student of upw and sdpw, then the evaluation of all of them."""
    work, section = tmp_path_factory.mktemp("vocoder"), quick(utterances=2, max_seconds=0.5)
    paths = {}
    for system in ("upw", "sdpw"):
        teacher = stages.train_teacher(system, features, work / system / "teacher", section)
        paths[system] = (teacher, stages.train_student(system, features, teacher,
                                                       work / system / "student", section))
    metrics = stages.evaluate(features, *paths["upw"], paths["sdpw"][1], work / "eval",
                              work / "metrics.json", work / "systems.csv", section)
    runs = {r.info.run_name: r for r in mlflow.search_runs(experiment_names=["voxflow"],
                                                            output_format="list")}
    return {"work": work, "section": section, "paths": paths, "metrics": metrics, "runs": runs}


def test_the_student_shares_the_teachers_frozen_conditioning(trained):
    teacher, student = (load_teacher(trained["paths"]["upw"][0]),
                        load_student(trained["paths"]["upw"][1]))
    for name, value in teacher.conditioning.state_dict().items():
        assert torch.equal(value, student.conditioning.state_dict()[name]), name


def test_the_conditioner_normalizes_with_the_training_statistics(trained):
    assert load_teacher(trained["paths"]["upw"][0]).conditioning.mel.mel_mean.mean() < -1.0


def test_the_student_synthesizes_a_hop_per_frame(trained):
    student = load_student(trained["paths"]["upw"][1])
    audio = student.synthesize(torch.randn(1, 4, 80), generator=torch.Generator().manual_seed(0))
    assert audio.shape == (1, 4 * SECTION["features"]["hop_length"])


def test_sdpw_has_no_audio_encoder(trained):
    assert load_student(trained["paths"]["sdpw"][1]).conditioning.encoder is None


def test_each_training_is_a_tracked_run_with_its_losses(trained):
    runs = trained["runs"]
    assert "train/nll" in runs["vocoder-teacher@upw"].data.metrics
    assert {"train/power", "train/mel", "train/kl"} <= set(runs["vocoder-student@upw"].data.metrics)
    assert runs["vocoder-teacher@upw"].data.params["preset"] == "tiny"
    assert runs["vocoder-teacher@sdpw"].data.params["speakers"] == "['8575']"


def test_the_evaluation_scores_every_system(trained):
    assert {f"{s}/{m}" for s in SYSTEMS for m in ("mcd", "stoi", "pesq_wb")} <= \
        set(trained["metrics"])
    audio = trained["work"] / "eval" / "audio"
    assert sorted(p.name for p in audio.iterdir()) == sorted(("reference", *SYSTEMS))


def test_the_evaluation_writes_the_summary_and_the_plot(trained):
    summary = (trained["work"] / "eval" / "summary.md").read_text()
    assert "| griffin-lim |" in summary and "test-clean (2 utterances" in summary
    plot = pd.read_csv(trained["work"] / "systems.csv")
    assert set(plot["system"]) == set(SYSTEMS)
    # (F0 RMSE is NaN where a 3-step model leaves no frame voiced in both)
    assert plot[plot["metric"].isin(["pesq_wb", "mcd"])]["value"].notna().all()


def test_the_evaluation_writes_a_mushra_package(trained):
    """Per utterance: the reference, two anchors and one file per system."""
    mushra = trained["work"] / "eval" / "mushra"
    assert (mushra / "configs" / "vocoder.yaml").is_file()
    items = list((mushra / "configs" / "resources" / "audio" / "vocoder").iterdir())
    assert len(items) == 2
    assert sorted(p.stem for p in items[0].iterdir()) == sorted(
        ("reference", "anchor35", "anchor70", *SYSTEMS))


def test_the_gate_promotes_the_first_candidate_but_not_a_worse_one(trained, tmp_path):
    work, section, metrics = trained["work"], trained["section"], trained["metrics"]
    student = trained["paths"]["upw"][1]
    section = {**section, "registry": {**section["registry"], "model_name": "gate-test"}}
    first = stages.register(student, work / "metrics.json", tmp_path / "candidate.json", section)
    assert first["gate_passed"] and first["greater_is_better"]
    assert shared_stages.promote("vocoder", tmp_path / "candidate.json",
                                 tmp_path / "champion.json")["promoted"]
    worse = {**metrics, "upw/pesq_wb": metrics["upw/pesq_wb"] - 0.5}
    (tmp_path / "worse.json").write_text(json.dumps(worse))
    second = stages.register(student, tmp_path / "worse.json", tmp_path / "candidate.json",
                             section)
    assert not second["gate_passed"] and int(second["version"]) == int(first["version"]) + 1
    assert not shared_stages.promote("vocoder", tmp_path / "candidate.json",
                                     tmp_path / "champion.json")["promoted"]
    champion = mlflow.MlflowClient().get_model_version_by_alias("gate-test", "champion")
    assert str(champion.version) == first["version"]


def test_more_steps_continue_from_the_last_checkpoint(features, tmp_path, tracking):
    section = quick()
    stages.train_teacher("upw", features, tmp_path / "teacher", section)
    section["teacher"]["steps"] = 4
    stages.train_teacher("upw", features, tmp_path / "teacher", section)
    checkpoints = sorted(p.name for p in (tmp_path / "teacher" / "checkpoints").glob("*.pt"))
    assert checkpoints == ["step-00000003.pt", "step-00000004.pt"]


@pytest.mark.parametrize("change, message", [
    ({"preset": "huge"}, "unknown preset 'huge'"),
    ({"teacher": {"stepz": 3}}, "vocoder.teacher: unknown key.*stepz"),
    ({"student": 3}, "vocoder.student: expected a mapping"),
    ({"seed": "0"}, "vocoder.seed: expected an integer"),
    ({"typo": 1}, "unknown key.*typo")])
def test_bad_params_name_the_key(features, tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        stages.train_teacher("upw", features, tmp_path, {**SECTION, **change})


def test_an_unknown_system_is_an_error(features, tmp_path):
    with pytest.raises(ValueError, match="unknown vocoder system 'mb'"):
        stages.train_teacher("mb", features, tmp_path, SECTION)


def test_the_same_params_train_the_same_teacher(features, tmp_path, tracking):
    """Seeded from params.yaml's `seed`, initial weights included: two runs, one model."""
    first, second = (load_teacher(stages.train_teacher("upw", features, tmp_path / name,
                                                       quick()))
                     for name in ("first", "second"))
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name


def test_lr_final_decays_the_learning_rate_to_it_by_the_last_step(features, tmp_path, tracking):
    section = quick()
    section["teacher"].update(lr=1e-3, lr_final=1e-4)
    stages.train_teacher("upw", features, tmp_path / "teacher", section)
    last = torch.load(tmp_path / "teacher" / "checkpoints" / "step-00000003.pt",
                      weights_only=False)
    assert last["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-4)
