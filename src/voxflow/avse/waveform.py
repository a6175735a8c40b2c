"""From an enhanced log-mel back to a waveform: a gain on the noisy STFT magnitude, resynthesised
with the noisy phase.

The MHCA-AVCRN paper predicts the clean log-mel and scores PESQ and STOI without saying how it
returns to a waveform; this is voxflow's choice. Per frame, the mel-domain gain
exp(enhanced - noisy) (the log-mels are natural-log magnitudes) is spread over the linear
frequency bins through the mel filterbank, each bin taking the filterbank-weighted mean of the
gains of the bands it belongs to, capped at `max_gain` (a mask never amplifies beyond it), and
multiplies the noisy STFT; the inverse STFT keeps the noisy phase. An enhanced log-mel equal to
the noisy one gives the noisy waveform back.
"""
from __future__ import annotations

import torch
from torch import nn
from torchaudio.functional import melscale_fbanks

from voxflow.features.logmel import LogMel, LogMelConfig


class MelGainResynthesis(nn.Module):
    """(batch, samples) noisy waveform and (batch, frames, n_mels) enhanced log-mel ->
    (batch, samples) enhanced waveform, `frames` = samples // hop_length as `LogMel` gives."""

    def __init__(self, config: LogMelConfig, max_gain: float = 1.0):
        super().__init__()
        self.config, self.max_gain = config, max_gain
        self.log_mel = LogMel(config)
        filterbank = melscale_fbanks(config.n_fft // 2 + 1, config.f_min, config.f_max,
                                     config.n_mels, config.sample_rate, norm="slaney",
                                     mel_scale="slaney")                     # (bins, n_mels)
        weight = filterbank.sum(dim=1, keepdim=True)
        # a bin outside every band (DC with f_min 0, above f_max) keeps its noisy magnitude
        self.register_buffer("spread", filterbank / weight.clamp(min=1e-12), persistent=False)
        self.register_buffer("covered", (weight > 0).squeeze(1), persistent=False)
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)

    def gain(self, noisy: torch.Tensor, enhanced_log_mel: torch.Tensor) -> torch.Tensor:
        """(batch, bins, frames + 1) gain on the noisy STFT (the centred STFT's last frame
        repeats the last mel frame's gain)."""
        mel_gain = torch.exp(enhanced_log_mel - self.log_mel(noisy))      # (batch, frames, mels)
        mel_gain = torch.cat([mel_gain, mel_gain[:, -1:]], dim=1)
        gain = (mel_gain @ self.spread.T).clamp(max=self.max_gain).transpose(1, 2)
        return torch.where(self.covered[:, None], gain, torch.ones_like(gain))

    def forward(self, noisy: torch.Tensor, enhanced_log_mel: torch.Tensor) -> torch.Tensor:
        frames = noisy.shape[-1] // self.config.hop_length
        if enhanced_log_mel.shape[1] != frames:
            raise ValueError(f"{enhanced_log_mel.shape[1]} log-mel frames for a waveform of "
                             f"{noisy.shape[-1]} samples (expected {frames})")
        stft = torch.stft(noisy, self.config.n_fft, self.config.hop_length,
                          self.config.win_length, self.window, return_complex=True)
        return torch.istft(stft * self.gain(noisy, enhanced_log_mel), self.config.n_fft,
                           self.config.hop_length, self.config.win_length, self.window,
                           length=noisy.shape[-1])
