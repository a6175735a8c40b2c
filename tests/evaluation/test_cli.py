"""`voxflow eval ...` on files: outputs written, MLflow logging inside a stage, clear errors."""
from __future__ import annotations

import json
import logging

import mlflow
import numpy as np
import pytest

from voxflow.cli import main
from voxflow.evaluation.countermeasure import (evaluate_countermeasure, read_asv_scores,
                                               read_cm_scores)


def test_tdcf_on_the_tiny_asvspoof_release_is_logged_to_mlflow(tiny_corpus, tmp_path, tracking):
    la = tiny_corpus("asvspoof")
    protocol = la / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.dev.trl.txt"
    asv = la / "ASVspoof2019_LA_asv_scores" / "ASVspoof2019.LA.asv.dev.gi.trl.scores.txt"
    rng = np.random.default_rng(0)
    # a weak countermeasure: bona fide scores one standard deviation higher than spoofs
    lines = [f"{f[1]} {(f[4] == 'bonafide') + rng.normal():.6f}"
             for f in (line.split() for line in protocol.read_text().splitlines())]
    scores = tmp_path / "cm_scores.txt"
    scores.write_text("\n".join(lines) + "\n")
    out = tmp_path / "eval"
    assert main(["eval", "tdcf", "--scores", str(scores), "--protocol", str(protocol),
                 "--asv-scores", str(asv), "--out", str(out), "--mlflow"]) == 0

    expected = evaluate_countermeasure(read_cm_scores(scores, protocol), read_asv_scores(asv))
    written = json.loads((out / "metrics.json").read_text())
    assert written == pytest.approx(expected.metrics)
    assert 0.05 < written["eer"] < 0.6 and 0 < written["min_tdcf"] <= 1
    assert (out / "per_attack.csv").read_text().startswith("attack,spoof_trials,eer\nA01,")
    assert (out / "det.png").stat().st_size > 10_000

    run, = mlflow.search_runs(experiment_names=["voxflow"], output_format="list")
    assert run.info.run_name == "eval-tdcf" and run.info.status == "FINISHED"
    assert run.data.metrics["min_tdcf_legacy"] == pytest.approx(written["min_tdcf_legacy"])
    assert run.data.params["kind"] == "tdcf"
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "evaluation")}
    assert logged == {"evaluation/metrics.json", "evaluation/per_attack.csv", "evaluation/det.png"}


def test_bad_input_is_an_error_naming_the_file(tmp_path, caplog):
    bad = tmp_path / "scores.txt"
    bad.write_text("LA_E_1 - bonafide 0.5\nLA_E_2 A07 spoof oops\n")
    with caplog.at_level(logging.ERROR):
        assert main(["eval", "eer", "--scores", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert f"{bad}:2: score 'oops' is not a number" in caplog.text
    assert not (tmp_path / "o").exists()
    only_bonafide = tmp_path / "bonafide.txt"
    only_bonafide.write_text("LA_E_1 - bonafide 0.5\n")
    with caplog.at_level(logging.ERROR):
        assert main(["eval", "eer", "--scores", str(only_bonafide),
                     "--out", str(tmp_path / "o")]) == 2
    assert "spoof" in caplog.text and "empty" in caplog.text


def _speechlike(rate: int, seconds: float, f0: float, seed: int) -> np.ndarray:
    """Harmonics of `f0` under a 4 Hz syllabic envelope, with a little noise."""
    t = np.arange(int(rate * seconds)) / rate
    voice = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 20) if k * f0 < rate / 2)
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return 0.1 * voice * envelope + 1e-3 * np.random.default_rng(seed).standard_normal(t.size)


