"""The WORLD feature stage (voxflow.mlms.features) on a few utterances of the tiny MLMS corpus
and a handful of problem files."""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from voxflow.features.cache import read_index, read_rejects
from voxflow.ingest.mlms import prepare_mlms
from voxflow.mlms import features as stage
from voxflow.mlms.features import (INDEX_COLUMNS, analysis_synthesis_bound, extract_features,
                                   read_features)
from voxflow.mlms.world import DIMENSIONS, WorldConfig, frame_count
from voxflow.synth.corpora import mlms

CONFIG = WorldConfig()
GOOD_PER_SPLIT = 2              # the shortest utterances of train and of dev: seconds of work


@pytest.fixture(scope="module")
def manifest_and_root(tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    """(the tiny MLMS manifest, its corpus root)."""
    root = mlms.build(tmp_path_factory.mktemp("mlms-corpus"), "tiny", seed=0, workers=1)
    return pd.DataFrame(prepare_mlms(root).rows), root


def problem_row(template: pd.Series, utt_id: str) -> dict:
    """A manifest row like `template` for the problem file `bad/<utt_id>.wav`."""
    return {**template.to_dict(), "utt_id": utt_id, "audio_path": f"bad/{utt_id}.wav"}


@pytest.fixture(scope="module")
def stage_run(manifest_and_root, tmp_path_factory) -> dict:
    """A corpus of the shortest good utterances plus problem files, its manifest and its
    features cache (written once, read only)."""
    manifest, source = manifest_and_root
    good = manifest.sort_values("duration").groupby("split").head(GOOD_PER_SPLIT)
    work = tmp_path_factory.mktemp("mlms-features")
    root = work / "corpus"
    for path in good["audio_path"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / path, root / path)
    (root / "bad").mkdir()
    first = good.iloc[0]
    (root / "bad" / "corrupt.wav").write_bytes(
        np.random.default_rng(0).bytes((source / first["audio_path"]).stat().st_size))
    sf.write(root / "bad" / "silent.wav", np.zeros(CONFIG.sample_rate), CONFIG.sample_rate)
    sf.write(root / "bad" / "short.wav", 0.1 * np.ones(200), CONFIG.sample_rate)
    sf.write(root / "bad" / "rate.wav", 0.1 * np.ones(16000), 16000)
    problems = pd.DataFrame([problem_row(first, name)
                             for name in ("corrupt", "silent", "short", "rate")])
    table = pd.concat([good, problems], ignore_index=True)
    index = extract_features(table, root, work / "cache", CONFIG, workers=1)
    return {"manifest": good, "table": table, "root": root, "cache": work / "cache",
            "index": index}


def test_one_feature_array_per_good_utterance(stage_run):
    index, cache = stage_run["index"], stage_run["cache"]
    assert sorted(index["utt_id"]) == sorted(stage_run["manifest"]["utt_id"])
    for row in index.to_dict("records"):
        assert (cache / row["world_path"]).is_file()


def test_arrays_have_49_dimensions_and_the_audio_frame_count(stage_run):
    samples = stage_run["manifest"].set_index("utt_id")["num_samples"]
    for row in stage_run["index"].to_dict("records"):
        features = read_features(stage_run["cache"], row)
        assert features.shape == (frame_count(samples[row["utt_id"]], CONFIG), DIMENSIONS)


def test_index_carries_the_manifest_fields(stage_run):
    index = stage_run["index"].set_index("utt_id")
    manifest = stage_run["manifest"].set_index("utt_id").loc[index.index]
    assert list(stage_run["index"].columns) == INDEX_COLUMNS
    for column in ("split", "speaker", "language", "gender"):
        assert index[column].tolist() == manifest[column].tolist()


def test_index_written_to_disk_is_the_returned_one(stage_run):
    pd.testing.assert_frame_equal(read_index(stage_run["cache"]), stage_run["index"])


@pytest.mark.parametrize("utt_id, reason", [
    ("corrupt", "cannot read"),
    ("silent", "silent"),
    ("short", "fewer than"),
    ("rate", "sample rate 16000"),
])
def test_problem_files_are_rejected_with_their_reason(stage_run, utt_id, reason):
    rejects = read_rejects(stage_run["cache"]).set_index("utt_id")
    assert reason in rejects.loc[utt_id, "reason"]


def test_a_rerun_with_the_same_settings_reuses_the_arrays(stage_run, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    shutil.copytree(stage_run["cache"], cache)

    def fail(*args, **kwargs):
        raise AssertionError("analyze called for a cached utterance")

    monkeypatch.setattr(stage, "analyze", fail)
    index = extract_features(stage_run["table"], stage_run["root"], cache, CONFIG, workers=1)
    pd.testing.assert_frame_equal(index, stage_run["index"])


def test_a_rerun_with_other_settings_computes_again(stage_run, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    shutil.copytree(stage_run["cache"], cache)
    calls = []
    monkeypatch.setattr(stage, "analyze", lambda audio, config: calls.append(1) or
                        np.ones((frame_count(len(audio), config), DIMENSIONS), np.float32))
    extract_features(stage_run["manifest"], stage_run["root"], cache,
                     replace(CONFIG, postfilter_beta=0.3), workers=1)
    assert len(calls) == len(stage_run["manifest"])


def test_a_manifest_without_a_needed_column_is_a_clear_error(stage_run, tmp_path):
    with pytest.raises(ValueError, match="language"):
        extract_features(stage_run["manifest"].drop(columns="language"), stage_run["root"],
                         tmp_path, CONFIG)


def test_read_features_names_a_file_that_does_not_match_its_row(stage_run, tmp_path):
    row = stage_run["index"].iloc[0].to_dict()
    np.save(tmp_path / "odd.npy", np.zeros((3, DIMENSIONS), np.float32))
    with pytest.raises(ValueError, match="odd.npy"):
        read_features(tmp_path, {**row, "world_path": "odd.npy"})


@pytest.fixture(scope="module")
def bound(stage_run):
    return analysis_synthesis_bound(stage_run["cache"], CONFIG, utterances=None, workers=1)


def test_bound_scores_every_cached_dev_utterance(stage_run, bound):
    dev = stage_run["index"].query("split == 'dev'")
    assert bound.tables["analysis_synthesis"]["utt_id"].tolist() == dev["utt_id"].tolist()
    assert bound.metrics["utterances"] == len(dev)


def test_bound_takes_the_first_n_dev_utterances(stage_run):
    report = analysis_synthesis_bound(stage_run["cache"], CONFIG, utterances=1, workers=1)
    first = stage_run["index"].query("split == 'dev'")["utt_id"].iloc[0]
    assert report.tables["analysis_synthesis"]["utt_id"].tolist() == [first]


# WORLD's own resynthesis loses this much at most on the tiny corpus's voices (about 3 dB MCD,
# 2-4 Hz F0 RMSE and under 10 % V/UV flips per utterance in development)
@pytest.mark.parametrize("metric, bound_value", [
    ("mcd_db", 4.0), ("f0_rmse_hz", 8.0), ("vuv_error", 0.15), ("bap_db", 7.0)])
def test_round_trip_through_world_stays_within_the_stated_bound(bound, metric, bound_value):
    scores = bound.tables["analysis_synthesis"][metric]
    assert scores.max() < bound_value
    assert bound.metrics[f"{metric}_mean"] == pytest.approx(scores.mean())
