"""HiFi-GAN vocoder from SSL features (or log-mels) to 16 kHz audio: HiFi-GAN V1 (Kong et al. 2020, "HiFi-GAN:
Generative Adversarial Networks for Efficient and High Fidelity Speech Synthesis") as kNN-VC uses
it on WavLM layer-6 features (Baas et al. 2023, github.com/bshall/knn-vc, hifigan/): the
generator upsamples the 50 Hz features 320 times (10 x 8 x 2 x 2) into audio.

Training follows HiFi-GAN's section 2: multi-period (periods 2, 3, 5, 7, 11) and multi-scale
(3 scales) discriminators, least-squares GAN losses, feature matching (weight 2) and the mel L1
loss (weight 45), with AdamW (0.8, 0.99). Two departures, both in `VocoderTrainConfig`:

- `adversarial_from_step`: a GAN does not train in the few CPU minutes the tiny preset has, so
  it never turns the discriminators on and learns from reconstruction losses only: the mel L1
  plus a multi-resolution STFT loss (Parallel WaveGAN, Yamamoto et al. 2020), which gives the
  waveform's finer spectral structure a target too. The paper preset is HiFi-GAN's
  (adversarial from the first step, no STFT loss).
- Generator and discriminators are updated in the same step, by one optimizer, in voxflow's
  training loop (which steps one optimizer): the discriminators' loss on the detached generator
  output, the generator's through the discriminators with their parameters detached. AdamW is
  per parameter, so one optimizer over both equals HiFi-GAN's two; what differs is that HiFi-GAN
  alternates (a discriminator step, then a generator step against the updated discriminators),
  which the loop would support if it stepped a list of (parameters, optimizer, loss term) in
  turn. Checkpoints, resumption and DDP stay the loop's.

kNN-VC trains the vocoder on prematched features (`knnvc.prematch`), so that it learns the
averaged frames the matcher gives it. params.yaml's `anonymization.vocoder` picks what those
frames carry and what turns them into audio (`VOCODERS`):

- `ssl-hifigan`: the matched SSL features through this HiFi-GAN (kNN-VC's; for WavLM Large);
- `mel-hifigan`: the log-mels of the same matched frames (`mel_frames`, on the SSL frame grid)
  through this HiFi-GAN;
- `mel-griffin-lim`: those log-mels through Griffin-Lim (`MelGriffinLim`), nothing trained.

On the embedded default (32 dev utterances, the evaluation's recognizer; CER of the originals
16 %): the tiny encoder's own unconverted layer-4 features through the SSL HiFi-GAN gave CER
81 %; the originals' own log-mels through the mel HiFi-GAN 43 % after 600 steps, 32 % after
1500, through Griffin-Lim 17 %; the emotion recognizer's UAR on IEMOCAP (originals 48.7 %):
31.7 % through the mel HiFi-GAN, 48.1 % through Griffin-Lim. A HiFi-GAN trained on
reconstruction losses for CPU minutes loses to Griffin-Lim, hence `mel-griffin-lim` for the
tiny preset; the HiFi-GAN is kNN-VC's vocoder at paper size.
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from voxflow.anonymization.audio import HOP, RATE
from voxflow.features.logmel import GriffinLimVocoder, LogMel, LogMelConfig
from voxflow.training import TrainConfig, train
from voxflow.training.distributed import distributed_env
from voxflow.vocoder.losses import mel_loss
from voxflow.vocoder.mixture import full_precision

VOCODER_FILE = "vocoder.pt"                # what train_vocoder writes into its folder
SLOPE = 0.1                              # HiFi-GAN's leaky ReLU slope
# the mel loss's analysis: kNN-VC's HiFi-GAN config (16 kHz, 1024-point FFT, 320 hop, 0-8 kHz)
MEL_LOSS = LogMelConfig(sample_rate=RATE, n_mels=80, f_min=0.0, f_max=RATE / 2, hop_length=HOP,
                        win_length=1024, n_fft=1024)
# (n_fft, hop, window) of the multi-resolution STFT loss: Parallel WaveGAN's
STFT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
PERIODS = (2, 3, 5, 7, 11)               # multi-period discriminator, primes: little overlap
MPD_CHANNELS = (32, 128, 512, 1024, 1024)
# multi-scale discriminator layers: (channels, kernel, stride, groups)
MSD_LAYERS = ((128, 15, 1, 1), (128, 41, 2, 4), (256, 41, 2, 16), (512, 41, 4, 16),
              (1024, 41, 4, 16), (1024, 41, 1, 16), (1024, 5, 1, 1))


@dataclass(frozen=True)
class VocoderConfig:
    feature_dim: int = 1024                  # input dim: WavLM Large's 1024, or 80 log-mels
    initial_channels: int = 512              # after the input conv; halved by each upsampling
    upsample_rates: tuple[int, ...] = (10, 8, 2, 2)     # product: HOP = 320 samples per frame
    # transposed-conv kernels, twice the rates (kNN-VC's; HiFi-GAN V1's 16, 16, 4, 4 are twice
    # its rates 8, 8, 2, 2 for 256-sample hops)
    upsample_kernels: tuple[int, ...] = (20, 16, 4, 4)
    # multi-receptive-field fusion: one residual block per kernel after every upsampling,
    # outputs averaged
    resblock_kernels: tuple[int, ...] = (3, 7, 11)
    # each block's dilations, run in sequence (one tuple per kernel)
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))

    def __post_init__(self):
        if math.prod(self.upsample_rates) != HOP:
            raise ValueError(f"upsample_rates {self.upsample_rates} multiply to "
                             f"{math.prod(self.upsample_rates)}, not {HOP} samples per frame")
        if len(self.upsample_kernels) != len(self.upsample_rates):
            raise ValueError("upsample_kernels and upsample_rates differ in length")
        for rate, kernel in zip(self.upsample_rates, self.upsample_kernels):
            if kernel < rate or (kernel - rate) % 2:
                raise ValueError(f"upsample kernel {kernel} for rate {rate}: must be >= the rate "
                                 "and differ from it by an even number (exact upsampling)")
        if self.initial_channels % 2 ** len(self.upsample_rates):
            raise ValueError(f"initial_channels {self.initial_channels} must be divisible by "
                             f"{2 ** len(self.upsample_rates)} (halved at every upsampling)")
        if len(self.resblock_kernels) != len(self.resblock_dilations):
            raise ValueError("resblock_kernels and resblock_dilations differ in length")

    @classmethod
    def from_dict(cls, values: dict) -> VocoderConfig:
        tuples = {key: tuple(tuple(v) if isinstance(v, (list, tuple)) else v for v in value)
                  for key, value in values.items() if isinstance(value, (list, tuple))}
        return cls(**{**values, **tuples})


MODELS: dict[str, VocoderConfig] = {
    # CPU minutes: narrow, two receptive fields of two dilations
    "tiny": VocoderConfig(feature_dim=192, initial_channels=128, resblock_kernels=(3, 7),
                          resblock_dilations=((1, 3), (1, 3))),
    "paper": VocoderConfig(),                # HiFi-GAN V1 as in kNN-VC
}


def _conv(conv: nn.Module) -> nn.Module:
    """HiFi-GAN's initialisation (normal, std 0.01) under weight normalisation."""
    nn.init.normal_(conv.weight, 0.0, 0.01)
    return weight_norm(conv)


