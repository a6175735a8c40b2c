"""Vocoder log-mel features: shape and frame alignment, the mel band, Griffin-Lim inversion."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from voxflow.evaluation.spectral import lsd
from voxflow.features.logmel import GriffinLimVocoder, LogMel, LogMelConfig


def _tone_burst(seconds: float = 1.0, rate: int = 24000) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    voice = sum(torch.sin(2 * torch.pi * k * 140.0 * t) / k for k in range(1, 30))
    return (0.1 * voice * (0.6 + 0.4 * torch.sin(2 * torch.pi * 3 * t)))[None]


def test_frames_line_up_with_samples():
    config = LogMelConfig()
    for samples in (config.hop_length * 50, config.hop_length * 50 + 299):
        mel = LogMel(config)(torch.zeros(2, samples))
        assert mel.shape == (2, 50, 80)
    silence = LogMel(config)(torch.zeros(1, 3000))
    assert torch.allclose(silence, torch.full_like(silence, np.log(config.floor)))


@pytest.mark.parametrize("frequency", [200.0, 1000.0, 4000.0, 11000.0])
def test_a_tone_peaks_in_its_mel_bin(frequency):
    from torchaudio.functional import melscale_fbanks

    config = LogMelConfig()
    t = torch.arange(config.sample_rate) / config.sample_rate
    mel = LogMel(config)(torch.sin(2 * torch.pi * frequency * t)[None])
    bank = melscale_fbanks(config.n_fft // 2 + 1, config.f_min, config.f_max, config.n_mels,
                           config.sample_rate, norm="slaney", mel_scale="slaney")
    expected = int(bank[round(frequency * config.n_fft / config.sample_rate)].argmax())
    assert int(mel[0].mean(0).argmax()) == expected


def test_griffin_lim_reconstructs_the_spectrum():
    audio = _tone_burst()
    mel = LogMel()(audio)
    rebuilt = GriffinLimVocoder()(mel)
    assert rebuilt.shape == (1, mel.shape[1] * 300)
    n = rebuilt.shape[1]
    distance = lsd(audio[0, :n].double().numpy(), rebuilt[0].double().numpy(), 24000)
    noise = lsd(audio[0, :n].double().numpy(), 0.01 * np.random.default_rng(0).standard_normal(n),
                24000)
    assert distance < noise / 3


def test_f_max_above_nyquist_is_an_error():
    with pytest.raises(ValueError, match="Nyquist"):
        LogMel(LogMelConfig(sample_rate=16000))
