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