class ResBlock(nn.Module):
    """HiFi-GAN's ResBlock1: (batch, channels, samples) -> same; per dilation
    x + conv(lrelu(conv_dilated(lrelu(x))))."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.dilated = nn.ModuleList(
            _conv(nn.Conv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2))
            for d in dilations)
        self.plain = nn.ModuleList(
            _conv(nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2))
            for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for dilated, plain in zip(self.dilated, self.plain):
            x = x + plain(F.leaky_relu(dilated(F.leaky_relu(x, SLOPE)), SLOPE))
        return x


class Generator(nn.Module):
    """(batch, frames, feature_dim) features -> (batch, frames * HOP) waveform in [-1, 1].

    The features are normalised with the training features' mean and std, kept as buffers so
    that they travel with the weights."""

    def __init__(self, config: VocoderConfig):
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.zeros(config.feature_dim))
        self.register_buffer("std", torch.ones(config.feature_dim))
        channels = config.initial_channels
        self.conv_pre = weight_norm(nn.Conv1d(config.feature_dim, channels, 7, padding=3))
        self.ups = nn.ModuleList()
        self.fusions = nn.ModuleList()
        for rate, kernel in zip(config.upsample_rates, config.upsample_kernels):
            self.ups.append(_conv(nn.ConvTranspose1d(channels, channels // 2, kernel, rate,
                                                     padding=(kernel - rate) // 2)))
            channels //= 2
            self.fusions.append(nn.ModuleList(
                ResBlock(channels, k, d)
                for k, d in zip(config.resblock_kernels, config.resblock_dilations)))
        self.conv_post = _conv(nn.Conv1d(channels, 1, 7, padding=3))

    def set_normalisation(self, mean: np.ndarray, std: np.ndarray) -> None:
        """The per-dimension (feature_dim,) mean and std of the training features."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp(min=1e-5))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(((features - self.mean) / self.std).transpose(1, 2))
        for up, fusion in zip(self.ups, self.fusions):
            x = up(F.leaky_relu(x, SLOPE))
            x = sum(block(x) for block in fusion) / len(fusion)
        # HiFi-GAN's last activation has torch's default slope
        return torch.tanh(self.conv_post(F.leaky_relu(x))).squeeze(1)


