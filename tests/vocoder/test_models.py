"""Universal Parallel WaveNet networks and losses (the UPW paper) on the tiny configuration: shapes,
the discretized mixture of logistics, cached generation, the student's flow algebra and the
distillation objective."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch.autograd.functional import jacobian
from torchaudio.functional import lfilter
from torch.utils.flop_counter import FlopCounterMode

from voxflow.features.logmel import LogMel, LogMelConfig
from voxflow.vocoder.losses import (density_distillation, distillation_loss, mel_loss, power_loss,
                                    teacher_loss)
from voxflow.vocoder.models import (DC_BLOCKER_POLE, AudioEncoder, ConditioningNetwork,
                                    MelConditioner, ParallelWaveNetStudent, StudentOutput,
                                    VocoderConfig, WaveNetTeacher, standard_normal_kl)
from voxflow.vocoder.layers import upsample
from voxflow.vocoder.mixture import (LEVELS, dequantize, discretized_log_prob, logistic_noise,
                                     quantize, sample_mixture)

BATCH, FRAMES, HOP = 2, 3, 300
SAMPLES = FRAMES * HOP


@pytest.fixture
def inputs():
    g = torch.Generator().manual_seed(0)
    mel = torch.randn(BATCH, FRAMES, 80, generator=g)
    audio = 0.5 * torch.sin(torch.arange(SAMPLES) / 7.0).repeat(BATCH, 1)
    return mel, audio + 0.01 * torch.randn(BATCH, SAMPLES, generator=g)


def mixture_parameters(generator, log_scale_centre, mean_range=1.2, dtype=torch.float64):
    """Random parameters of a 10-component mixture: (30,)."""
    logits = torch.randn(10, generator=generator, dtype=dtype)
    means = (2 * torch.rand(10, generator=generator, dtype=dtype) - 1) * mean_range
    log_scales = log_scale_centre + torch.randn(10, generator=generator, dtype=dtype)
    return torch.cat([logits, means, log_scales])


def all_levels_log_prob(params):
    """(30,) parameters -> log probabilities of the 65536 values, (65536,)."""
    x = dequantize(torch.arange(LEVELS), params.dtype)[None]
    return discretized_log_prob(params[None, :, None].expand(1, -1, LEVELS), x)[0]


def test_every_module_has_the_documented_shapes(inputs):
    torch.manual_seed(0)
    mel, audio = inputs
    config = VocoderConfig.tiny()
    assert MelConditioner(config.conditioning)(mel).shape == (BATCH, 64, FRAMES)
    encoder = AudioEncoder(config.conditioning.audio_encoder)
    embedding, kl = encoder(audio)
    assert embedding.shape == (BATCH, 48) and kl.shape == (BATCH,) and (kl > 0).all()
    encoder.eval()     # posterior mean at evaluation: deterministic
    assert torch.equal(encoder(audio)[0], encoder(audio)[0])

    teacher = WaveNetTeacher(config)
    cond, kl = teacher.conditioning(mel, audio)
    assert cond.shape == (BATCH, 64 + 48, FRAMES) and kl.shape == (BATCH,)
    prior, prior_kl = teacher.conditioning(mel)       # e = 0, the prior's centroid
    assert torch.equal(prior[:, :64], cond[:, :64]) and not prior[:, 64:].any()
    assert not prior_kl.any()
    given = torch.ones(BATCH, 48)
    assert torch.equal(teacher.conditioning(mel, embedding=given)[0][:, 64:, 0], given)

    params = teacher(audio, cond)
    assert params.shape == (BATCH, 30, SAMPLES)
    losses = teacher_loss(params, audio, kl, beta=1.0)
    assert torch.isclose(losses["nll"], -discretized_log_prob(params, audio).mean())
    assert torch.isclose(losses["loss"], losses["nll"] + kl.mean() / SAMPLES)
    losses["loss"].backward()        # every parameter is trained, the Audio Encoder included
    assert all(p.grad is not None for p in teacher.parameters())
    assert teacher.conditioning.encoder.layers[0].dense.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="frames \\* hop_length"):
        teacher(audio[:, :-1], cond)

    student = ParallelWaveNetStudent.from_teacher(teacher)
    assert student.conditioning is teacher.conditioning
    assert not any(p.requires_grad for p in student.conditioning.parameters())
    out = student(logistic_noise((BATCH, SAMPLES)), cond)
    assert [t.shape for t in out] == [(BATCH, SAMPLES)] * 3 + [(BATCH,)]
    assert student.synthesize(mel).shape == (BATCH, SAMPLES)
    assert student.synthesize(mel, reference=audio).shape == (BATCH, SAMPLES)

    sdpw = ConditioningNetwork(VocoderConfig.tiny(audio_encoder=False).conditioning)
    assert sdpw.encoder is None and sdpw(mel)[0].shape == (BATCH, 64, FRAMES)
    with pytest.raises(ValueError, match="no Audio Encoder"):
        sdpw(mel, audio)
    sdpw_student = ParallelWaveNetStudent(VocoderConfig.tiny(audio_encoder=False))
    assert sdpw_student.synthesize(mel).shape == (BATCH, SAMPLES)


def test_conditioning_is_upsampled_by_repetition(inputs):
    frames = torch.arange(6.0).reshape(1, 2, 3)
    assert torch.equal(upsample(frames, HOP)[..., ::HOP], frames)
    assert torch.equal(upsample(frames, HOP)[..., HOP - 1::HOP], frames)
    # the teacher's output in frame 0 does not depend on the conditioning of later frames
    mel, audio = inputs
    teacher = WaveNetTeacher(VocoderConfig.tiny())
    cond, _ = teacher.conditioning(mel)
    changed = cond.clone()
    changed[:, :, 1:] += 1.0
    before, after = teacher(audio, cond), teacher(audio, changed)
    assert torch.equal(before[..., :HOP], after[..., :HOP])
    assert not torch.allclose(before[..., HOP:], after[..., HOP:])


@pytest.mark.parametrize("log_scale_centre", [-10.0, -7.0, -4.0, -1.0, 2.0])
def test_mixture_probabilities_of_all_16_bit_values_sum_to_one(log_scale_centre):
    g = torch.Generator().manual_seed(int(log_scale_centre * 10) + 100)
    params = mixture_parameters(g, log_scale_centre)
    assert abs(all_levels_log_prob(params).exp().sum().item() - 1) < 1e-5
    # float32, as in training: bin edges near +-1 are only resolved to ~6e-8 of 3e-5
    assert abs(all_levels_log_prob(params.float()).exp().sum().item() - 1) < 1e-4


def test_mixture_edge_bins_hold_the_tails():
    narrow_beyond = torch.tensor([0.0, 1.5, -3.0], dtype=torch.float64)   # one component at 1.5
    probs = all_levels_log_prob(narrow_beyond).exp()
    assert probs[-1] > 0.999 and abs(probs.sum().item() - 1) < 1e-12
    below = torch.tensor([0.0, -1.5, -3.0], dtype=torch.float64)
    assert all_levels_log_prob(below).exp()[0] > 0.999
    # a component centred on a value, much narrower than a bin, puts its mass there
    level = 40000
    peaked = torch.tensor([0.0, dequantize(torch.tensor(level)).item(), -20.0],
                          dtype=torch.float64)
    assert all_levels_log_prob(peaked).exp()[level] > 0.999


def test_mixture_samples_follow_the_pmf():
    g = torch.Generator().manual_seed(1)
    params = mixture_parameters(g, -2.5, mean_range=1.0)
    params[10] = 0.98        # one mean by the top edge: the edge bin collects its tail
    n = 200_000
    samples = sample_mixture(params[None, :, None].expand(1, -1, n), g)[0]
    assert torch.equal(samples, dequantize(quantize(samples), samples.dtype))
    coarse = 64
    observed = torch.bincount(quantize(samples) // (LEVELS // coarse), minlength=coarse) / n
    pmf = all_levels_log_prob(params).exp().reshape(coarse, -1).sum(dim=1)
    assert 0.5 * (observed - pmf).abs().sum() < 0.015
    assert (observed[-1] - pmf[-1]).abs() < 0.01 and pmf[-1] > 0.02


def test_cached_generation_matches_the_teacher_forced_forward():
    torch.manual_seed(0)
    config = VocoderConfig.tiny()
    teacher = WaveNetTeacher(config).eval()
    teacher.set_level(0.05)                         # the cached step reads and scales it too
    cond, _ = teacher.conditioning(torch.randn(BATCH, 2, 80))
    audio, params = teacher.generate(cond, torch.Generator().manual_seed(0),
                                     return_parameters=True)
    assert audio.shape == (BATCH, 2 * HOP) and params.shape == (BATCH, 30, 2 * HOP)
    assert audio.abs().max() <= 1 and audio.std() > 0
    with torch.no_grad():
        assert (teacher(audio, cond) - params).abs().max() < 1e-5


def test_teacher_models_audio_in_units_of_its_level(inputs):
    """Audio c times louder under level c: the same network, its mixture scaled by c (means
    times c, log scales plus log c), so an untrained teacher is as wide as the speech."""
    torch.manual_seed(0)
    teacher = WaveNetTeacher(VocoderConfig.tiny()).double().eval()
    mel, audio = inputs
    cond, _ = teacher.conditioning(mel.double())
    with torch.no_grad():
        unit = teacher(audio.double(), cond)
        teacher.set_level(0.03)
        quiet = teacher(0.03 * audio.double(), cond)
    logits, means, log_scales = unit.chunk(3, dim=1)
    expected = torch.cat([logits, 0.03 * means, log_scales + torch.log(torch.tensor(0.03))], 1)
    assert torch.allclose(quiet, expected, atol=1e-12)


@pytest.fixture
def short_teacher():
    """A double-precision randomly initialised tiny teacher on 8-sample frames, conditioning
    for 8 frames (64 samples) and a teacher-forced input."""
    torch.manual_seed(0)
    config = VocoderConfig.tiny()
    config = replace(config, conditioning=replace(config.conditioning, hop_length=8))
    teacher = WaveNetTeacher(config).double().eval()
    cond, _ = teacher.conditioning(torch.randn(1, 8, 80, dtype=torch.float64))
    audio = 0.5 * torch.rand(1, 64, generator=torch.Generator().manual_seed(1),
                             dtype=torch.float64) - 0.25
    return teacher, cond.detach(), audio


def test_teacher_position_t_sees_x_before_t_and_not_x_t(short_teacher):
    """The teacher-forced output at t ignores x[>=t] and depends on x[t-1]: a one-step shift."""
    teacher, cond, audio = short_teacher
    samples = audio.shape[-1]
    eye = torch.eye(samples, dtype=torch.bool)
    future = eye.long().cumsum(dim=1).bool()          # row t: positions >= t
    noise = 0.3 * torch.randn(samples, samples, generator=torch.Generator().manual_seed(2),
                              dtype=torch.float64)
    # row t of each batch: the input with x[t:] redrawn, or with x[t] alone moved
    redrawn = torch.where(future, noise, audio)
    moved = audio + eye * 0.3
    with torch.no_grad():
        base = teacher(audio, cond)[0]
        batch_cond = cond.expand(samples, -1, -1)
        after_redraw, after_move = teacher(redrawn, batch_cond), teacher(moved, batch_cond)
    for t in range(samples):
        assert torch.equal(after_redraw[t, :, :t + 1], base[:, :t + 1]), t
    # x[t] moves the prediction of x[t+1], by far more than rounding
    change = (after_move[:-1, :, 1:] - base[:, 1:]).abs().amax(dim=1)  # (moved t, position)
    assert (change.diagonal(offset=0) > 1e-3).all(), change.diagonal()


def test_cached_step_costs_the_same_at_every_position():
    torch.manual_seed(0)
    teacher = WaveNetTeacher(VocoderConfig.tiny()).eval()
    cond, _ = teacher.conditioning(torch.randn(1, 2, 80))
    projections = [block.condition(cond) for block in teacher.blocks]
    queues = [block.dilated.new_queue(1, cond) for block in teacher.blocks]
    flops = {}
    with torch.no_grad():
        for t in range(2 * HOP):
            counter = FlopCounterMode(display=False)
            with counter if t in (0, 1, 50, 599) else torch.no_grad():
                teacher.step(torch.zeros(1), [p[:, :, t // HOP] for p in projections], queues)
            flops[t] = counter.get_total_flops()
    assert flops[0] > 0 and flops[0] == flops[1] == flops[50] == flops[599]
    # each layer holds exactly its receptive field: (kernel - 1) * dilation past inputs
    config = teacher.config.teacher
    per_cycle = config.layers // config.cycles
    assert [q.buffer.shape[-1] for q in queues] == [
        (config.kernel_size - 1) * 2 ** (i % per_cycle) for i in range(config.layers)]


@pytest.fixture
def short_student():
    """A double-precision tiny student on 8-sample frames with random (non-identity) flows,
    and conditioning for 2 frames."""
    torch.manual_seed(0)
    config = VocoderConfig.tiny()
    config = replace(config, conditioning=replace(config.conditioning, hop_length=8))
    student = ParallelWaveNetStudent(config).double()
    for flow in student.flows:
        torch.nn.init.normal_(flow.output.weight, std=0.3)
        torch.nn.init.normal_(flow.output.bias, std=0.3)
    cond, _ = student.conditioning(torch.randn(1, 2, 80, dtype=torch.float64))
    return student, cond.detach()


def test_student_flows_invert_sample_by_sample(short_student):
    student, cond = short_student
    z = logistic_noise((1, 16), torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        out = student(z, cond)
        assert torch.allclose(out.audio, z * out.log_scale.exp() + out.mean, atol=1e-12)
        # undo the output's DC blocker, x[n] = y[n] - 0.99 y[n-1] + x[n-1], then each flow
        x = lfilter(out.audio, out.audio.new_tensor([1.0, -1.0]),
                    out.audio.new_tensor([1.0, -DC_BLOCKER_POLE]), clamp=False)
        for flow in reversed(student.flows):    # x_{i-1}[t] from x_i[t] and x_{i-1}[<t]
            previous = torch.zeros_like(x)
            for t in range(x.shape[-1]):
                shift, log_scale = flow(previous, cond)
                previous[:, t] = (x[:, t] - shift[:, t]) * torch.exp(-log_scale[:, t])
            x = previous
    assert (x - z).abs().max() < 1e-10


def test_student_log_determinant_is_that_of_the_jacobian(short_student):
    student, cond = short_student
    z = logistic_noise((1, 16), torch.Generator().manual_seed(4), dtype=torch.float64)
    jac = jacobian(lambda noise: student(noise[None], cond).audio[0], z[0])
    assert torch.equal(jac, jac.tril())           # causal: x[t] depends on z[<=t] only
    out = student(z, cond)
    assert torch.allclose(jac.diagonal(), out.log_scale[0].exp(), atol=1e-12)
    assert torch.allclose(torch.linalg.slogdet(jac).logabsdet, out.log_det[0], atol=1e-10)


def test_distillation_to_a_matching_logistic_teacher_is_zero():
    g = torch.Generator().manual_seed(5)
    mean, log_scale = 0.3 * torch.randn(4, 500, generator=g), -3 + torch.rand(4, 500, generator=g)
    teacher = torch.cat([torch.zeros(4, 10, 500), mean[:, None].expand(-1, 10, -1),
                         log_scale[:, None].expand(-1, 10, -1)], dim=1)  # 10 equal components
    student = StudentOutput(mean, mean, log_scale, log_scale.sum(-1))
    terms = density_distillation(student, teacher, samples=16, generator=g)
    assert abs(terms["kl"].item()) < 0.01
    assert torch.isclose(terms["entropy"], (log_scale + 2).mean())
    shifted = torch.cat([teacher[:, :10], teacher[:, 10:20] + 0.1, teacher[:, 20:]], dim=1)
    assert density_distillation(student, shifted, samples=16, generator=g)["kl"] > 0.1


def test_distillation_lowers_the_kl_to_a_fixed_random_teacher(inputs):
    torch.manual_seed(0)
    mel, audio = inputs
    teacher = WaveNetTeacher(VocoderConfig.tiny()).eval().requires_grad_(False)
    # move the random teacher's predictions away from the untrained student's Logistic(0, 1)
    teacher.output.bias[10:20] += 0.3
    teacher.output.bias[20:] -= 2.5
    student = ParallelWaveNetStudent.from_teacher(teacher)
    optimizer = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=3e-3)
    g = torch.Generator().manual_seed(0)
    cond, _ = teacher.conditioning(mel, audio)
    losses = []
    for _ in range(30):
        out = student(logistic_noise((BATCH, SAMPLES), g), cond)
        terms = distillation_loss(out, teacher, cond, audio, power_weight=0.1, n_fft=256,
                                  hop_length=64, generator=g)
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
        losses.append(terms["kl"].item())   # the KL itself: the power term alone also falls
    assert all(p.grad is None for p in teacher.parameters())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 0.5, losses


def test_spectral_losses_and_encoder_kl_vanish_at_their_optimum(inputs):
    _, audio = inputs
    assert power_loss(audio, audio.clone(), n_fft=256, hop_length=64) == 0
    assert power_loss(audio, 0.5 * audio, n_fft=256, hop_length=64) > 0
    # the power loss compares time averages: the same frames in another order cost nothing,
    # while the frame-level mel loss sees the difference
    frames = audio.reshape(BATCH, -1, 60)
    shuffled = frames[:, torch.randperm(frames.shape[1])].reshape(BATCH, -1)
    log_mel = LogMel(LogMelConfig(n_mels=20, hop_length=60, win_length=240, n_fft=256))
    assert mel_loss(audio, audio.clone(), log_mel) < 1e-6
    assert mel_loss(audio, shuffled, log_mel) > 0.1
    assert torch.equal(standard_normal_kl(torch.zeros(2, 48), torch.zeros(2, 48)),
                       torch.zeros(2))
    assert (standard_normal_kl(torch.ones(2, 48), torch.zeros(2, 48)) == 24).all()
