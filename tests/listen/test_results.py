"""Export in the formats of the existing analyses, and the analysis logged to a registered
model version's MLflow run."""
from __future__ import annotations

import mlflow
import pytest
from listen_helpers import SCORES, register_version

from voxflow import cli
from voxflow.evaluation import mushra, preference
from voxflow.listen.analyze import analyze
from voxflow.listen.export import results_table, write_results

MODEL = "voxflow-upw-vocoder"


@pytest.fixture
def rated_mushra(listen_test, mushra_package):
    """The MUSHRA test taken by two listeners who score as SCORES says."""
    served = listen_test(mushra_package)
    for name in ("alice", "bob"):
        served.finish(served.start(name))
    return served


@pytest.fixture
def rated_ab(listen_test, ab_package):
    """The AB test taken by two listeners who always choose sample 1."""
    served = listen_test(ab_package)
    for name in ("carol", "dave"):
        served.finish(served.start(name), choice="1")
    return served


@pytest.fixture(scope="module")
def model_version(module_tracking):
    """Version 1 of MODEL, @candidate, in this module's MLflow store."""
    version = register_version(MODEL)
    mlflow.MlflowClient().set_registered_model_alias(MODEL, "candidate", version.version)
    return version


def test_mushra_export_is_webmushras_format(rated_mushra):
    table = results_table(rated_mushra.package, rated_mushra.store)
    assert list(table.columns) == ["session_test_id", "email", "session_uuid", "trial_id",
                                   "rating_stimulus", "rating_score", "rating_time",
                                   "rating_comment"]


def test_mushra_export_holds_what_was_posted(rated_mushra):
    table = results_table(rated_mushra.package, rated_mushra.store)
    assert len(table) == 2 * 3 * 6 and "training" not in set(table["trial_id"])
    assert (table["rating_score"] == table["rating_stimulus"].map(SCORES)).all()


def test_mushra_export_round_trips_through_the_analysis(rated_mushra, tmp_path):
    path = write_results(rated_mushra.package, rated_mushra.store, tmp_path)
    report = mushra.analyze_ratings(mushra.read_ratings(path))
    assert report.metrics["listeners_kept"] == 2
    assert report.metrics["mushra_rel_upw"] == pytest.approx(0.7)


def test_ab_export_round_trips_through_the_analysis(rated_ab, ab_package, tmp_path):
    path = write_results(rated_ab.package, rated_ab.store, tmp_path)
    key = preference.read_key(ab_package.parent / "mlms-ab_key.csv")
    table = preference.analyze_ratings(preference.read_ratings(path), key)
    # sample 1 is system A in half of every group's trials: the choices split evenly
    assert table["n"].tolist() == [4, 4] and table["votes_a"].tolist() == [2, 2]


def test_exporting_before_anyone_rated_is_an_error(listen_test, mushra_package, tmp_path):
    served = listen_test(mushra_package)
    served.start()
    with pytest.raises(ValueError, match="no rated page yet"):
        write_results(served.package, served.store, tmp_path)


def test_analyze_logs_to_the_run_of_the_model_version(rated_mushra, model_version, tmp_path):
    analyze(rated_mushra.package, rated_mushra.store, f"models:/{MODEL}@candidate", "upw",
            tmp_path / "analysis")
    client = mlflow.MlflowClient()
    run = client.get_run(model_version.run_id)
    assert run.data.metrics["listen/vocoder/mushra_rel_upw"] == pytest.approx(0.7)
    assert "listen/vocoder/p_holm/upw_vs_sdpw" in run.data.metrics
    logged = {f.path for f in client.list_artifacts(run.info.run_id, "listen/vocoder")}
    assert {"listen/vocoder/ratings.png", "listen/vocoder/pairs.csv",
            "listen/vocoder/mushra.csv"} <= logged


def test_analyze_tags_the_version_with_its_relative_mushra(rated_mushra, model_version,
                                                           tmp_path):
    analyze(rated_mushra.package, rated_mushra.store, f"models:/{MODEL}/1", "sdpw", tmp_path)
    tags = mlflow.MlflowClient().get_model_version(MODEL, "1").tags
    assert float(tags["relative_mushra"]) == pytest.approx(0.55)
    assert tags["mushra_listeners"] == "2"


def test_analyze_ab_tags_the_versions_preference(rated_ab, model_version, tmp_path):
    analyze(rated_ab.package, rated_ab.store, f"models:/{MODEL}/1", "mlms-rand", tmp_path)
    tags = mlflow.MlflowClient().get_model_version(MODEL, "1").tags
    assert float(tags["preference_percent"]) == pytest.approx(50.0)
    assert tags["preference_votes"] == "8"


@pytest.mark.parametrize("uri, system, message", [
    (f"models:/{MODEL}/1", "wavenet", "'wavenet' is not one of the test's systems "
                                      "(upw, sdpw, griffin-lim)"),
    (f"models:/{MODEL}/1", "anchor35", "is not one of the test's systems"),
    (f"runs:/abc/{MODEL}", "upw", "expected models:/<name>/<version>"),
    (f"models:/{MODEL}/7", "upw", f"models:/{MODEL}/7: not in the model registry"),
    ("models:/unknown@champion", "upw", "not in the model registry"),
])
def test_analyze_errors_say_what_is_wrong(rated_mushra, model_version, tmp_path, uri, system,
                                          message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        analyze(rated_mushra.package, rated_mushra.store, uri, system, tmp_path)


def test_cli_exports_and_analyzes(rated_mushra, mushra_package, model_version, tmp_path):
    db = str(rated_mushra.store.path)
    assert cli.main(["listen", "export", str(mushra_package), "--db", db,
                     "--out", str(tmp_path / "results")]) == 0
    assert cli.main(["listen", "analyze", str(mushra_package), "--db", db, "--model",
                     f"models:/{MODEL}@candidate", "--system", "upw",
                     "--out", str(tmp_path / "analysis")]) == 0
    assert (tmp_path / "results" / "mushra.csv").is_file()
    assert (tmp_path / "analysis" / "systems.csv").is_file()


def test_cli_export_without_a_database_fails_clearly(mushra_package, tmp_path, caplog):
    db = tmp_path / "none.sqlite"
    assert cli.main(["listen", "export", str(mushra_package), "--db", str(db),
                     "--out", str(tmp_path)]) == 2
    assert f"{db}: no ratings database" in caplog.text
