"""16 kHz mono audio, the rate of every anonymization model (WavLM's), and its frame grid."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from torch.nn.utils.rnn import pad_sequence

RATE = 16000          # Hz: WavLM, ECAPA-TDNN, the recognizers
HOP = 320             # samples per SSL feature frame (20 ms, the product of WavLM's conv strides)
N_MELS = 80           # filterbank bins of the evaluation's models (the VPC recipes' 80)


def resample(audio: np.ndarray, rate: int, target: int = RATE) -> np.ndarray:
    """(samples,) float32 at `target` Hz (torchaudio's windowed-sinc resampler)."""
    if rate == target:
        return np.asarray(audio, dtype=np.float32)
    return AF.resample(torch.from_numpy(np.asarray(audio, dtype=np.float32)), rate,
                       target).numpy()


def load_audio(path: str | Path, rate: int = RATE) -> np.ndarray:
    """The audio file as (samples,) float32 at `rate`, channels averaged. Raises ValueError naming
    the file when it cannot be read or holds no samples."""
    try:
        audio, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise ValueError(f"{path}: cannot read audio ({err})") from err
    if audio.shape[0] == 0:
        raise ValueError(f"{path}: the file holds no samples")
    return resample(audio.mean(axis=1), file_rate, rate)


def fbank(audio: np.ndarray, n_mels: int = N_MELS) -> np.ndarray:
    """(frames, n_mels) float32 log mel filterbank energies of 16 kHz audio, 25 ms windows every
    10 ms (Kaldi's, as SpeechBrain's and the VPC's ECAPA recipes use), each bin's mean over the
    utterance removed."""
    import torchaudio.compliance.kaldi as kaldi

    x = torch.from_numpy(np.asarray(audio, dtype=np.float32)).unsqueeze(0)
    if x.shape[1] < 400:                                     # one 25 ms window at least
        x = torch.nn.functional.pad(x, (0, 400 - x.shape[1]))
    feats = kaldi.fbank(x * 32768, num_mel_bins=n_mels, sample_frequency=RATE, dither=0.0)
    return (feats - feats.mean(dim=0, keepdim=True)).numpy()


def fbank_features(waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
    """(frames, 80) fbank tensors of 16 kHz waveforms; ValueError naming the first waveform that
    is not a non-empty 1-D array."""
    features = []
    for i, wave in enumerate(waves):
        wave = np.asarray(wave)
        if wave.ndim != 1 or wave.size == 0:
            raise ValueError(f"waveform {i}: expected a non-empty 1-D array of 16 kHz samples, "
                             f"got shape {wave.shape}")
        features.append(torch.from_numpy(fbank(wave, N_MELS)))
    return features


def pad_features(features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, frames, n_mels) zero-padded batch and (batch,) frame counts."""
    return (pad_sequence(list(features), batch_first=True),
            torch.tensor([len(f) for f in features]))
