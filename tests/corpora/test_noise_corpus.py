"""The tiny noise corpus: DEMAND-style layout, disjoint train/test noises, valid audio, and
categories that differ in spectrum."""
from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
import soundfile as sf

from voxflow.features.spectral import power_spectrogram
from voxflow.synth.corpora import noise
from voxflow.synth.noises import CATEGORIES

SEED_001_CATEGORIES = {"room", "car", "instrument", "engine", "train", "human_chatting",
                       "air_brake", "water", "street", "mic_noise", "ring_bell", "music"}
FILE_NAME = re.compile(r"^([a-z_]+)_(train|test)_(\d{3})\.wav$")


def test_layout_and_splits(tiny_corpus):
    root = tiny_corpus("noise")
    assert set(CATEGORIES) == SEED_001_CATEGORIES
    assert {p.name for p in root.iterdir()} == SEED_001_CATEGORIES
    spec = noise.SIZES["tiny"]
    for category in CATEGORIES:
        files = sorted((root / category).iterdir())
        names = [FILE_NAME.match(p.name) for p in files]
        assert all(m and m[1] == category for m in names), files
        splits = [m[2] for m in names]
        assert splits.count("train") == spec.files["train"]
        assert splits.count("test") == spec.files["test"]
        # no test recording is a copy of a training one
        digests = {split: {hashlib.sha256(p.read_bytes()).digest() for p, s in zip(files, splits)
                           if s == split} for split in ("train", "test")}
        assert not digests["train"] & digests["test"]


def test_audio_is_valid(tiny_corpus):
    for wav in tiny_corpus("noise").glob("*/*.wav"):
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), wav
        assert info.duration == pytest.approx(noise.SIZES["tiny"].seconds)
        audio, _ = sf.read(wav)
        assert 0.01 < np.sqrt(np.mean(audio ** 2)) and np.abs(audio).max() <= 0.9, wav


def _mean_log_spectrum(wav):
    """Mean log power spectrum, level removed (recordings come at different levels)."""
    audio, sample_rate = sf.read(wav)
    spectrum = np.log(power_spectrogram(audio, sample_rate, 0.032, 0.016, 512).mean(0) + 1e-10)
    return spectrum - spectrum.mean()


def test_categories_are_distinguishable_by_spectrum(tiny_corpus):
    """Nearest centroid of the training files' mean log-spectra labels the unseen test files:
    at least 10 of the 12 right (chance is 1 in 12)."""
    root = tiny_corpus("noise")
    centroids = {c: np.mean([_mean_log_spectrum(p) for p in root.glob(f"{c}/*_train_*.wav")], 0)
                 for c in CATEGORIES}
    right = 0
    for category in CATEGORIES:
        for wav in root.glob(f"{category}/*_test_*.wav"):
            spectrum = _mean_log_spectrum(wav)
            nearest = min(centroids, key=lambda c: np.linalg.norm(spectrum - centroids[c]))
            right += nearest == category
    assert right >= 10


def test_same_seed_gives_identical_bytes(tiny_corpus, tmp_path):
    ours = noise.build(tmp_path, seed=0, workers=1)
    theirs = tiny_corpus("noise")
    for name in ("human_chatting/human_chatting_test_001.wav", "engine/engine_train_002.wav",
                 "instrument/instrument_train_001.wav"):
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name


def test_unknown_size_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="unknown size"):
        noise.build(tmp_path, size="huge")
