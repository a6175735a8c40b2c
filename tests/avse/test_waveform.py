"""The enhanced log-mel's return to a waveform: a mel-domain gain on the noisy STFT."""
from __future__ import annotations

import math

import pytest
import torch

from voxflow.avse.waveform import MelGainResynthesis
from voxflow.features.logmel import LogMel, LogMelConfig

CONFIG = LogMelConfig(sample_rate=16000, n_mels=80, f_min=0.0, f_max=8000.0, hop_length=160,
                      win_length=640, n_fft=640)


def speech_like(seconds: float = 1.0, rate: int = 16000) -> torch.Tensor:
    """(1, samples) harmonics of 150 Hz under a 4 Hz syllable envelope."""
    t = torch.arange(int(seconds * rate)) / rate
    harmonics = sum(torch.sin(2 * math.pi * 150 * k * t) / k for k in range(1, 20))
    return (0.1 * harmonics * torch.sin(2 * math.pi * 2 * t).abs())[None]


def snr_db(clean: torch.Tensor, estimate: torch.Tensor) -> float:
    return float(10 * torch.log10(clean.pow(2).sum() / (clean - estimate).pow(2).sum()))


def test_the_noisy_log_mel_gives_the_noisy_waveform_back():
    noisy = speech_like() + 0.05 * torch.randn(1, 16000, generator=torch.Generator().manual_seed(0))
    out = MelGainResynthesis(CONFIG)(noisy, LogMel(CONFIG)(noisy))
    assert torch.allclose(out, noisy, atol=1e-5)


def test_the_clean_log_mel_removes_most_of_the_noise():
    clean = speech_like()
    noisy = clean + 0.1 * torch.randn(1, 16000, generator=torch.Generator().manual_seed(0))
    out = MelGainResynthesis(CONFIG)(noisy, LogMel(CONFIG)(clean))
    assert snr_db(clean, out) > snr_db(clean, noisy) + 5


def test_the_gain_never_exceeds_its_cap():
    noisy = 0.01 * torch.randn(1, 16000, generator=torch.Generator().manual_seed(0))
    louder = LogMel(CONFIG)(noisy) + 3.0
    gain = MelGainResynthesis(CONFIG, max_gain=1.5).gain(noisy, louder)
    assert gain.max() <= 1.5 and gain.shape == (1, 321, 101)


def test_a_log_mel_of_the_wrong_length_is_an_error():
    noisy = speech_like()
    with pytest.raises(ValueError, match="99 log-mel frames"):
        MelGainResynthesis(CONFIG)(noisy, LogMel(CONFIG)(noisy)[:, :99])