def _scores_and_maps(x: torch.Tensor, convs: nn.ModuleList, post: nn.Module
                     ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A sub-discriminator's pass: leaky-ReLU convs, then `post`; (flattened scores, every
    layer's output for feature matching)."""
    maps = []
    for conv in convs:
        x = F.leaky_relu(conv(x), SLOPE)
        maps.append(x)
    x = post(x)
    return x.flatten(1), maps + [x]


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's sub-discriminator of one period: (batch, samples) -> (scores (batch, n),
    feature maps), 2-D convs over the audio folded into (samples / period, period)."""

    def __init__(self, period: int, max_channels: int):
        super().__init__()
        self.period = period
        widths = [1] + [min(c, max_channels) for c in MPD_CHANNELS]
        strides = (3, 3, 3, 3, 1)
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(cin, cout, (5, 1), (stride, 1), padding=(2, 0)))
            for cin, cout, stride in zip(widths, widths[1:], strides))
        self.post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = audio[:, None]
        x = F.pad(x, (0, -x.shape[-1] % self.period), mode="reflect")
        return _scores_and_maps(x.view(x.shape[0], 1, -1, self.period), self.convs, self.post)


class ScaleDiscriminator(nn.Module):
    """HiFi-GAN's (MelGAN's) sub-discriminator of one scale: (batch, samples) -> (scores
    (batch, n), feature maps), strided grouped 1-D convs."""

    def __init__(self, max_channels: int, spectral: bool = False):
        super().__init__()
        norm = spectral_norm if spectral else weight_norm
        widths = [1] + [min(layer[0], max_channels) for layer in MSD_LAYERS]
        self.convs = nn.ModuleList(
            norm(nn.Conv1d(cin, cout, kernel, stride, groups=groups, padding=kernel // 2))
            for cin, cout, (_, kernel, stride, groups) in zip(widths, widths[1:], MSD_LAYERS))
        self.post = norm(nn.Conv1d(widths[-1], 1, 3, padding=1))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return _scores_and_maps(audio[:, None], self.convs, self.post)


class Discriminators(nn.Module):
    """HiFi-GAN's multi-period (PERIODS) and multi-scale (raw audio, then twice average-pooled,
    the first with spectral normalisation) discriminators: (batch, samples) -> [(scores,
    feature maps)] of the 8 sub-discriminators. `max_channels` caps every layer's width (1024:
    HiFi-GAN's; a multiple of 16, the widest grouping)."""

    def __init__(self, max_channels: int = 1024):
        super().__init__()
        self.periods = nn.ModuleList(PeriodDiscriminator(p, max_channels) for p in PERIODS)
        self.scales = nn.ModuleList(ScaleDiscriminator(max_channels, spectral=i == 0)
                                    for i in range(3))
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, audio: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        outputs = [d(audio) for d in self.periods]
        for index, d in enumerate(self.scales):
            if index:
                audio = self.pool(audio[:, None])[:, 0]
            outputs.append(d(audio))
        return outputs


def discriminator_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN: sum over sub-discriminators of mean (1 - D(real))^2 + mean D(fake)^2."""
    return sum(((1 - r.float()) ** 2).mean() + (f.float() ** 2).mean()
               for r, f in zip(real, fake))


def adversarial_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN, the generator's side: sum over sub-discriminators of mean (1 - D(fake))^2."""
    return sum(((1 - f.float()) ** 2).mean() for f in fake)


