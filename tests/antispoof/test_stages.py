"""The spoofing-detection stages on the tiny ASVspoof corpus, end to end at a reduced size:
features (cache, rejects), GMM baseline, a Siamese and an original network, evaluation (score
files, t-DCF, report), the pyfunc model and the registry gate for a lower-is-better EER."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from voxflow import stages as shared_stages
from voxflow.antispoof import stages
from voxflow.cli import main
from voxflow.evaluation.countermeasure import (evaluate_countermeasure, read_asv_scores,
                                               read_cm_scores)
from voxflow.ingest import ingest
from voxflow.stage_io import load_params

REPO = Path(__file__).parents[2]
PARAMS = load_params(REPO / "params.yaml")
SYSTEMS = {"lfcc-resnet18": {"frontend": "lfcc", "backbone": "resnet18", "objective": "siamese"},
           "ssl-resnet18-original": {"frontend": "ssl", "backbone": "resnet18",
                                     "objective": "original"}}


def _options() -> dict:
    """params.yaml's antispoof section at a reduced size: few steps, small batches."""
    options = copy.deepcopy(PARAMS["antispoof"])
    options["workers"] = 2
    options["frames"] = {"lfcc": 60, "cqcc": 60, "ssl": 30}
    options["gmm"].update(frontends=["lfcc"], components=4, max_iter=20)
    options["training"].update(batch_size=16, pairs=20, epochs=2, classifier_epochs=3,
                               checkpoint_every=10, log_every=5)
    options["systems"] = SYSTEMS
    options["registry"] = {**options["registry"], "model_name": "test-antispoof"}
    return options


@pytest.fixture(scope="module")
def run(tiny_corpus, tmp_path_factory, module_tracking, voxflow_ssl_dir):
    """The DAG once: ingest, lfcc and ssl features, lfcc-GMM, the two SYSTEMS, evaluation,
    registration and the gate, in a tmp MLflow store."""
    tmp = tmp_path_factory.mktemp("antispoof")
    options = _options()
    root = tiny_corpus("asvspoof")
    manifest = tmp / "asvspoof.parquet"
    ingest("asvspoof", root, manifest)
    features = {fe: tmp / "features" / fe for fe in ("lfcc", "ssl")}
    feature_metrics = {
        "lfcc": stages.features("lfcc", manifest, features["lfcc"], tmp / "metrics" / "lfcc.json",
                                options),
        "ssl": stages.ssl_features(manifest, voxflow_ssl_dir, features["ssl"],
                                   tmp / "metrics" / "ssl.json", options)}
    models = tmp / "models"
    stages.train_gmm("lfcc", features["lfcc"], models / "lfcc-gmm", options)
    for name, spec in SYSTEMS.items():
        stages.train(name, features[spec["frontend"]], models / name, options)
    dirs = [models / "lfcc-gmm", *(models / name for name in SYSTEMS)]
    asv = root / "ASVspoof2019_LA_asv_scores"
    metrics = stages.evaluate(dirs, asv, tmp / "report", tmp / "metrics" / "evaluation.json")
    decision = stages.register(tmp / "metrics" / "evaluation.json", dirs[1:],
                               tmp / "metrics" / "candidate.json", options)
    outcome = shared_stages.promote("antispoof", tmp / "metrics" / "candidate.json",
                                    tmp / "metrics" / "champion.json")
    yield {"tmp": tmp, "root": root, "manifest": manifest, "features": features,
           "feature_metrics": feature_metrics, "models": models, "dirs": dirs, "asv": asv,
           "metrics": metrics, "decision": decision, "outcome": outcome,
           "options": options, "uri": module_tracking, "ssl_dir": voxflow_ssl_dir}


