"""Checks shared by the corpus tests."""
from __future__ import annotations

import numpy as np
import soundfile as sf


def assert_valid_audio(path, sample_rate: int) -> None:
    """Mono 16-bit at `sample_rate`, decodable, neither silent nor clipped."""
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (sample_rate, 1, "PCM_16"), path
    audio, _ = sf.read(path, dtype="int16")
    assert 0 < np.abs(audio).max() < 32767, f"{path}: silent or clipped"