def feature_matching_loss(real: list[list[torch.Tensor]],
                          fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Sum over sub-discriminators and layers of the mean absolute difference of the feature
    maps of real and generated audio."""
    return sum((r.float() - f.float()).abs().mean()
               for real_maps, fake_maps in zip(real, fake) for r, f in zip(real_maps, fake_maps))


@full_precision
def stft_loss(audio: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT loss (Parallel WaveGAN): mean over STFT_RESOLUTIONS of spectral
    convergence + mean absolute log-magnitude difference; (batch, samples) each."""
    total = 0.0
    for n_fft, hop, window in STFT_RESOLUTIONS:
        hann = torch.hann_window(window, device=audio.device)

        def magnitude(x: torch.Tensor) -> torch.Tensor:
            spectrum = torch.stft(x, n_fft, hop, window, hann, return_complex=True)
            # from the squares with a floor: abs() has no gradient at 0
            return (torch.view_as_real(spectrum).square().sum(-1) + 1e-7).sqrt()

        fake, real = magnitude(audio), magnitude(target)
        convergence = torch.linalg.norm(real - fake) / torch.linalg.norm(real)
        total = total + convergence + (real.log() - fake.log()).abs().mean()
    return total / len(STFT_RESOLUTIONS)


@dataclass(frozen=True)
class VocoderTrainConfig:
    steps: int = 2_500_000               # kNN-VC's vocoder: 2.5M updates
    batch_size: int = 16                 # segments per step (HiFi-GAN, kNN-VC)
    segment_frames: int = 22             # feature frames per segment (kNN-VC: 7040 samples)
    lr: float = 2e-4                     # AdamW (HiFi-GAN)
    betas: tuple[float, float] = (0.8, 0.99)  # AdamW (HiFi-GAN)
    # LR decay per step; HiFi-GAN's 0.999 per epoch of train-clean-100 (28539 utterances) at 16
    lr_decay: float = 0.999 ** (16 / 28539)
    mel_weight: float = 45.0             # mel L1 (HiFi-GAN)
    stft_weight: float = 0.0             # multi-resolution STFT loss (not in HiFi-GAN)
    feature_matching_weight: float = 2.0  # HiFi-GAN
    # first step with the discriminators and their losses; None: never (reconstruction only)
    adversarial_from_step: int | None = 0
    discriminator_channels: int = 1024   # widest discriminator layer (HiFi-GAN: 1024)
    checkpoint_every: int = 10_000       # steps (the loop's)
    log_every: int = 100                 # steps between MLflow metrics (the loop's)

    def __post_init__(self):
        if self.steps < 0 or self.batch_size < 1 or self.segment_frames < 1:
            raise ValueError(f"steps must be >= 0, batch_size and segment_frames >= 1, got "
                             f"{self.steps}, {self.batch_size}, {self.segment_frames}")
        if self.discriminator_channels < 16 or self.discriminator_channels % 16:
            raise ValueError(f"discriminator_channels must be a positive multiple of 16 (the "
                             f"widest grouping), got {self.discriminator_channels}")
        if self.adversarial_from_step is not None and self.adversarial_from_step < 0:
            raise ValueError(f"adversarial_from_step must be >= 0 or None (never), got "
                             f"{self.adversarial_from_step}")


TRAINING: dict[str, VocoderTrainConfig] = {
    # 2-3 CPU minutes (about 5 steps/s on one thread): reconstruction losses only (see the
    # module docstring), 0.5 s segments
    "tiny": VocoderTrainConfig(steps=600, batch_size=4, segment_frames=25, lr=2e-3, lr_decay=1.0,
                               stft_weight=45.0, adversarial_from_step=None,
                               discriminator_channels=64, checkpoint_every=100, log_every=25),
    "paper": VocoderTrainConfig(),       # HiFi-GAN V1 training as in kNN-VC
}


class VocoderObjective(nn.Module):
    """(features (batch, frames, D), audio (batch, frames * HOP)) -> {"loss", "mel"[, "stft",
    "adversarial", "feature_matching", "discriminator"]}: the generator's and the
    discriminators' losses in one forward (one optimizer step for both; module docstring).

    The step count that turns the discriminators on is a buffer counting training forwards,
    checkpointed with the weights, so a resumed run turns them on at the same step."""

    def __init__(self, generator: Generator, training: VocoderTrainConfig):
        super().__init__()
        self.generator = generator
        self.config = training
        self.log_mel = LogMel(MEL_LOSS)
        self.discriminators = (Discriminators(training.discriminator_channels)
                               if training.adversarial_from_step is not None else None)
        self.register_buffer("forwards", torch.zeros((), dtype=torch.long))

    def forward(self, features: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        config = self.config
        fake = self.generator(features)
        terms = {"mel": mel_loss(fake, audio, self.log_mel)}
        loss = config.mel_weight * terms["mel"]
        if config.stft_weight > 0:
            terms["stft"] = stft_loss(fake, audio)
            loss = loss + config.stft_weight * terms["stft"]
        adversarial = (self.discriminators is not None
                       and int(self.forwards) >= config.adversarial_from_step)
        if self.training:
            self.forwards += 1
        if adversarial:
            real = self.discriminators(audio)
            detached = self.discriminators(fake.detach())
            # the generator's losses must not train the discriminators: their parameters enter
            # detached, so only the generator receives these gradients
            frozen = torch.func.functional_call(
                self.discriminators,
                {name: p.detach() for name, p in self.discriminators.named_parameters()},
                (fake,))
            terms["discriminator"] = discriminator_loss([s for s, _ in real],
                                                        [s for s, _ in detached])
            terms["adversarial"] = adversarial_loss([s for s, _ in frozen])
            terms["feature_matching"] = feature_matching_loss(
                [[m.detach() for m in maps] for _, maps in real], [maps for _, maps in frozen])
            loss = (loss + terms["adversarial"] + terms["discriminator"]
                    + config.feature_matching_weight * terms["feature_matching"])
        terms["loss"] = loss
        return terms


def _objective_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    terms = model(batch["features"], batch["audio"])
    return terms["loss"], {name: value.detach() for name, value in terms.items()
                           if name != "loss"}


def train_vocoder(features: list[np.ndarray], waves: list[np.ndarray], out_dir: Path,
                  model: VocoderConfig, training: VocoderTrainConfig, seed: int = 0) -> Generator:
    """Train a generator on utterances' features [(T_i, D)] and their audio [(T_i * HOP,)] with
    voxflow's loop (checkpoints and resumption in out_dir/checkpoints); saves it to
    out_dir/vocoder.pt (VOCODER_FILE) and returns it in eval mode.

    Each step draws `batch_size` utterances uniformly and an aligned segment of
    `segment_frames` from each; utterances shorter than a segment are left out."""
    if len(features) != len(waves):
        raise ValueError(f"{len(features)} feature arrays but {len(waves)} waveforms")
    for index, (feats, wave) in enumerate(zip(features, waves)):
        if feats.ndim != 2 or feats.shape[1] != model.feature_dim:
            raise ValueError(f"utterance {index}: features must be (frames, "
                             f"{model.feature_dim}), got {feats.shape}")
        if wave.shape != (feats.shape[0] * HOP,):
            raise ValueError(f"utterance {index}: {feats.shape[0]} frames need "
                             f"({feats.shape[0] * HOP},) samples, got {wave.shape}")
    usable = [i for i, f in enumerate(features) if f.shape[0] >= training.segment_frames]
    if not usable:
        raise ValueError(f"no utterance has the {training.segment_frames} frames of a segment")
    feats = [torch.as_tensor(features[i], dtype=torch.float32) for i in usable]
    audio = [torch.as_tensor(waves[i], dtype=torch.float32) for i in usable]
    frames = training.segment_frames

    def sample_batch(generator: torch.Generator) -> dict[str, torch.Tensor]:
        picks = torch.randint(len(feats), (training.batch_size,), generator=generator).tolist()
        starts = [int(torch.randint(feats[i].shape[0] - frames + 1, (1,), generator=generator))
                  for i in picks]
        return {"features": torch.stack([feats[i][s:s + frames] for i, s in zip(picks, starts)]),
                "audio": torch.stack([audio[i][s * HOP:(s + frames) * HOP]
                                      for i, s in zip(picks, starts)])}

    torch.manual_seed(seed)                  # the initial weights: same seed, same model
    generator = Generator(model)
    every = torch.cat(feats)
    generator.set_normalisation(every.mean(dim=0), every.std(dim=0))
    objective = VocoderObjective(generator, training)
    start = training.adversarial_from_step
    config = TrainConfig(steps=training.steps, checkpoint_every=training.checkpoint_every,
                         log_every=training.log_every, seed=seed, lr=training.lr,
                         find_unused_parameters=start is not None and start > 0)
    train(objective, _objective_loss, sample_batch, Path(out_dir) / "checkpoints", config,
          optimizer_factory=lambda p: torch.optim.AdamW(p, training.lr, training.betas),
          scheduler_factory=lambda o: torch.optim.lr_scheduler.ExponentialLR(o,
                                                                            training.lr_decay))
    save_vocoder(generator, Path(out_dir) / VOCODER_FILE)
    return generator.eval()


def save_vocoder(generator: Generator, path: Path) -> Path:
    """The generator (with its feature normalisation) and its config in one file; under torchrun
    only rank 0 writes (every rank holds the same weights)."""
    path = Path(path)
    if not distributed_env().is_main:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"config": asdict(generator.config), "state_dict": generator.state_dict()}, tmp)
    tmp.replace(path)
    return path