def test_features_are_cached_per_utterance_with_an_index(run):
    index = pd.read_parquet(run["features"]["lfcc"] / "index.parquet")
    table = pq.read_table(run["manifest"]).to_pandas()
    assert len(index) == len(table) == run["feature_metrics"]["lfcc"]["utterances"]
    assert set(index["split"]) == {"train", "dev", "eval"}
    first = np.load(run["features"]["lfcc"] / index["path"][0])
    assert first.dtype == np.float32 and first.shape == (index["frames"][0], 60)
    ssl = pd.read_parquet(run["features"]["ssl"] / "index.parquet")
    assert (ssl["dims"] == 32).all()
    info = json.loads((run["features"]["ssl"] / "frontend.json").read_text())
    assert info["pretrained"] is True and "voxflow's SSL encoder" in info["description"]
    assert info["options"]["encoder"] == str(run["ssl_dir"] / "ssl.pt")
    assert run["feature_metrics"]["ssl"]["pretrained"] == 1


def test_the_ssl_front_end_has_its_own_stage(run, tmp_path):
    with pytest.raises(ValueError, match="antispoof-ssl-features"):
        stages.features("ssl", run["manifest"], tmp_path / "f", tmp_path / "m.json",
                        run["options"])


def _small_manifest(run, tmp_path: Path, rows: int = 8) -> Path:
    """A manifest of a few utterances copied to tmp_path/LA, the last one corrupt."""
    table = pq.read_table(run["manifest"]).slice(0, rows)
    root = tmp_path / "LA"
    for path in table.column("audio_path").to_pylist():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(run["root"] / path, root / path)
    (root / path).write_bytes(b"fLaC this is not audio")
    metadata = {**table.schema.metadata, b"voxflow.root": b"LA"}
    out = tmp_path / "small.parquet"
    pq.write_table(table.replace_schema_metadata(metadata), out)
    return out


def test_a_corrupt_file_is_rejected_and_the_cache_reused(run, tmp_path):
    manifest = _small_manifest(run, tmp_path)
    from voxflow.antispoof.features import extract_features

    out = tmp_path / "lfcc"
    index = extract_features(manifest, "lfcc", out, {}, workers=1)
    rejects = pd.read_csv(out / "rejects.csv")
    assert len(index) == 7 and len(rejects) == 1
    assert "cannot read audio" in rejects["reason"][0]
    assert rejects["utt_id"][0] not in set(index["utt_id"])
    npy = out / index["path"][0]
    stamp = npy.stat().st_mtime_ns
    extract_features(manifest, "lfcc", out, {}, workers=1)
    assert npy.stat().st_mtime_ns == stamp                     # same options: not recomputed
    again = extract_features(manifest, "lfcc", out, {"n_coeffs": 10}, workers=1)
    assert npy.stat().st_mtime_ns != stamp and (again["dims"] == 30).all()


