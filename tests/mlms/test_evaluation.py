"""The MLMS evaluation (`voxflow.mlms.evaluation`): figures 2-3, the gate metric, the synthesis
distortions, the language codes and the AB package, from `voxflow stage mlms-evaluate` run once on
the fixture's models."""
from __future__ import annotations

import json
import math

import mlflow
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from voxflow.cli import main
from voxflow.features.cache import read_index
from voxflow.mlms.data import acoustic_set
from voxflow.mlms.evaluation import AB_TEST_ID, evaluate_models, model_kind
from voxflow.mlms.features import METRICS
from voxflow.mlms.params import mlms_params
from voxflow.mlms.training import DURATION_MODEL, find_models, load_model, utterance_mse

SETUPS = ("v1", "v2", "v3", "v4", "scratch")


@pytest.fixture(scope="module")
def evaluated(mlms_data, mlms_models, module_tracking, tmp_path_factory):
    """The mlms-evaluate stage through the CLI: {"report": its folder, "metrics", "params",
    "work"}. Two AB utterances per training language, so that each (language, pair) cell has
    both orders; no post-filter, which triples WORLD's spectral conversions per synthesis."""
    work = tmp_path_factory.mktemp("mlms-evaluation")
    section = mlms_models["section"]
    section = {**section, "evaluation": {**section["evaluation"], "preference_utterances": 2,
                                         "postfilter": False}}
    (work / "params.yaml").write_text(yaml.safe_dump({"mlms": section}))
    assert main(["stage", "mlms-evaluate", str(mlms_data["world"]), str(mlms_data["linguistic"]),
                 "--models", str(mlms_models["dir"]), "--out", str(work / "report"),
                 "--metrics", str(work / "evaluation.json"), "--plots", str(work / "summary.csv"),
                 "--params", str(work / "params.yaml")]) == 0
    return {"report": work / "report", "work": work, "params": mlms_params(section),
            "metrics": json.loads((work / "evaluation.json").read_text())}


@pytest.fixture(scope="module")
def dev_rows(mlms_data):
    index = read_index(mlms_data["linguistic"])
    return index[index["split"] == "dev"]


def _training(rows: pd.DataFrame, params) -> pd.DataFrame:
    return rows[~rows["language"].isin(params.held_out_languages)]


def test_figure2_has_a_row_per_training_language_and_system(evaluated, dev_rows):
    figure2 = pd.read_csv(evaluated["report"] / "figure2.csv")
    training = _training(dev_rows, evaluated["params"])
    for speakers, rows in (("female", training[training["gender"] == "F"]), ("all", training)):
        cells = figure2[figure2["speakers"] == speakers].set_index(["language", "system"])
        expected = {(language, system) for language in rows["language"]
                    for system in ("mlms-rand", "baselines")}
        assert set(cells.index) == expected
        counts = rows.groupby("language").size()
        assert all(cells.loc[(language, "baselines"), "utterances"] == counts[language]
                   for language in counts.index)
    assert (evaluated["report"] / "figure2.png").is_file()


def test_figure3_has_a_row_per_held_out_language_and_setup(evaluated):
    figure3 = pd.read_csv(evaluated["report"] / "figure3.csv")
    held_out = evaluated["params"].held_out_languages
    assert set(zip(figure3["language"], figure3["setup"])) == {
        (language, setup) for language in held_out for setup in SETUPS}
    v_setups = figure3[figure3["setup"] != "scratch"]
    assert v_setups["mse_minus_scratch"].notna().all()
    scratch = figure3[figure3["setup"] == "scratch"].set_index("language")["mse"]
    first = v_setups.iloc[0]
    assert first["mse_minus_scratch"] == pytest.approx(first["mse"] - scratch[first["language"]])
    assert evaluated["metrics"][f"adapt/{first['language']}/{first['setup']}/mse"] == \
        pytest.approx(first["mse"])


def test_the_dvc_summary_has_every_figure_cell(evaluated):
    summary = pd.read_csv(evaluated["work"] / "summary.csv")
    figure2 = pd.read_csv(evaluated["report"] / "figure2.csv")
    figure3 = pd.read_csv(evaluated["report"] / "figure3.csv")
    assert (summary["figure"] == "figure2").sum() == len(figure2)
    assert (summary["figure"] == "figure3").sum() == len(figure3)
    assert summary.columns[-1] == "mse"


def test_the_gate_metric_is_the_synthesis_systems_mse_computed_directly(evaluated, mlms_data,
                                                                          mlms_models):
    params = evaluated["params"]
    model = load_model(mlms_models["dir"] / params.evaluation.synthesis_system / "model.pt")
    dev = acoustic_set(mlms_data["world"], mlms_data["linguistic"], "dev")
    dev = dev.where(language=sorted(set(dev.rows["language"]) - set(params.held_out_languages)))
    assert params.registry.gate_metric == "dev/mse_training_languages"
    assert evaluated["metrics"]["dev/mse_training_languages"] == pytest.approx(
        utterance_mse(model, dev).mean(), rel=1e-6)