def load_vocoder(path: Path) -> Generator:
    """A generator saved by `save_vocoder`, on the CPU in eval mode."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    generator = Generator(VocoderConfig.from_dict(saved["config"]))
    generator.load_state_dict(saved["state_dict"])
    return generator.eval()


@torch.no_grad()
def mel_frames(wave: np.ndarray) -> np.ndarray:
    """(frames, 80) float32 log-mel (MEL_LOSS's analysis) of 16 kHz audio on the SSL encoder's
    frame grid: frame t centred on sample HOP * t + HOP / 2, the middle of the HOP samples the
    vocoder makes from frame t, and `ssl.frame_count(len(wave))` frames, one per SSL frame."""
    from voxflow.anonymization.ssl import frame_count

    wave = np.asarray(wave, dtype=np.float32)
    frames = frame_count(len(wave))
    # LogMel centres frame t on sample HOP * t: start HOP / 2 in; pad so `frames` exist
    shifted = np.pad(wave[HOP // 2:], (0, HOP))
    return _mel_analysis()(torch.from_numpy(shifted)[None])[0, :frames].numpy()


@functools.cache
def _mel_analysis() -> LogMel:
    return LogMel(MEL_LOSS)


class MelGriffinLim:
    """(T, 80) log-mels on the SSL frame grid (`mel_frames`) -> (T * HOP,) float32 16 kHz
    audio: the mel filterbank inverted by least squares, the phase by Griffin-Lim (`n_iter`
    iterations, momentum 0.99) from a fixed random start, so the same log-mels give the same
    audio. Frame t's audio is centred where `mel_frames` took it from."""

    def __init__(self, n_iter: int = 32, seed: int = 0):
        self.inverse = GriffinLimVocoder(MEL_LOSS, n_iter)
        self.seed = seed

    @torch.no_grad()
    def __call__(self, mels: np.ndarray) -> np.ndarray:
        mels = np.asarray(mels, dtype=np.float32)
        if mels.ndim != 2 or mels.shape[1] != MEL_LOSS.n_mels:
            raise ValueError(f"log-mels must be (frames, {MEL_LOSS.n_mels}), got {mels.shape}")
        with torch.random.fork_rng(devices=[]):       # Griffin-Lim's random initial phase
            torch.manual_seed(self.seed)
            audio = self.inverse(torch.from_numpy(mels)[None])[0].numpy()
        # Griffin-Lim centres frame t on sample HOP * t, `mel_frames` took it HOP / 2 later
        return np.pad(audio, (HOP // 2, 0))[:len(mels) * HOP]


VOCODERS = ("ssl-hifigan", "mel-hifigan", "mel-griffin-lim")    # params.yaml's choices


@torch.no_grad()
def vocode(generator: Generator, features: np.ndarray) -> np.ndarray:
    """(T, D) features -> (T * HOP,) float32 16 kHz audio, on the generator's device."""
    features = np.asarray(features, dtype=np.float32)
    dim = generator.config.feature_dim
    if features.ndim != 2 or features.shape[1] != dim:
        raise ValueError(f"features must be (frames, {dim}), got {features.shape}")
    device = generator.mean.device
    x = torch.as_tensor(features, device=device)[None]
    return generator(x)[0].float().cpu().numpy()
