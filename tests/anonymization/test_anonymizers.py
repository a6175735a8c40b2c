"""The anonymizer interface's table and folder runs: outputs, rejects, per-utterance seeds."""
from __future__ import annotations

import numpy as np
import pandas as pd
import soundfile as sf

from voxflow.anonymization.anonymizers import (Origin, anonymize_table, folder_table,
                                               read_anonymized, utterance_rng)
from voxflow.anonymization.audio import RATE


class NoiseAnonymizer:
    """Replaces the audio by noise from the utterance's random state: shows which state it got."""

    def anonymize(self, waveform, rate, rng, speaker=None):
        return rng.uniform(-0.1, 0.1, len(waveform)).astype(np.float32)


def _folder(tmp_path, names=("a.wav", "sub/b.wav"), seconds=0.5, rate=24000):
    root = tmp_path / "in"
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(int(seconds * rate)) / rate
        sf.write(root / name, 0.1 * np.sin(2 * np.pi * 200 * t), rate)
    return root


def test_origin_resamples_to_16k_and_changes_nothing_else():
    t = np.arange(16000) / RATE
    audio = (0.1 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    assert np.array_equal(Origin().anonymize(audio, RATE, np.random.default_rng(0)), audio)
    assert len(Origin().anonymize(np.zeros(24000, np.float32), 24000,
                                  np.random.default_rng(0))) == 16000


def test_utterance_rng_depends_on_seed_and_id_only():
    draw = lambda seed, utt: utterance_rng(seed, utt).random()     # noqa: E731
    assert draw(0, "u1") == draw(0, "u1")
    assert len({draw(0, "u1"), draw(0, "u2"), draw(1, "u1")}) == 3


def test_folder_table_keeps_the_layout_as_utterance_ids(tmp_path):
    table = folder_table(_folder(tmp_path))
    assert table["utt_id"].tolist() == ["a", "sub/b"]


def test_anonymize_table_writes_16k_wavs_in_the_same_layout(tmp_path):
    root = _folder(tmp_path)
    written = anonymize_table(Origin(), folder_table(root), root, tmp_path / "out", seed=0)
    files = read_anonymized(tmp_path / "out")["audio_path"]
    assert len(written) == 2 and all(sf.info(f).samplerate == RATE for f in files)
    assert (tmp_path / "out" / "wav" / "sub" / "b.wav").is_file()


def test_anonymize_table_reports_a_corrupt_file_and_writes_the_others(tmp_path):
    root = _folder(tmp_path)
    (root / "broken.wav").write_bytes(b"not audio")
    written = anonymize_table(Origin(), folder_table(root), root, tmp_path / "out", seed=0)
    rejects = pd.read_csv(tmp_path / "out" / "rejects.csv")
    assert written["utt_id"].tolist() == ["a", "sub/b"]
    assert rejects["utt_id"].tolist() == ["broken"] and "cannot read" in rejects["reason"][0]


def test_anonymization_is_the_same_for_the_same_seed_and_differs_across_seeds(tmp_path):
    root = _folder(tmp_path)
    runs = {}
    for name, seed in (("first", 0), ("again", 0), ("other", 1)):
        anonymize_table(NoiseAnonymizer(), folder_table(root), root, tmp_path / name, seed)
        runs[name] = sf.read(tmp_path / name / "wav" / "a.wav")[0]
    assert np.array_equal(runs["first"], runs["again"])
    assert not np.array_equal(runs["first"], runs["other"])