def test_score_files_are_asvspoof_and_give_the_reported_tdcf(run):
    eval_rows = pq.read_table(run["manifest"]).to_pandas().query("split == 'eval'")
    for directory in run["dirs"]:
        name = directory.name
        for split in ("dev", "eval"):
            scores = read_cm_scores(directory / "scores" / f"{split}.txt")
            assert np.isfinite(scores["score"]).all()
            assert run["metrics"][f"{name}/{split}/eer"] == pytest.approx(
                evaluate_countermeasure(scores).metrics["eer"])
        scores = read_cm_scores(directory / "scores" / "eval.txt")
        assert set(scores["utterance"]) == set(eval_rows["utt_id"])
        assert (scores.set_index("utterance").loc[eval_rows["utt_id"], "key"].to_numpy()
                == eval_rows["key"].to_numpy()).all()
        asv = read_asv_scores(run["asv"] / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt")
        tdcf = evaluate_countermeasure(scores, asv).metrics["min_tdcf"]
        assert 0 <= tdcf <= 1.0 + 1e-9
        assert run["metrics"][f"{name}/eval/min_tdcf"] == pytest.approx(tdcf)
        # the per-attack EERs of the unseen eval attacks
        assert {f"{name}/eval/eer_A{n:02d}" for n in range(7, 20)} <= set(run["metrics"])


def test_the_report_has_the_tables_and_figures(run):
    report = run["tmp"] / "report"
    for name in ("report.md", "metrics.json", "systems.csv", "per_attack.csv", "det_dev.png",
                 "det_eval.png", "tsne.png"):
        assert (report / name).is_file(), name
    text = (report / "report.md").read_text()
    for heading in ("Table 1", "Table 2", "Table 3", "Per-attack EER", "Siamese against the GMM"):
        assert heading in text
    assert "voxflow's own small encoder" in text and "not wav2vec results" in text
    beats = run["metrics"]["lfcc-resnet18/eval/eer"] < run["metrics"]["lfcc-gmm/eval/eer"]
    assert ("do NOT beat the GMM baselines" in text) == (not beats)
    saved = json.loads((run["tmp"] / "metrics" / "evaluation.json").read_text())
    assert saved == pytest.approx(run["metrics"])
    system = json.loads((run["models"] / "lfcc-resnet18" / "system.json").read_text())
    assert system["kind"] == "siamese" and system["pairs"] == 20 and system["margin"] == 2.0
    assert system["batches_per_epoch"] == 180 // 16


def test_training_runs_are_tracked(run):
    runs = {r.info.run_name: r for r in mlflow.search_runs(experiment_names=["voxflow"],
                                                             output_format="list")}
    train = runs["antispoof-train@lfcc-resnet18"]
    assert "train/contrastive" in train.data.metrics and "train/cross_entropy" in \
        train.data.metrics
    assert "voxflow's SSL encoder" in runs["antispoof-train@ssl-resnet18-original"].data.tags[
        "voxflow.frontend"]
    assert runs["antispoof-ssl-features"].data.metrics["pretrained"] == 1
    assert runs["antispoof-evaluate"].data.metrics["lfcc-gmm/eval/eer"] == pytest.approx(
        run["metrics"]["lfcc-gmm/eval/eer"])


def test_the_pyfunc_scores_a_waveform_as_the_score_file(run):
    decision = run["decision"]
    assert run["outcome"]["promoted"] and decision["gate_passed"]   # the first: no champion yet
    model = mlflow.pyfunc.load_model(f"models:/{decision['model_name']}@champion")
    scores = read_cm_scores(run["models"] / decision["system"] / "scores" / "dev.txt")
    table = pq.read_table(run["manifest"]).to_pandas().set_index("utt_id")
    for utt in scores["utterance"][:3]:
        audio, rate = sf.read(run["root"] / table.loc[utt, "audio_path"], dtype="float32")
        predicted = model.predict(audio)
        expected = scores.set_index("utterance").loc[utt, "score"]
        assert predicted.shape == (1,) and predicted[0] == pytest.approx(expected, abs=1e-4)
    with pytest.raises(Exception, match="float32"):
        model.predict(np.zeros(16000))
    # a batch of equal-length waveforms through the unwrapped model: one score each
    batch = np.stack([audio[:16000], audio[-16000:]])
    inner = model.unwrap_python_model()
    assert inner.predict(None, batch) == pytest.approx(
        np.concatenate([inner.predict(None, x) for x in batch]), abs=1e-5)
    with pytest.raises(ValueError, match="16 kHz waveform"):
        inner.predict(None, np.zeros((2, 3, 16000), np.float32))


def test_an_ssl_systems_pyfunc_carries_its_encoder(run, tmp_path):
    """The pyfunc of a system on voxflow's SSL encoder scores as its score file with the
    encoder file gone from where the features stage read it."""
    from voxflow.antispoof.pyfunc import log_countermeasure
    from voxflow.tracking import experiment_id

    folder = run["models"] / "ssl-resnet18-original"
    system = json.loads((folder / "system.json").read_text())
    with mlflow.start_run(experiment_id=experiment_id()):      # artifacts in the tmp store
        uri = log_countermeasure(folder / "model.pt", system)
    encoder = run["ssl_dir"] / "ssl.pt"
    moved = encoder.rename(tmp_path / "elsewhere.pt")
    try:
        model = mlflow.pyfunc.load_model(uri)
        scores = read_cm_scores(folder / "scores" / "dev.txt").set_index("utterance")
        table = pq.read_table(run["manifest"]).to_pandas().set_index("utt_id")
        utt = scores.index[0]
        audio, _ = sf.read(run["root"] / table.loc[utt, "audio_path"], dtype="float32")
        assert model.predict(audio)[0] == pytest.approx(scores.loc[utt, "score"], abs=1e-4)
    finally:
        moved.rename(encoder)


def test_the_gate_keeps_the_champion_when_the_eval_eer_is_worse(run, tmp_path):
    """A lower-is-better gate: a candidate with a higher eval EER is not promoted, one with a
    lower (or equal) EER is."""
    options, decision = run["options"], run["decision"]
    metrics = json.loads((run["tmp"] / "metrics" / "evaluation.json").read_text())
    best, champion = decision["system"], decision["version"]
    client = mlflow.MlflowClient()
    for shift, promoted in ((+0.1, False), (-0.05, True)):
        changed = {**metrics, f"{best}/eval/eer": metrics[f"{best}/eval/eer"] + shift}
        path = tmp_path / f"evaluation{shift}.json"
        path.write_text(json.dumps(changed))
        candidate = stages.register(path, run["dirs"][1:], tmp_path / "c.json", options)
        assert candidate["system"] == best and candidate["gate_passed"] is promoted
        outcome = shared_stages.promote("antispoof", tmp_path / "c.json", tmp_path / "o.json")
        assert outcome["promoted"] is promoted
        now = client.get_model_version_by_alias(options["registry"]["model_name"], "champion")
        assert str(now.version) == (candidate["version"] if promoted else champion)
        assert str(client.get_model_version_by_alias(options["registry"]["model_name"],
                                                     "candidate").version) == candidate["version"]
        champion = str(now.version)


def test_bad_inputs_are_errors(run, tmp_path):
    options = run["options"]
    with pytest.raises(ValueError, match="unknown front-end"):
        stages.features("mfcc", run["manifest"], tmp_path / "f", tmp_path / "m.json", options)
    with pytest.raises(ValueError, match="unknown antispoof system"):
        stages.train("nope", run["features"]["lfcc"], tmp_path / "s", options)
    with pytest.raises(ValueError, match="holds ssl features, not lfcc"):
        stages.train_gmm("lfcc", run["features"]["ssl"], tmp_path / "g", options)
    with pytest.raises(FileNotFoundError, match="ASV scores"):
        stages.evaluate(run["dirs"], tmp_path / "nowhere", tmp_path / "r", tmp_path / "e.json")
    with pytest.raises(FileNotFoundError, match="system.json"):
        stages.evaluate([tmp_path], run["asv"], tmp_path / "r", tmp_path / "e.json")
    noise = tmp_path / "noise.parquet"
    table = pq.read_table(run["manifest"]).drop(["key"])
    pq.write_table(table, noise)
    with pytest.raises(ValueError, match="not an ASVspoof manifest"):
        stages.features("lfcc", noise, tmp_path / "f", tmp_path / "m.json", options)
    with pytest.raises(ValueError, match="systems.bad.objective: 'triplet'"):
        stages.train("bad", run["features"]["lfcc"], tmp_path / "s", {**options, "systems": {
            "bad": {"frontend": "lfcc", "backbone": "lcnn", "objective": "triplet"}}})
    assert main(["stage", "antispoof-train", "nope", str(run["features"]["lfcc"]),
                 "--out", str(tmp_path / "x"), "--params", str(REPO / "params.yaml")]) == 2


def test_the_evaluation_and_registry_read_their_systems_from_params_yaml(tmp_path):
    from voxflow.antispoof.params import antispoof_params

    params = antispoof_params(PARAMS["antispoof"])
    assert params.baseline_folders(tmp_path) == [tmp_path / "baselines" / f"{f}-gmm"
                                                 for f in PARAMS["antispoof"]["gmm"]["frontends"]]
    assert [p.name for p in params.system_folders(tmp_path)] == list(PARAMS["antispoof"]["systems"])
    assert params.training.batch_size == 64 and params.training.pairs == 50
    assert params.registry.greater_is_better is False
