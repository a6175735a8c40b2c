"""Float WAV outputs (voxflow.wav): the same samples are the same bytes whenever written, and
read back unchanged."""
from __future__ import annotations

import time

import numpy as np
import soundfile as sf

from voxflow.wav import write_float_wav


def audio() -> np.ndarray:
    return (0.5 * np.random.default_rng(0).standard_normal(2205)).astype(np.float32)


def test_the_same_samples_written_a_second_apart_are_the_same_bytes(tmp_path):
    first = write_float_wav(tmp_path / "a.wav", audio(), 22050)
    time.sleep(1.1)         # libsndfile's PEAK chunk stamps the second of writing
    second = write_float_wav(tmp_path / "b.wav", audio(), 22050)
    assert first.read_bytes() == second.read_bytes()


def test_the_samples_read_back_unchanged_and_unclipped(tmp_path):
    loud = audio() * 4                  # beyond full scale: a float file keeps it
    path = write_float_wav(tmp_path / "sub" / "loud.wav", loud, 16000)
    read, rate = sf.read(path, dtype="float32")
    assert rate == 16000 and sf.info(path).subtype == "FLOAT"
    np.testing.assert_array_equal(read, loud)
