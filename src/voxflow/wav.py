"""32-bit float WAV files that are the same bytes whenever the same samples are written.

libsndfile (soundfile) adds a PEAK chunk to every float WAV, and the chunk holds the time of
writing: two runs that computed the same audio wrote different files, so DVC saw a new output
each time. scipy writes the header alone (fmt with WAVE_FORMAT_IEEE_FLOAT, fact, data);
soundfile, pesq and pystoi read it as any float WAV.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import wavfile


def write_float_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """(samples,) audio to `path` as 32-bit float WAV, unclipped; the parent folder made."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, int(sample_rate), np.asarray(audio, dtype=np.float32))
    return path
