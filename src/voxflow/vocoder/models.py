"""Universal Parallel WaveNet (the UPW paper, section 2.2): the conditioning networks
(mel-spectrogram conditioner and Audio Encoder), the WaveNet teacher and the Parallel WaveNet
student.

Shapes: mel (batch, frames, n_mels) as `voxflow.vocoder.data` serves it, audio and noise
(batch, frames * hop_length). The conditioning networks return frame-rate conditioning
(batch, channels, frames); teacher and student upsample it to the sample rate by repetition.
Every number of the paper is in the config dataclasses (`VocoderConfig.paper()`); `tiny()` keeps
the same architecture with sizes a 2-core CPU trains in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm
from torchaudio.functional import lfilter

from voxflow.training.precision import CPUFloat32LSTM
from voxflow.vocoder.layers import ConvQueue, ResidualBlock, pointwise, shift_right
from voxflow.vocoder.mixture import (full_precision, logistic_noise, sample_mixture,
                                     scale_mixture)

DC_BLOCKER_POLE = 0.99      # of the student's output filter, see ParallelWaveNetStudent.forward
LOGISTIC_STD = torch.pi / 3 ** 0.5  # of the standard logistic the student's noise is drawn from


@dataclass(frozen=True)
class AudioEncoderConfig:
    """One audio encoding layer is MelGAN's discriminator block (Kumar et al. 2019, appendix A):
    a kernel-15 convolution to `channels[0]`, then per further entry a grouped (4 channels per
    group) kernel-41 stride-4 convolution, a kernel-5 convolution, and a kernel-3 convolution to
    `out_channels`; the paper fixes only the 16 output channels and the 3 scales, the widths
    are MelGAN's. Each layer's dense layer gives the mean and log-variance of `latent_dim`."""
    scales: int = 3
    channels: tuple[int, ...] = (16, 64, 256, 1024, 1024)
    out_channels: int = 16
    latent_dim: int = 16

    @classmethod
    def tiny(cls) -> AudioEncoderConfig:
        return cls(channels=(8, 16, 32))


@dataclass(frozen=True)
class ConditioningConfig:
    """Mel conditioner of 2 bidirectional LSTMs of hidden size 128 (the UPW paper after its ref. 3)
    over 80-bin log-mels at 80 Hz for 24 kHz audio; `audio_encoder=None` is the speaker-dependent
    baseline SDPW, mel conditioning only."""
    n_mels: int = 80
    hop_length: int = 300
    lstm_hidden: int = 128
    lstm_layers: int = 2
    audio_encoder: AudioEncoderConfig | None = AudioEncoderConfig()

    @classmethod
    def tiny(cls, audio_encoder: bool = True) -> ConditioningConfig:
        return cls(lstm_hidden=32, audio_encoder=AudioEncoderConfig.tiny() if audio_encoder
                   else None)


@dataclass(frozen=True)
class TeacherConfig:
    """24 layers in 4 dilation-doubling cycles (dilations 1..32), 128 residual, gating and skip
    channels, kernel 3, a 10-component mixture of logistics (the UPW paper)."""
    layers: int = 24
    cycles: int = 4
    residual_channels: int = 128
    gate_channels: int = 128
    skip_channels: int = 128
    kernel_size: int = 3
    mixtures: int = 10

    @classmethod
    def tiny(cls) -> TeacherConfig:
        """8 layers in one cycle (dilations 1..128): a receptive field of 511 samples, that of
        the paper's teacher (505) and longer than a pitch period; two cycles of 1..8 would see
        61 samples, less than one period of a 200 Hz voice at 24 kHz."""
        return cls(layers=8, cycles=1, residual_channels=32, gate_channels=32, skip_channels=32)


@dataclass(frozen=True)
class StudentConfig:
    """Inverse autoregressive flows of [10, 10, 10, 30] layers with the dilation reset every 10
    layers (1, 2, ..., 512), 64 residual channels and no skip connections (the UPW paper)."""
    flows: tuple[int, ...] = (10, 10, 10, 30)
    dilation_cycle: int = 10
    residual_channels: int = 64
    kernel_size: int = 3

    @classmethod
    def tiny(cls) -> StudentConfig:
        """Two flows of one whole dilation cycle each (1..512): fewer flows than the paper's,
        the same reach (2047 samples per flow). Shorter flows, e.g. [2, 2, 2, 4] reaching 31
        samples, cannot even shape the noise into a formant envelope."""
        return cls(flows=(10, 10), residual_channels=16)


@dataclass(frozen=True)
class VocoderConfig:
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)

    @classmethod
    def paper(cls, audio_encoder: bool = True) -> VocoderConfig:
        """the UPW paper's UPW (`audio_encoder=False`: the SDPW baseline)."""
        conditioning = ConditioningConfig()
        return cls(conditioning if audio_encoder else replace(conditioning, audio_encoder=None))

    @classmethod
    def tiny(cls, audio_encoder: bool = True) -> VocoderConfig:
        return cls(ConditioningConfig.tiny(audio_encoder), TeacherConfig.tiny(),
                   StudentConfig.tiny())

    @classmethod
    def from_dict(cls, d: dict) -> VocoderConfig:
        """Inverse of `dataclasses.asdict` (also after JSON, which turns tuples into lists)."""
        conditioning = dict(d["conditioning"])
        encoder = conditioning.pop("audio_encoder")
        if encoder is not None:
            encoder = AudioEncoderConfig(**{**encoder, "channels": tuple(encoder["channels"])})
        student = {**d["student"], "flows": tuple(d["student"]["flows"])}
        return cls(ConditioningConfig(**conditioning, audio_encoder=encoder),
                   TeacherConfig(**d["teacher"]), StudentConfig(**student))


