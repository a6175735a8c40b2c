"""The AV-SE evaluation (tables 1-2 of the MHCA-AVCRN paper), the registry gate and the
registered pyfunc `models:/voxflow-avse@champion` with its consumer example."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from voxflow import stages as shared_stages
from voxflow.avse import stages
from voxflow.avse.data import EnhancementSet
from voxflow.avse.evaluation import differences
from voxflow.avse.mixing import mix, read_mixture_table
from voxflow.avse.training import load_model
from voxflow.avse.waveform import MelGainResynthesis
from voxflow.avse.params import avse_params

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def evaluated(avse_data, quick, tmp_path_factory, module_tracking):
    """Every system of params.yaml trained a few steps, evaluated, the champion registered."""
    work, section = tmp_path_factory.mktemp("avse-eval"), quick()
    for system in section["systems"]:
        stages.train(system, avse_data["features"], avse_data["crops"],
                     work / "models" / system, section)
    metrics = stages.evaluate(avse_data["mixtures"], avse_data["features"], avse_data["crops"],
                              [work / "models"], work / "report", work / "evaluation.json",
                              work / "summary.csv", section)
    decision = stages.register([work / "models"], work / "evaluation.json",
                               work / "candidate.json", section)
    return {"work": work, "section": section, "metrics": metrics, "decision": decision}


def test_every_system_and_the_mixture_are_scored_at_every_test_snr(evaluated):
    summary = pd.read_csv(evaluated["work"] / "summary.csv")
    systems = {"unprocessed", *evaluated["section"]["systems"]}
    assert set(summary["system"]) == systems
    assert set(summary["snr_db"]) == {-5.0, 0.0} and set(summary["metric"]) == {"pesq_wb", "stoi"}
    assert summary["mean"].notna().all() and (summary["n"] > 1).all()
    stoi = summary[summary["metric"] == "stoi"]["mean"]
    assert stoi.between(0, 100).all() and stoi.max() > 1        # in %, as the paper prints


def test_the_report_has_the_papers_tables_and_figure(evaluated):
    report = evaluated["work"] / "report"
    table = pd.read_csv(report / "paper_tables.csv")
    paper = table[(table["system"] == "mhca-avcrn") & (table["source"] == "paper 001")]
    assert paper["pesq_wb -5 dB noise"].item() == 2.72      # table 1, natural noise at -5 dB
    assert (report / "spectrograms.png").is_file()
    assert len(list((report / "audio" / "mhca-avcrn").glob("*.wav"))) == \
        len(list((report / "audio" / "clean").glob("*.wav")))


def test_the_gate_metric_is_the_champions_mean_over_the_test_set(evaluated):
    pairs = pd.read_csv(evaluated["work"] / "report" / "pairs.csv")
    champion = pairs[pairs["system"] == "mhca-avcrn"]
    assert evaluated["metrics"]["test/pesq_wb"] == pytest.approx(champion["pesq_wb"].mean())


def test_the_evaluated_audio_is_the_models_enhancement_of_the_mixture(evaluated, avse_data):
    params = avse_params(evaluated["section"])
    test = EnhancementSet(avse_data["features"], avse_data["crops"], "test")
    mixture_id = test.index["utt_id"].iloc[0]
    table, roots = read_mixture_table(avse_data["mixtures"])
    row = table.set_index("mixture_id").loc[mixture_id].to_dict()
    noisy = torch.from_numpy(mix(row, roots).mixture[:len(test.noisy[0]) * 160])[None]
    model = load_model(evaluated["work"] / "models" / "mhca-avcrn" / "model.pt")
    batch = test.batch([0])
    with torch.no_grad():
        expected = MelGainResynthesis(params.features)(
            noisy, model.enhance(batch["noisy"], batch["video"]))[0].numpy()
    written, _ = sf.read(evaluated["work"] / "report" / "audio" / "mhca-avcrn" /
                         f"{mixture_id.replace('/', '_')}.wav", dtype="float32")
    assert np.abs(written - expected).max() < 1 / 2**14        # 16-bit PCM


def test_a_paired_difference_needs_its_interval_to_exclude_zero():
    rng = np.random.default_rng(0)
    base = rng.normal(2.0, 0.5, 40)
    scored = pd.DataFrame({
        "system": ["a"] * 40 + ["b"] * 40 + ["c"] * 40,
        "mixture_id": [f"m{i}" for i in range(40)] * 3, "snr_db": -5.0, "condition": "noise",
        "pesq_wb": np.concatenate([base + 0.3, base, base + rng.normal(0, 0.5, 40)]),
        "stoi": np.concatenate([base, base, base])})
    table = differences(scored, "a", "b").set_index("metric")
    assert table.loc["pesq_wb", "difference"] == pytest.approx(0.3)
    assert table.loc["pesq_wb", "significant"] and not table.loc["stoi", "significant"]
    noisy = differences(scored, "c", "b").set_index("metric")
    assert noisy.loc["pesq_wb", "ci95"] > 0.1


def test_the_first_candidate_passes_the_gate_and_a_worse_one_does_not(evaluated, tmp_path):
    decision = evaluated["decision"]
    assert decision["gate_passed"] and decision["model_name"] == "voxflow-avse"
    outcome = shared_stages.promote("avse", evaluated["work"] / "candidate.json",
                                    tmp_path / "champion.json")
    assert outcome["promoted"]
    worse = {**evaluated["metrics"], "test/pesq_wb": evaluated["metrics"]["test/pesq_wb"] - 1}
    (tmp_path / "worse.json").write_text(json.dumps(worse))
    second = stages.register([evaluated["work"] / "models"], tmp_path / "worse.json",
                             tmp_path / "candidate.json", evaluated["section"])
    assert not second["gate_passed"]


def test_the_champion_enhances_like_the_evaluation(evaluated, avse_data, tmp_path):
    shared_stages.promote("avse", evaluated["work"] / "candidate.json", tmp_path / "c.json")
    model = mlflow.pyfunc.load_model("models:/voxflow-avse@champion")
    test = EnhancementSet(avse_data["features"], avse_data["crops"], "test")
    mixture_id = test.index["utt_id"].iloc[0]
    name = mixture_id.replace("/", "_")
    noisy, _ = sf.read(evaluated["work"] / "report" / "audio" / "unprocessed" / f"{name}.wav",
                       dtype="float32")
    crops = np.load(avse_data["crops"] / pd.read_parquet(avse_data["crops"] / "index.parquet")
                    .set_index("utt_id").loc[test.index["target"].iloc[0], "crops_path"])
    enhanced = model.predict({"audio": noisy, "crops": crops})
    written, _ = sf.read(evaluated["work"] / "report" / "audio" / "mhca-avcrn" / f"{name}.wav",
                         dtype="float32")
    assert enhanced.shape == written.shape
    # the evaluation enhanced the float mixture, the champion its 16-bit copy
    assert np.abs(enhanced - written).max() < 1e-2


@pytest.mark.parametrize("bad, message", [
    ({"audio": np.zeros(6400, np.float32)}, "expected"),
    ({"audio": np.zeros((2, 6400), np.float32), "crops": np.zeros((10, 80, 80), np.uint8)},
     "audio: expected"),
    ({"audio": np.zeros(6400, np.float32), "crops": np.zeros((10, 40, 40), np.uint8)},
     "crops: expected"),
    ({"audio": np.zeros(100, np.float32), "crops": np.zeros((10, 80, 80), np.uint8)},
     "at least one video frame"),
])
def test_the_champion_refuses_bad_input(evaluated, tmp_path, bad, message):
    shared_stages.promote("avse", evaluated["work"] / "candidate.json", tmp_path / "c.json")
    model = mlflow.pyfunc.load_model("models:/voxflow-avse@champion").unwrap_python_model()
    with pytest.raises(ValueError, match=message):
        model.predict(None, bad)


def test_the_example_enhances_a_grid_video_with_the_champion(evaluated, tiny_corpus, tmp_path,
                                                             module_tracking):
    shared_stages.promote("avse", evaluated["work"] / "candidate.json", tmp_path / "c.json")
    spec = importlib.util.spec_from_file_location(
        "enhance_with_champion", REPO / "examples" / "enhance_with_champion.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    grid = tiny_corpus("grid")
    video = sorted(grid.glob("s*/*.mpg"))[0]
    wav = grid / "audio_25k" / video.parent.name / f"{video.stem}.wav"
    example.main(["--wav", str(wav), "--video", str(video), "--out", str(tmp_path / "out.wav"),
                  "--tracking-uri", module_tracking])
    info = sf.info(tmp_path / "out.wav")
    assert info.samplerate == 16000 and info.frames == 75 * 640      # 3 s, 75 video frames
