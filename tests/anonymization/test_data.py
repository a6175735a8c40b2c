"""The anonymization DAG's tables: LibriTTS roles, the trial subsets and the leakage rule (no
evaluation speaker among the speakers any model or the kNN-VC pool trains on)."""
from __future__ import annotations

import pytest

from voxflow.anonymization.data import (emotion_table, libritts_role, manifest_table,
                                        read_waves, trial_table)
from voxflow.ingest import ingest


@pytest.fixture(scope="module")
def libritts(tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("manifest") / "libritts.parquet"
    ingest("libritts", tiny_corpus("libritts"), out)
    return manifest_table(out)


def test_no_evaluation_speaker_is_a_training_speaker(libritts):
    training = set(libritts_role(libritts, "train")["speaker"])
    evaluated = set(trial_table(libritts)["speaker"])
    assert training and evaluated and not training & evaluated


def test_trial_table_names_the_vpc_subsets(libritts):
    table = trial_table(libritts)
    assert set(table["split"]) == {"dev", "test"} and set(table["gender"]) <= {"f", "m"}


def test_emotion_table_keeps_the_four_classes_only(tiny_corpus, tmp_path):
    ingest("iemocap", tiny_corpus("iemocap"), tmp_path / "iemocap.parquet")
    table = emotion_table(manifest_table(tmp_path / "iemocap.parquet"))
    assert set(table["emotion"]) == {"neu", "hap", "sad", "ang"}


def test_an_unreadable_file_is_left_out_and_the_others_read(libritts, tmp_path):
    rows = libritts.head(3).copy()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    rows.loc[rows.index[1], "audio_path"] = str(broken)
    kept, waves = read_waves(rows)
    assert len(kept) == len(waves) == 2 and str(broken) not in set(kept["audio_path"])
