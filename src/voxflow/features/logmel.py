"""Log-mel spectrograms for vocoders (the UPW paper: 80 bins, 50 Hz-12 kHz, 24 kHz audio, 80 Hz
frames) and their Griffin-Lim inversion, the floor every neural vocoder must beat.

Torch modules, so that the same code extracts features in a pipeline stage, inside a training
step on the GPU and in the registered model. A waveform of `frames * hop_length` samples maps to
exactly `frames` frames (the centred STFT's extra last frame is dropped), so audio segments and
feature slices line up without bookkeeping.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torchaudio.transforms import GriffinLim, InverseMelScale, MelSpectrogram


@dataclass(frozen=True)
class LogMelConfig:
    sample_rate: int = 24000
    n_mels: int = 80
    f_min: float = 50.0
    f_max: float = 12000.0
    hop_length: int = 300          # 80 frames per second at 24 kHz
    win_length: int = 1200         # 50 ms
    n_fft: int = 2048
    floor: float = 1e-5            # magnitude floor before the log: -100 dB

    def as_dict(self) -> dict:
        return asdict(self)


class LogMel(nn.Module):
    """(batch, samples) waveform -> (batch, samples // hop_length, n_mels) natural-log
    mel magnitude (Slaney mel scale and area normalization, Hann window)."""

    def __init__(self, config: LogMelConfig = LogMelConfig()):
        super().__init__()
        if config.f_max > config.sample_rate / 2:
            raise ValueError(f"f_max {config.f_max} Hz is above the Nyquist frequency of "
                             f"{config.sample_rate} Hz audio")
        self.config = config
        self.mel = MelSpectrogram(config.sample_rate, n_fft=config.n_fft,
                                  win_length=config.win_length, hop_length=config.hop_length,
                                  f_min=config.f_min, f_max=config.f_max, n_mels=config.n_mels,
                                  power=1.0, norm="slaney", mel_scale="slaney")

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        frames = audio.shape[-1] // self.config.hop_length
        mel = self.mel(audio)[..., :frames]
        return torch.log(torch.clamp(mel, min=self.config.floor)).transpose(-1, -2)


class GriffinLimVocoder(nn.Module):
    """(batch, frames, n_mels) log-mel -> (batch, frames * hop_length) waveform: least-squares
    inversion of the mel filterbank, then Griffin-Lim phase reconstruction (momentum 0.99)."""

    def __init__(self, config: LogMelConfig = LogMelConfig(), n_iter: int = 32):
        super().__init__()
        self.config = config
        self.inverse_mel = InverseMelScale(config.n_fft // 2 + 1, config.n_mels,
                                           config.sample_rate, config.f_min, config.f_max,
                                           norm="slaney", mel_scale="slaney")
        self.griffin_lim = GriffinLim(config.n_fft, n_iter=n_iter,
                                      win_length=config.win_length,
                                      hop_length=config.hop_length, power=1.0)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        frames = log_mel.shape[-2]
        magnitude = self.inverse_mel(torch.exp(log_mel).transpose(-1, -2))
        audio = self.griffin_lim(magnitude)
        samples = frames * self.config.hop_length
        return nn.functional.pad(audio, (0, max(0, samples - audio.shape[-1])))[..., :samples]
