"""The per-utterance feature cache: arrays, index and rejects, atomic writing, reuse."""
from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from voxflow.features.cache import (Rejected, Utterance, cache_features, read_index, read_mono,
                                    read_rejects)

RATE = 16000
COLUMNS = ["utt_id", "split", "frames", "path"]


def _frames(utterance: Utterance, fail_on: str | None = None):
    """(samples,) -> (frames, 10): the waveform in rows of 10 samples."""
    if utterance.utt_id == fail_on:
        raise RuntimeError("a bug, not a problem file")
    waveform = read_mono(utterance.audio_path, RATE)
    if len(waveform) < 10:
        raise Rejected("shorter than one frame")
    frames = len(waveform) // 10
    return {"path": waveform[:frames * 10].reshape(frames, 10)}, {"frames": frames}


@pytest.fixture
def utterances(tmp_path) -> list[Utterance]:
    """Four good files, then a corrupt one, one at 8 kHz and one of 5 samples."""
    audio = tmp_path / "audio"
    audio.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        sf.write(audio / f"u{i}.wav", 0.1 * rng.standard_normal(100 * (i + 1)), RATE)
    (audio / "u4.wav").write_bytes(b"RIFF not a wav")
    sf.write(audio / "u5.wav", np.zeros(100), 8000)
    sf.write(audio / "u6.wav", np.zeros(5), RATE)
    return [Utterance(f"u{i}", str(audio / f"u{i}.wav"), fields={"split": "train"},
                      arrays={"path": f"train/u{i}.npy"}) for i in range(7)]


def test_arrays_index_and_rejects(utterances, tmp_path):
    out = tmp_path / "cache"
    index = cache_features(utterances, _frames, out, COLUMNS, desc="frames", workers=2)
    assert list(index.columns) == COLUMNS and index["utt_id"].tolist() == ["u0", "u1", "u2", "u3"]
    assert index["frames"].tolist() == [10, 20, 30, 40] and index["frames"].dtype == np.int64
    pd.testing.assert_frame_equal(read_index(out), index)
    for row in index.itertuples():
        audio, _ = sf.read(utterances[int(row.utt_id[1:])].audio_path, dtype="float32")
        np.testing.assert_array_equal(np.load(out / row.path), audio.reshape(row.frames, 10))
    rejects = read_rejects(out)
    assert list(rejects.columns) == ["utt_id", "path", "reason"]
    assert rejects["utt_id"].tolist() == ["u4", "u5", "u6"]
    assert rejects["path"].tolist() == [u.audio_path for u in utterances[4:]]
    assert rejects["reason"][0].startswith("cannot read audio")
    assert rejects["reason"].tolist()[1:] == ["sample rate 8000 Hz, expected 16000",
                                              "shorter than one frame"]
    assert not list(out.rglob(".*"))                                  # no temporary file left


def test_a_failing_run_leaves_no_index(utterances, tmp_path):
    out = tmp_path / "cache"
    cache_features(utterances, _frames, out, COLUMNS, desc="frames", workers=1)
    with pytest.raises(RuntimeError, match="a bug"):
        cache_features(utterances, partial(_frames, fail_on="u2"), out, COLUMNS, desc="frames",
                       workers=1)
    with pytest.raises(FileNotFoundError, match="not a feature cache"):
        read_index(out)
    assert not list(out.rglob(".*"))


def test_reuse_keeps_the_cached_arrays(utterances, tmp_path):
    out = tmp_path / "cache"
    first = cache_features(utterances, _frames, out, COLUMNS, desc="frames", workers=1)
    stamps = {p: (out / p).stat().st_mtime_ns for p in first["path"]}
    (out / "train/u3.npy").unlink()
    # only u3 and the rejects are computed again: a compute failing on u0 is never called on it
    again = cache_features(utterances, partial(_frames, fail_on="u0"), out, COLUMNS,
                           desc="frames", workers=1, reuse=True)
    pd.testing.assert_frame_equal(again, first)
    assert [(out / p).stat().st_mtime_ns == stamps[p] for p in first["path"]] == \
        [True, True, True, False]
    assert read_rejects(out)["utt_id"].tolist() == ["u4", "u5", "u6"]