class MelConditioner(nn.Module):
    """(batch, frames, n_mels) log-mel -> (batch, 2 * hidden, frames): stacked bidirectional
    LSTMs, so each frame's conditioning sees the whole utterance.

    The log-mel is first normalized per bin with the training set's statistics
    (`set_statistics`; buffers, so they travel with the weights): raw natural-log mels sit
    around -5 +- 2, which saturates the LSTM gates from the first step."""

    def __init__(self, config: ConditioningConfig):
        super().__init__()
        self.register_buffer("mel_mean", torch.zeros(config.n_mels))
        self.register_buffer("mel_std", torch.ones(config.n_mels))
        self.lstm = CPUFloat32LSTM(config.n_mels, config.lstm_hidden, num_layers=config.lstm_layers,
                            bidirectional=True, batch_first=True)

    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mel_mean.copy_(mean)
        self.mel_std.copy_(std.clamp(min=1e-3))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.lstm((mel - self.mel_mean) / self.mel_std)[0].transpose(1, 2)


def standard_normal_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) in nats, summed over the last dimension."""
    return 0.5 * (mean.square() + log_var.exp() - log_var - 1.0).sum(dim=-1)


class AudioEncodingLayer(nn.Module):
    """One time scale of the Audio Encoder: MelGAN discriminator block (weight-normalised
    convolutions, LeakyReLU 0.2) ending in `out_channels`, global max pooling over time, and a
    dense layer to the mean and log-variance of the latent: (batch, samples) -> two
    (batch, latent_dim)."""

    def __init__(self, config: AudioEncoderConfig):
        super().__init__()
        first, *strided = config.channels
        convs = [nn.Conv1d(1, first, 15, padding=7, padding_mode="reflect")]
        previous = first
        for channels in strided:
            convs.append(nn.Conv1d(previous, channels, 41, stride=4, padding=20,
                                   groups=previous // 4))
            previous = channels
        convs += [nn.Conv1d(previous, previous, 5, padding=2),
                  nn.Conv1d(previous, config.out_channels, 3, padding=1)]
        self.convs = nn.ModuleList(weight_norm(conv) for conv in convs)
        self.dense = nn.Linear(config.out_channels, 2 * config.latent_dim)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = audio[:, None]
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
        return self.dense(h.amax(dim=-1)).chunk(2, dim=-1)


class AudioEncoder(nn.Module):
    """Reference waveform (batch, samples) -> (embedding, KL), embedding (batch, scales *
    latent_dim) (48 in the paper), KL (batch,) to the N(0, I) prior in nats.

    `scales` identical encoding layers see the waveform average-pooled 1, 2, 4, ... times
    (AvgPool1d(4, stride 2, padding 1), as MelGAN's multi-scale discriminator). The encoding is
    amortised variational (the VAE view of section 2.2, which keeps the utterance vector from
    leaking the waveform to the vocoder): a reparameterised sample in training, the posterior
    mean in evaluation."""

    def __init__(self, config: AudioEncoderConfig):
        super().__init__()
        self.layers = nn.ModuleList(AudioEncodingLayer(config) for _ in range(config.scales))
        self.pool = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)
        self.dim = config.scales * config.latent_dim

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        means, log_vars = [], []
        for i, layer in enumerate(self.layers):
            if i:
                audio = self.pool(audio[:, None])[:, 0]
            mean, log_var = layer(audio)
            means.append(mean)
            log_vars.append(log_var)
        mean, log_var = torch.cat(means, dim=-1), torch.cat(log_vars, dim=-1)
        kl = standard_normal_kl(mean, log_var)
        if not self.training:
            return mean, kl
        return mean + torch.exp(0.5 * log_var) * torch.randn_like(mean), kl


class ConditioningNetwork(nn.Module):
    """Both conditioning networks of figure 1: `(mel, reference=None, embedding=None)` ->
    (cond (batch, channels, frames), KL (batch,)).

    The Audio Encoder's utterance vector is broadcast over frames and concatenated to the mel
    conditioner's output. Without a reference nor a given embedding it is e = 0, the prior's
    centroid the paper found best at inference (KL 0 then); `embedding` replaces the encoder's
    output with a precomputed vector (e.g. a speaker centroid). With `config.audio_encoder=None`
    (SDPW) the conditioning is the mel conditioner's alone."""

    def __init__(self, config: ConditioningConfig):
        super().__init__()
        self.mel = MelConditioner(config)
        self.encoder = (AudioEncoder(config.audio_encoder) if config.audio_encoder is not None
                        else None)
        self.channels = 2 * config.lstm_hidden + (self.encoder.dim if self.encoder is not None
                                                  else 0)

    def forward(self, mel: torch.Tensor, reference: torch.Tensor | None = None,
                embedding: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        cond = self.mel(mel)
        kl = mel.new_zeros(mel.shape[0])
        if self.encoder is None:
            if reference is not None or embedding is not None:
                raise ValueError("this vocoder has no Audio Encoder (SDPW): it takes no "
                                 "reference waveform or embedding")
            return cond, kl
        if embedding is None:
            if reference is None:
                embedding = mel.new_zeros(mel.shape[0], self.encoder.dim)
            else:
                embedding, kl = self.encoder(reference)
        utterance = embedding[:, :, None].expand(-1, -1, cond.shape[-1])
        return torch.cat([cond, utterance], dim=1), kl


def _check_length(samples: int, cond: torch.Tensor, hop_length: int) -> None:
    if samples != cond.shape[-1] * hop_length:
        raise ValueError(f"{samples} samples for {cond.shape[-1]} conditioning frames; expected "
                         f"frames * hop_length = {cond.shape[-1] * hop_length}")


class WaveNetTeacher(nn.Module):
    """Autoregressive WaveNet with a discretized mixture of logistics output.

    `forward(audio, cond)`: audio (batch, samples) in [-1, 1], cond (batch, channels, frames)
    from `self.conditioning` -> mixture parameters (batch, 3 * mixtures, samples), teacher
    forced: position t holds p(x[t] | x[<t], cond). `generate(cond)` samples autoregressively
    with one cached step per sample (`step`)."""

    def __init__(self, config: VocoderConfig):
        super().__init__()
        self.config = config
        t = config.teacher
        self.hop_length = config.conditioning.hop_length
        self.conditioning = ConditioningNetwork(config.conditioning)
        per_cycle = t.layers // t.cycles
        self.input = nn.Conv1d(1, t.residual_channels, 1)
        self.blocks = nn.ModuleList(
            ResidualBlock(t.residual_channels, t.gate_channels, self.conditioning.channels,
                          t.kernel_size, 2 ** (i % per_cycle), t.skip_channels,
                          residual=i < t.layers - 1)
            for i in range(t.layers))
        self.hidden = nn.Conv1d(t.skip_channels, t.skip_channels, 1)
        self.output = nn.Conv1d(t.skip_channels, 3 * t.mixtures, 1)
        self.register_buffer("level", torch.ones(()))

    def set_level(self, rms: float) -> None:
        """The network reads and predicts audio in units of the training audio's RMS: speech
        at RMS 0.03 read as it is is a signal ~30x below the input convolution's bias, and an
        untrained output of scale 1 is ~30 dB too wide (a buffer: it travels with the weights)."""
        self.level.fill_(rms)

    def forward(self, audio: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        _check_length(audio.shape[-1], cond, self.hop_length)
        h = self.input(shift_right(audio / self.level)[:, None])
        skips = 0
        for block in self.blocks:
            h, skip = block(h, cond, self.hop_length)
            skips = skips + skip
        return scale_mixture(self.output(F.relu(self.hidden(F.relu(skips)))), self.level)

    def step(self, previous: torch.Tensor, cond_projections: list[torch.Tensor],
             queues: list[ConvQueue]) -> torch.Tensor:
        """One sample of incremental generation: previous (batch,) the last sample,
        cond_projections the current frame's per-block projection (batch, 2 * gate), queues the
        blocks' `ConvQueue`s -> mixture parameters (batch, 3 * mixtures) for the next sample."""
        h = pointwise(self.input, previous[:, None] / self.level)
        skips = 0
        for block, projection, queue in zip(self.blocks, cond_projections, queues):
            h, skip = block.step(h, projection, queue)
            skips = skips + skip
        return scale_mixture(
            pointwise(self.output, F.relu(pointwise(self.hidden, F.relu(skips)))), self.level)

    @torch.no_grad()
    def generate(self, cond: torch.Tensor, generator: torch.Generator | None = None,
                 return_parameters: bool = False
                 ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """cond (batch, channels, frames) -> audio (batch, frames * hop_length) sampled one
        value at a time (and the mixture parameters of every step if `return_parameters`)."""
        batch, frames = cond.shape[0], cond.shape[-1]
        projections = [block.condition(cond) for block in self.blocks]
        queues = [block.dilated.new_queue(batch, cond) for block in self.blocks]
        previous = cond.new_zeros(batch)
        audio, parameters = [], []
        for t in range(frames * self.hop_length):
            frame = t // self.hop_length
            params = self.step(previous, [p[:, :, frame] for p in projections], queues)
            previous = sample_mixture(params[:, :, None], generator)[:, 0]
            audio.append(previous)
            parameters.append(params)
        audio = torch.stack(audio, dim=-1)
        return (audio, torch.stack(parameters, dim=-1)) if return_parameters else audio


@full_precision
def dc_block(x: torch.Tensor) -> torch.Tensor:
    """y[n] = x[n] - x[n-1] + DC_BLOCKER_POLE * y[n-1] along the last axis (a recursion: fp32)."""
    return lfilter(x, x.new_tensor([1.0, -DC_BLOCKER_POLE]), x.new_tensor([1.0, -1.0]),
                   clamp=False)


class StudentOutput(NamedTuple):
    """audio (batch, samples); mean and log_scale (batch, samples) of the logistic that x[t]
    follows given z[<t] (x = z * exp(log_scale) + mean); log_det (batch,) = log |dx/dz|."""
    audio: torch.Tensor
    mean: torch.Tensor
    log_scale: torch.Tensor
    log_det: torch.Tensor


class InverseAutoregressiveFlow(nn.Module):
    """One flow of the student: a WaveNet without skip connections reading its input shifted by
    one sample, so that (shift, log_scale) at t depend on the input at <t only:
    (batch, samples), cond -> shift, log_scale, each (batch, samples)."""

    def __init__(self, layers: int, config: StudentConfig, cond_channels: int, hop_length: int):
        super().__init__()
        channels = config.residual_channels
        self.hop_length = hop_length
        self.input = nn.Conv1d(1, channels, 1)
        self.blocks = nn.ModuleList(
            ResidualBlock(channels, channels, cond_channels, config.kernel_size,
                          2 ** (i % config.dilation_cycle), skip_channels=None)
            for i in range(layers))
        self.output = nn.Conv1d(channels, 2, 1)
        # Each flow starts as the identity (shift 0, scale 1): the untrained student then
        # outputs its logistic noise instead of a product of random scales.
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.input(shift_right(x)[:, None])
        for block in self.blocks:
            h, _ = block(h, cond, self.hop_length)
        shift, log_scale = self.output(F.relu(h)).unbind(dim=1)
        return shift, log_scale


class ParallelWaveNetStudent(nn.Module):
    """Parallel WaveNet student (van den Oord et al. 2018): a stack of inverse autoregressive
    flows x_i = x_{i-1} * exp(s_i) + mu_i with (mu_i, s_i)[t] functions of x_{i-1}[<t], from
    x_0 = z ~ Logistic(0, 1). Every flow reads its whole input at once, so all samples are
    computed in parallel; the composition stays an affine function of z[t] given z[<t], so x[t]
    is logistic with the accumulated mean and log-scale that distillation needs.

    `forward(z, cond)`: z (batch, samples), cond (batch, channels, frames) -> StudentOutput.
    The conditioning network is passed in to share a trained teacher's (`from_teacher`)."""

    def __init__(self, config: VocoderConfig, conditioning: ConditioningNetwork | None = None):
        super().__init__()
        self.config = config
        self.hop_length = config.conditioning.hop_length
        self.conditioning = conditioning or ConditioningNetwork(config.conditioning)
        self.flows = nn.ModuleList(
            InverseAutoregressiveFlow(layers, config.student, self.conditioning.channels,
                                      self.hop_length)
            for layers in config.student.flows)

    @classmethod
    def from_teacher(cls, teacher: WaveNetTeacher, config: StudentConfig | None = None,
                     freeze: bool = True) -> ParallelWaveNetStudent:
        """A student sharing the teacher's trained conditioning networks (the same modules, as
        in the paper, where training them from scratch gave a worse student); `freeze` stops
        their gradients (the teacher's too: they are the same modules). Optimise
        `p for p in student.parameters() if p.requires_grad`."""
        if freeze:
            teacher.conditioning.requires_grad_(False)
        vocoder = replace(teacher.config, student=config or teacher.config.student)
        return cls(vocoder, teacher.conditioning)

    def set_output_level(self, rms: float) -> None:
        """Start the student at the training audio's level: the last flow's log-scale bias at
        log(rms / std of the logistic noise), so that the untrained student's output has the
        speech's RMS instead of the noise's 1.8 (30 dB too loud for speech at RMS 0.05)."""
        with torch.no_grad():
            self.flows[-1].output.bias[1] = float(torch.log(torch.tensor(rms / LOGISTIC_STD)))

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> StudentOutput:
        """The flows, then a DC blocker y[n] = x[n] - x[n-1] + 0.99 y[n-1] (-3 dB at 38 Hz at
        24 kHz, below the mel's 50 Hz): nothing in the conditioning determines what lies
        below its band, and a briefly trained student's shifts drift there, up to a DC offset
        larger than the speech. The filter is part of the model, in training as at synthesis:
        y[n] - x[n] depends on x[<n] only, so y[n] given z[<n] is the same logistic shifted by
        it, and distillation sees the output that is heard."""
        _check_length(z.shape[-1], cond, self.hop_length)
        x, mean, log_scale = z, torch.zeros_like(z), torch.zeros_like(z)
        for flow in self.flows:
            shift, scale = flow(x, cond)
            x = x * torch.exp(scale) + shift
            mean = mean * torch.exp(scale) + shift
            log_scale = log_scale + scale
        y = dc_block(x)      # float32; y - x is exact whatever x's precision
        return StudentOutput(y, mean + (y - x), log_scale, log_scale.sum(dim=-1))

    @torch.no_grad()
    def synthesize(self, mel: torch.Tensor, reference: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """Log-mel (batch, frames, n_mels) -> audio (batch, frames * hop_length) in one
        parallel pass; e = 0 unless a reference waveform is given."""
        cond, _ = self.conditioning(mel, reference)
        z = logistic_noise((mel.shape[0], mel.shape[1] * self.hop_length), generator,
                           mel.device, mel.dtype)
        return self(z, cond).audio