def test_every_file_based_kind_runs_from_the_command_line(tmp_path):
    import soundfile as sf

    from voxflow.evaluation import evaluate

    clean = _speechlike(16000, 2.0, 120.0, 0)
    sf.write(tmp_path / "ref.wav", clean, 16000)
    sf.write(tmp_path / "deg.wav", clean + 0.01 * np.random.default_rng(1).standard_normal(
        clean.size), 16000)
    (tmp_path / "pairs.csv").write_text("id,reference,degraded\nu1,ref.wav,deg.wav\n"
                                        "u2,ref.wav,missing.wav\n")
    (tmp_path / "ref.txt").write_text("u1 the cat sat on the mat\nu2 Hello, World!\n")
    (tmp_path / "hyp.txt").write_text("u1 the cat sit on mat\nu2 hello world\n")
    (tmp_path / "preds.csv").write_text("label,prediction\nneu,neu\nneu,neu\nneu,sad\n"
                                        "sad,sad\n")
    runs = {"pesq-stoi": (["--pairs", "pairs.csv", "--workers", "1"], {"pairs": 2}),
            "mcd": (["--pairs", "pairs.csv", "--dtw", "--workers", "1"], {"failed_pairs": 1}),
            "wer": (["--references", "ref.txt", "--hypotheses", "hyp.txt"],
                    {"wer": 2 / 8, "ref_words": 8}),
            "uar": (["--predictions", "preds.csv"], {"uar": (2 / 3 + 1) / 2, "accuracy": 3 / 4})}
    for kind, (args, expected) in runs.items():
        out = tmp_path / kind
        argv = ["eval", kind, *(str(tmp_path / a) if a.endswith((".csv", ".txt")) else a
                                for a in args), "--out", str(out)]
        assert main(argv) == 0, kind
        metrics = json.loads((out / "metrics.json").read_text())
        for name, value in expected.items():
            assert metrics[name] == pytest.approx(value), (kind, name)
    pesq = json.loads((tmp_path / "pesq-stoi" / "metrics.json").read_text())
    assert 1.0 < pesq["pesq_wb_mean"] < 4.64 and pesq["failed_pairs"] == 1
    assert "file not found" in (tmp_path / "pesq-stoi" / "pesq_stoi.csv").read_text()
    library = evaluate("wer", references=tmp_path / "ref.txt", hypotheses=tmp_path / "hyp.txt")
    assert library.metrics == json.loads((tmp_path / "wer" / "metrics.json").read_text())


def test_mushra_export_then_analysis_from_the_command_line(tmp_path):
    import soundfile as sf
    import yaml

    rows = ["item,system,path,voice"]
    for item, f0 in (("a", 110.0), ("b", 210.0)):
        for system, noise in (("reference", 0.0), ("upw", 0.003), ("sdpw", 0.01)):
            audio = _speechlike(24000, 1.5, f0, 2)
            audio += noise * np.random.default_rng(3).standard_normal(audio.size)
            sf.write(tmp_path / f"{item}_{system}.wav", audio, 24000)
            rows.append(f"{item},{system},{item}_{system}.wav,{'male' if f0 < 150 else 'female'}")
    (tmp_path / "stimuli.csv").write_text("\n".join(rows) + "\n")
    test = tmp_path / "test"
    assert main(["eval", "mushra-export", "--stimuli", str(tmp_path / "stimuli.csv"),
                 "--out", str(test), "--test-id", "demo"]) == 0
    config = yaml.safe_load((test / "configs" / "demo.yaml").read_text())
    pages = [p for block in config["pages"] if isinstance(block, list)
             for p in block if isinstance(p, dict)]
    assert sorted(pages[0]["stimuli"]) == ["anchor35", "anchor70", "sdpw", "upw"]
    trials = [p["id"] for p in pages]

    lines = ["session_test_id,email,session_uuid,trial_id,rating_stimulus,rating_score,"
             "rating_time,rating_comment"]
    for listener, shift in (("l1", 0), ("l2", 5), ("l3", -3)):
        for trial in trials:
            for stimulus, score in (("reference", 100), ("upw", 80 + shift),
                                    ("sdpw", 70 + 2 * shift), ("anchor70", 40), ("anchor35", 20)):
                lines.append(f"demo,{listener}@x,{listener},{trial},{stimulus},{score},1000,")
    (tmp_path / "mushra.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "analysis"
    assert main(["eval", "mushra-analyze", "--ratings", str(tmp_path / "mushra.csv"),
                 "--items", str(test / "demo_items.csv"), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mushra_mean_upw"] == pytest.approx(80 + 2 / 3)
    assert metrics["mushra_rel_sdpw"] == pytest.approx((70 + 4 / 3) / 100)
    assert metrics["listeners_kept"] == 3
    assert (out / "by_voice.csv").read_text().count("\n") == 4      # header, female, male, Overall
