"""Training objectives of the teacher and the student (the UPW paper section 2.2, after Parallel
WaveNet, van den Oord et al. 2018, section 3).

Teacher: negative log-likelihood of the 16-bit target under the discretized mixture of
logistics plus the Audio Encoder's KL, the negative ELBO of the conditioned VAE.

Every term is computed in float32 under autocast (`full_precision`), whatever precision the
networks ran in.

Student: probability density distillation, KL(P_S || P_T) = H(P_S, P_T) - H(P_S) with the teacher
frozen, plus the power loss that keeps the student's spectral energy where speech has it, and
(not in the paper, for short runs) a frame-level log-mel loss.
"""
from __future__ import annotations

import torch
from torch import nn

from voxflow.vocoder.mixture import (discretized_log_prob, full_precision, logistic_entropy,
                                     logistic_noise, mixture_log_density)
from voxflow.vocoder.models import StudentOutput, WaveNetTeacher


@full_precision
def teacher_loss(params: torch.Tensor, audio: torch.Tensor, kl: torch.Tensor,
                 beta: float = 1.0) -> dict[str, torch.Tensor]:
    """params (batch, 3K, samples) teacher-forced mixture parameters, audio (batch, samples)
    the target, kl (batch,) the Audio Encoder's KL -> {"loss", "nll", "kl"}.

    nll is nats per sample, kl nats per utterance; the loss spreads the KL over the utterance's
    samples, nll + beta * kl / samples, so beta = 1 gives the negative ELBO per sample (a
    beta-VAE weight otherwise)."""
    nll = -discretized_log_prob(params, audio).mean()
    kl = kl.mean()
    return {"loss": nll + beta * kl / audio.shape[-1], "nll": nll, "kl": kl}


@full_precision
def density_distillation(student: StudentOutput, teacher_params: torch.Tensor, samples: int = 2,
                         generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Monte-Carlo KL(P_S || P_T) per sample, in nats -> {"kl", "cross_entropy", "entropy"}.

    teacher_params is the frozen teacher run in parallel on the student's own output, so that
    position t holds p_T(x[t] | x[<t]) for the student's x[<t]. Given z[<t], the student's x[t]
    is Logistic(mean[t], exp(log_scale[t])): its entropy is analytic (log_scale + 2), and the
    cross-entropy averages the teacher's continuous mixture log-density over `samples` fresh
    draws of x[t] per position, cheap since the teacher pass is shared (Parallel WaveNet's
    variance reduction)."""
    noise = logistic_noise((samples, *student.mean.shape), generator, student.mean.device,
                           student.mean.dtype)
    draws = student.mean + torch.exp(student.log_scale) * noise
    cross_entropy = -mixture_log_density(teacher_params, draws).mean()
    entropy = logistic_entropy(student.log_scale).mean()
    return {"kl": cross_entropy - entropy, "cross_entropy": cross_entropy, "entropy": entropy}


@full_precision
def _stft_power(audio: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """(batch, samples) -> (batch, n_fft // 2 + 1, frames) |STFT|^2 (Hann window, orthonormal
    scaling so that the values do not grow with n_fft)."""
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    spectrum = torch.stft(audio, n_fft, hop_length, window=window, normalized=True,
                          return_complex=True)
    # |.|^2 from the real and imaginary parts: the gradient of abs() is undefined at 0
    return torch.view_as_real(spectrum).square().sum(dim=-1)


@full_precision
def power_loss(audio: torch.Tensor, target: torch.Tensor, n_fft: int = 1024,
               hop_length: int = 256) -> torch.Tensor:
    """Parallel WaveNet's power loss (its section 3.2.1): the squared Euclidean distance between
    the time-averaged power spectra |STFT|^2 of the student's audio and of the target, averaged
    over the batch. It keeps the energy in each band as speech has it on average, and says
    nothing about single frames; the teacher's KL does the rest in the paper."""
    difference = (_stft_power(audio, n_fft, hop_length).mean(dim=-1)
                  - _stft_power(target, n_fft, hop_length).mean(dim=-1))
    return difference.square().sum(dim=-1).mean()


@full_precision
def mel_loss(audio: torch.Tensor, target: torch.Tensor, log_mel: nn.Module) -> torch.Tensor:
    """Frame-level log-mel loss: the mean absolute difference between the log-mel spectrograms
    of the student's audio and of the target (HiFi-GAN's mel-spectrogram loss), with the
    features' own `log_mel`, so the student's audio re-analysed gives the mel it was conditioned
    on. Not in the UPW paper: a tiny student distilled for minutes from a teacher trained for
    minutes learns nothing of the utterance from the KL alone (its output level does not even
    follow the mel's), and a multi-resolution STFT loss (Parallel WaveGAN) barely does either,
    dominated as it is by the noise-like fine structure of single bins; averaging within mel
    bands measures the envelope, which the student learns first. params.yaml's `mel_weight`, 0
    gives the paper's objective."""
    return (log_mel(audio) - log_mel(target)).abs().mean()


def distillation_loss(student: StudentOutput, teacher: WaveNetTeacher, cond: torch.Tensor,
                      target: torch.Tensor, *, kl_weight: float = 1.0, power_weight: float = 1.0,
                      mel_weight: float = 0.0, log_mel: nn.Module | None = None,
                      samples: int = 2, n_fft: int = 1024, hop_length: int = 256,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The student's objective kl_weight * KL(P_S || P_T) + power_weight * power loss
    + mel_weight * mel loss (with `log_mel`, needed when mel_weight > 0) -> {"loss", "kl",
    "cross_entropy", "entropy", "power", "mel"} ("mel" only with a `log_mel`).

    cond is the conditioning the student was run with (the shared conditioning networks' output
    for the target's mel and, with an Audio Encoder, the target as reference), so that teacher
    and student see the same utterance vector. Freeze the teacher beforehand
    (`teacher.requires_grad_(False)`): gradients then only pass through it to the student's
    audio. The power loss's STFT of 1024 / 256 suits 24 kHz; scale both down for short runs."""
    terms = density_distillation(student, teacher(student.audio, cond), samples, generator)
    terms["power"] = power_loss(student.audio, target, n_fft, hop_length)
    terms["loss"] = kl_weight * terms["kl"] + power_weight * terms["power"]
    if mel_weight > 0 and log_mel is None:
        raise ValueError("mel_weight > 0 needs the log_mel module of the mel loss")
    if log_mel is not None:
        terms["mel"] = mel_loss(student.audio, target, log_mel)
        terms["loss"] = terms["loss"] + mel_weight * terms["mel"]
    return terms
