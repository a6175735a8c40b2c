"""The vocoder's losses under CPU bfloat16 autocast (the cast CUDA's default training applies
to conv1d): finite and equal to float32 within a tolerance, and distillation's gradients."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from voxflow.vocoder.models import ParallelWaveNetStudent, VocoderConfig, WaveNetTeacher
from voxflow.vocoder.losses import distillation_loss, teacher_loss
from voxflow.vocoder.mixture import dequantize, discretized_log_prob, logistic_noise

HOP = 8


def tiny_models(seed: int = 0) -> tuple[WaveNetTeacher, ParallelWaveNetStudent]:
    torch.manual_seed(seed)
    config = VocoderConfig.tiny(audio_encoder=False)
    config = replace(config, conditioning=replace(config.conditioning, hop_length=HOP))
    teacher = WaveNetTeacher(config)
    student = ParallelWaveNetStudent.from_teacher(teacher)
    student.set_output_level(0.05)
    return teacher, student


def speech_like(frames: int = 32, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(frames * HOP) / 24000
    audio = 0.1 * torch.sin(2 * torch.pi * 150 * t) + 0.01 * torch.randn(frames * HOP, generator=g)
    return audio[None], torch.randn(1, frames, 80, generator=g)


def bf16(function, *args):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return function(*args)


def test_neighbouring_levels_keep_their_bins_from_bfloat16_parameters():
    """Levels 40000 and 40001 round to one bfloat16 value: the bins must be taken in fp32."""
    audio = dequantize(torch.tensor([[40000, 40001]]))
    params = torch.zeros(1, 3, 2)
    params[:, 1] = audio                          # one component centred on each value
    params[:, 2] = -9.0                           # narrower than a bin
    params = params.bfloat16()
    reference = discretized_log_prob(params.float(), audio)
    low_precision = bf16(discretized_log_prob, params, audio)
    assert torch.isfinite(low_precision).all()
    assert torch.equal(low_precision, reference)


def test_teacher_loss_under_bfloat16_autocast_is_finite_and_near_fp32():
    teacher, _ = tiny_models()
    audio, mel = speech_like()

    def loss():
        cond, kl = teacher.conditioning(mel)
        return teacher_loss(teacher(audio, cond), audio, kl)["nll"]

    full, low = loss(), bf16(loss)
    assert low.dtype == torch.float32 and torch.isfinite(low)
    assert float(low) == pytest.approx(float(full), rel=0.02)


def test_distillation_terms_under_bfloat16_autocast_are_finite_and_near_fp32():
    teacher, student = tiny_models()
    teacher.requires_grad_(False)
    audio, mel = speech_like()

    def terms():
        cond, _ = student.conditioning(mel)
        z = logistic_noise(audio.shape, torch.Generator().manual_seed(2))
        return distillation_loss(student(z, cond), teacher, cond, audio, n_fft=64,
                                 hop_length=16, generator=torch.Generator().manual_seed(3))

    full, low = terms(), bf16(terms)
    for name in ("kl", "cross_entropy", "entropy", "power", "loss"):
        assert torch.isfinite(low[name]), name
        assert float(low[name]) == pytest.approx(float(full[name]), rel=0.05, abs=1e-3), name


def test_the_kl_alone_trains_the_student_through_the_frozen_teacher():
    """Gradients of the KL term reach every flow of the student through the teacher, which
    gets none; with the power loss off, a few steps lower the KL itself."""
    teacher, student = tiny_models()
    teacher.requires_grad_(False)
    audio, mel = speech_like()
    flows = [p for p in student.flows.parameters()]
    optimizer = torch.optim.Adam(flows, lr=3e-3)
    kls = []
    for step in range(15):
        cond, _ = student.conditioning(mel)
        z = logistic_noise(audio.shape, torch.Generator().manual_seed(step))
        terms = distillation_loss(student(z, cond), teacher, cond, audio, power_weight=0.0,
                                  n_fft=64, hop_length=16,
                                  generator=torch.Generator().manual_seed(100 + step))
        optimizer.zero_grad()
        terms["kl"].backward()
        if step == 0:
            assert all(f.output.weight.grad.abs().sum() > 0 for f in student.flows)
            assert all(p.grad is None for p in teacher.parameters())
        optimizer.step()
        kls.append(float(terms["kl"]))
    assert sum(kls[-3:]) / 3 < sum(kls[:3]) / 3 - 0.1