def test_the_stage_logs_the_gate_metric_to_mlflow(evaluated):
    (run,) = mlflow.search_runs(experiment_names=["voxflow"], output_format="list",
                                filter_string="attributes.run_name = 'mlms-evaluate'")
    assert run.data.metrics["dev/mse_training_languages"] == pytest.approx(
        evaluated["metrics"]["dev/mse_training_languages"])


def test_the_intervals_contain_their_estimates(evaluated):
    metrics = evaluated["metrics"]
    assert 0 < metrics["dev/mse_training_languages_ci95"] < math.inf
    ratio = "dev/mse_ratio_to_baselines"
    assert metrics[f"{ratio}_ci95_low"] < metrics[ratio] < metrics[f"{ratio}_ci95_high"]


def test_the_synthesis_distortions_are_finite_and_their_wavs_written(evaluated, dev_rows):
    metrics, params = evaluated["metrics"], evaluated["params"]
    names = [f"synthesis/{m}{suffix}" for m in METRICS
             for suffix in ("", "_ci95", "_bound", "_margin", "_margin_ci95")]
    assert all(math.isfinite(metrics[name]) for name in names)
    speakers = _training(dev_rows, params)["speaker"].nunique()
    assert metrics["synthesis/utterances"] == speakers * params.evaluation.utterances
    table = pd.read_csv(evaluated["report"] / "synthesis.csv")
    audio = evaluated["report"] / "audio" / params.evaluation.synthesis_system
    assert all((audio / f"{utt_id}.wav").is_file() for utt_id in table["utt_id"])
    assert sf.info(audio / f"{table['utt_id'][0]}.wav").samplerate == 22050
    assert metrics["synthesis/mcd_db_margin"] == pytest.approx(
        (table["mcd_db"] - table["mcd_db_bound"]).mean())


def test_the_language_codes_are_the_models(evaluated, mlms_models):
    codes = pd.read_csv(evaluated["report"] / "language_codes.csv", keep_default_na=False)
    model = load_model(mlms_models["dir"] / "mlms-rand" / "model.pt")
    own = codes[codes["model"] == "mlms-rand"].set_index("language")
    assert set(own.index) == set(model.net.languages)
    vectors = own[[c for c in own.columns if c.startswith("code_")]].to_numpy(float)
    expected = np.stack([model.net.codes.codes[language].detach().numpy()
                         for language in own.index])
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    adapted = codes[codes["setup"] != ""]
    assert set(zip(adapted["language"], adapted["setup"])) == {
        (language, setup) for language in evaluated["params"].held_out_languages
        for setup in SETUPS[:4]}
    assert (evaluated["report"] / "language_codes.png").is_file()


def test_the_ab_package_hides_its_key_and_balances_the_orders(evaluated):
    preference, params = evaluated["report"] / "preference", evaluated["params"]
    served = preference / AB_TEST_ID
    assert (served / "config.json").is_file()
    assert not list(served.rglob("*key*"))
    key = pd.read_csv(preference / f"{AB_TEST_ID}_key.csv")
    trials = (served / "trials.csv").read_text()
    assert all(system not in trials for system in {*key["system_a"], *key["system_b"]})
    table2 = key[key["system_b"] == params.evaluation.synthesis_system]
    assert (table2["system_a"] == "baselines").all()
    for _, cell in table2.groupby("group"):
        assert len(cell) == params.evaluation.preference_utterances == 2
        assert (cell["system_1"] == cell["system_a"]).sum() == 1
    table3 = key[key["group"].isin(params.held_out_languages)]
    assert set(zip(table3["system_a"], table3["system_b"])) == {
        ("scratch", "v2"), ("scratch", "v3"), ("v2", "v3")}


def test_missing_kinds_leave_their_rows_out(mlms_data, mlms_models, tmp_path):
    """Only the baselines and the duration model: no MLMS system, no adaptation."""
    params = mlms_params(mlms_models["section"])
    models = {name: path for name, path in find_models(mlms_models["dir"]).items()
              if name.startswith("baselines/") or name == DURATION_MODEL}
    report = evaluate_models(params, mlms_data["world"], mlms_data["linguistic"], models,
                             tmp_path)
    assert set(report.tables["figure2"]["system"]) == {"baselines"}
    assert report.tables["figure3"].empty and "figure3" not in report.figures
    assert "synthesis" not in report.tables and "language_codes" not in report.tables
    assert not any(name.startswith(("dev/", "adapt/", "synthesis/")) for name in report.metrics)
    assert math.isfinite(report.metrics["duration/mse"])
    assert not (tmp_path / "preference").exists()


def test_an_empty_models_dict_is_an_error(mlms_data, mlms_models, tmp_path):
    params = mlms_params(mlms_models["section"])
    with pytest.raises(ValueError, match="no trained MLMS model"):
        evaluate_models(params, mlms_data["world"], mlms_data["linguistic"], {}, tmp_path)


def test_an_unknown_model_name_is_an_error(mlms_models):
    params = mlms_params(mlms_models["section"])
    with pytest.raises(ValueError, match="model 'de/v9'"):
        model_kind(params, "de/v9")
