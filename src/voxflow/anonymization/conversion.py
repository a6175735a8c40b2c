"""WavLM feature conversion (paper 003 section 2.2): a transformer trained to map the SSL features
w(u) of an utterance to their kNN-VC conversion k(w(u), a) to a target speaker a (`knnvc`).

- `FeatureConverter`: FastSpeech2's encoder and decoder (Ren et al. 2021) of feed-forward
  transformer (FFT) blocks, (B, T, D) -> (B, T, D). Left out: the variance adaptor (no length
  regulator: the kNN-VC targets are frame-aligned with the source) and the mel postnet.
- Frame loss: L1 + L2 against the target frames (FastSpeech2's), weighted by `frame_weight`.
- Target reconstruction (2.2.1): round(reconstruction_share * batch_size) rows of every batch are
  pairs (w(u_a), w(u_a)) of the target speaker's own utterances.
- Adversarial training (2.2.2): `SpeakerAdversary`, an ECAPA-TDNN (`asv.ECAPA`) and a linear
  layer, classifies the SOURCE speaker of the converted features behind a gradient reversal
  layer (Ganin and Lempitsky 2015): one backward pass trains the classifier on its cross-entropy
  and hands the converter that gradient times -adversarial_weight, in place of alternating
  updates. Reconstruction rows are left out (their source is the target speaker).
- Discretized, aligned objective (2.2.3): cosine k-means units of the target speaker's frames;
  each target crop's units, repeats collapsed, are the CTC labels of the converted crop, whose
  logits are the cosines of each frame to the centroids over a temperature. The blank is a
  learned vector scored the same way (index 0, torch's ctc_loss default).

The frame loss stays beside the CTC term by default: the cosine logits ignore each frame's
norm, which the vocoder needs. Paper 003 does not say whether it kept L1 + L2; `frame_weight` 0
gives CTC alone, free to warp time within the crop.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from voxflow.anonymization import asv
from voxflow.anonymization.emotion import frame_mask
from voxflow.anonymization.ssl import seeded
from voxflow.training.distributed import distributed_env
from voxflow.training.loop import TrainConfig, train

CONVERTER_FILE = "converter.pt"
KMEANS_FRAMES = 100_000     # target frames drawn (seeded) to fit the units: bounds k-means' cost
IGNORED_SPEAKER = -1        # speaker label of reconstruction rows (the adversary skips them)
NO_UNIT = -1                # padding of the batch's unit sequences


# --- the converter ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ConverterConfig:
    feature_dim: int = 1024         # D of the SSL features in and out (WavLM Large: 1024); the
    #                                 caller sets it from its data
    hidden: int = 512               # width of every FFT block (paper 003)
    encoder_layers: int = 4         # FFT blocks of the encoder (paper 003)
    decoder_layers: int = 6         # FFT blocks of the decoder (paper 003)
    heads: int = 2                  # attention heads per block (FastSpeech2)
    filter_size: int = 1024         # width between the feed-forward's convolutions (FastSpeech2)
    kernels: tuple[int, int] = (9, 1)  # the feed-forward's two conv kernels (FastSpeech2)
    dropout: float = 0.2            # on attention weights and sublayer outputs (FastSpeech2)

    def __post_init__(self):
        for name in ("feature_dim", "hidden", "encoder_layers", "decoder_layers", "heads",
                     "filter_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"ConverterConfig.{name} must be >= 1, got "
                                 f"{getattr(self, name)}")
        if self.hidden % self.heads:
            raise ValueError(f"ConverterConfig.hidden {self.hidden} must be divisible by heads "
                             f"{self.heads}")
        if len(self.kernels) != 2 or any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise ValueError(f"ConverterConfig.kernels must be two odd sizes (same-length "
                             f"convolutions), got {self.kernels}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ConverterConfig.dropout must be in [0, 1), got {self.dropout}")


MODELS = {
    # ~0.07 s per step of 8 x 200 frames of D = 192 on one CPU core (hidden 128 and filter
    # 256: 0.17 s, the kernel-9 convolutions dominate); no dropout: a few hundred steps on a
    # small corpus need none
    "tiny": ConverterConfig(hidden=64, encoder_layers=2, decoder_layers=2, heads=2,
                            filter_size=128, dropout=0.0),
    # paper 003: 4 + 6 layers of 512; heads, filter, kernels and dropout of FastSpeech2
    "paper": ConverterConfig(),
}


def sinusoids(frames: int, dim: int) -> torch.Tensor:
    """(frames, dim) sinusoidal positions (Vaswani et al. 2017): sin on even, cos on odd dims."""
    position = torch.arange(frames, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(frames, dim)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[:dim // 2])
    return table


class FFTBlock(nn.Module):
    """FastSpeech2's feed-forward transformer block: self-attention over the valid frames, then
    conv -> ReLU -> conv; each sublayer with dropout, a residual and a layer norm after it, and
    padded frames zeroed after it so the convolutions never read them:
    (B, T, hidden), mask (B, T) -> (B, T, hidden)."""

    def __init__(self, config: ConverterConfig):
        super().__init__()
        first, second = config.kernels
        self.attention = nn.MultiheadAttention(config.hidden, config.heads,
                                               dropout=config.dropout, batch_first=True)
        self.attention_norm = nn.LayerNorm(config.hidden)
        self.expand = nn.Conv1d(config.hidden, config.filter_size, first, padding=first // 2)
        self.contract = nn.Conv1d(config.filter_size, config.hidden, second,
                                  padding=second // 2)
        self.feed_forward_norm = nn.LayerNorm(config.hidden)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask[..., None]
        attended = self.attention(x, x, x, key_padding_mask=~mask, need_weights=False)[0]
        x = self.attention_norm(x + self.dropout(attended)) * keep
        hidden = self.contract(F.relu(self.expand(x.transpose(1, 2)))).transpose(1, 2)
        return self.feed_forward_norm(x + self.dropout(hidden)) * keep


class FeatureConverter(nn.Module):
    """forward(features (B, T, D), lengths (B,)) -> (B, T, D), the frames beyond each row's
    length zero (and never read by the valid ones)."""

    def __init__(self, config: ConverterConfig):
        super().__init__()
        self.config = config
        self.input = nn.Linear(config.feature_dim, config.hidden)
        self.encoder = nn.ModuleList(FFTBlock(config) for _ in range(config.encoder_layers))
        self.decoder = nn.ModuleList(FFTBlock(config) for _ in range(config.decoder_layers))
        self.output = nn.Linear(config.hidden, config.feature_dim)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if features.ndim != 3 or features.shape[2] != self.config.feature_dim:
            raise ValueError(f"features must be (batch, frames, {self.config.feature_dim}), got "
                             f"{tuple(features.shape)}")
        if lengths.shape != features.shape[:1] or not bool(
                ((lengths >= 1) & (lengths <= features.shape[1])).all()):
            raise ValueError(f"lengths must be (batch,) in 1..{features.shape[1]}, got "
                             f"{lengths.tolist()}")
        mask = frame_mask(lengths, features.shape[1])
        positions = sinusoids(features.shape[1], self.config.hidden).to(features.device)
        x = self.input(features) + positions
        for block in self.encoder:
            x = block(x, mask)
        x = x + positions                 # FastSpeech2's decoder adds its positions again
        for block in self.decoder:
            x = block(x, mask)
        return self.output(x) * mask[..., None]


# --- the speaker adversary --------------------------------------------------------------------

class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by -scale."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


class SpeakerAdversary(nn.Module):
    """ECAPA-TDNN over the D feature dims, then a linear layer to the source speakers (plain
    softmax: it only classifies, no margin needed), behind a gradient reversal of `scale`.

    forward(converted (B, T, D)) -> logits (B, speakers); `logits` is the same without the
    reversal. The ECAPA pools over every frame it is given: training crops are never padded."""

    def __init__(self, ecapa: asv.ECAPAConfig, feature_dim: int, speakers: int, scale: float):
        super().__init__()
        self.scale = scale
        self.ecapa = asv.ECAPA(replace(ecapa, n_mels=feature_dim))
        self.output = nn.Linear(ecapa.embedding_dim, speakers)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.output(self.ecapa(features))

    def forward(self, converted: torch.Tensor) -> torch.Tensor:
        return self.logits(GradientReversal.apply(converted, self.scale))


# --- the discretized, aligned objective -------------------------------------------------------

def collapse_units(units: torch.Tensor) -> torch.Tensor:
    """(T,) unit ids -> (L,), each run of repeats merged into one."""
    return torch.unique_consecutive(units)


def unit_logits(frames: torch.Tensor, centroids: torch.Tensor, blank: torch.Tensor,
                temperature: float) -> torch.Tensor:
    """frames (B, T, D), centroids (K, D), blank (D,) -> (B, T, K + 1): the cosine of each frame
    to the blank (index 0) and to each centroid, over `temperature`. In float32: logits scaled
    by 1 / 0.1 keep too few digits in bfloat16."""
    with torch.autocast(frames.device.type, enabled=False):
        units = F.normalize(torch.cat([blank[None], centroids]).float(), dim=-1)
        return F.normalize(frames.float(), dim=-1) @ units.T / temperature


def unit_ctc_loss(frames: torch.Tensor, lengths: torch.Tensor, unit_sequences: list[torch.Tensor],
                  centroids: torch.Tensor, blank: torch.Tensor, temperature: float
                  ) -> torch.Tensor:
    """CTC of the frames (B, T, D) (valid up to lengths (B,)) against one unit sequence (L_b,)
    of ids 0..K-1 per row: torch's mean over the batch of each row's loss over its L_b.
    zero_infinity: a sequence that cannot fit its frames (collapsed units of the row's own
    frames always fit, L_b <= T) gives an infinite loss, zeroed so the batch's gradient does not
    turn NaN."""
    if len(unit_sequences) != frames.shape[0]:
        raise ValueError(f"{len(unit_sequences)} unit sequences for {frames.shape[0]} rows")
    targets = torch.cat([units + 1 for units in unit_sequences])     # 0 is the blank
    target_lengths = torch.tensor([len(units) for units in unit_sequences])
    with torch.autocast(frames.device.type, enabled=False):
        log_probs = unit_logits(frames, centroids, blank, temperature).log_softmax(dim=-1)
        return F.ctc_loss(log_probs.transpose(0, 1), targets, lengths, target_lengths, blank=0,
                          reduction="mean", zero_infinity=True)


def fit_units(frames: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cosine k-means of (N, D) frames -> (k, D) float32 unit-length centroids: MiniBatchKMeans
    (seeded) on the frames scaled to unit length, at most KMEANS_FRAMES of them drawn with
    `seed`, its centres scaled to unit length. Not `ssl.fit_units`: that one standardises every
    dim first, which lifts dims of little variance to the weight of the rest and so clusters
    other directions than the cosine does (and it gives labels, not centroids)."""
    from sklearn.cluster import MiniBatchKMeans

    unit_frames = F.normalize(torch.as_tensor(np.asarray(frames, dtype=np.float32)), dim=1)
    if unit_frames.ndim != 2 or len(unit_frames) < k:
        raise ValueError(f"k-means of {k} units needs (frames >= {k}, dim) frames, got shape "
                         f"{tuple(unit_frames.shape)}")
    rng = np.random.default_rng(seed)
    draw = rng.choice(len(unit_frames), min(KMEANS_FRAMES, len(unit_frames)), replace=False)
    kmeans = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
    kmeans.fit(unit_frames[draw].numpy())
    return F.normalize(torch.from_numpy(kmeans.cluster_centers_).float(), dim=1).numpy()


def assign_units(frames: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(T, D) frames -> (T,) int64: the index of each frame's most cosine-similar centroid."""
    similarity = (F.normalize(torch.as_tensor(np.asarray(frames, dtype=np.float32)), dim=1)
                  @ F.normalize(torch.as_tensor(centroids), dim=1).T)
    return similarity.argmax(dim=1).numpy()


# --- training ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConversionTraining:
    steps: int = 400                # optimizer steps
    batch_size: int = 8             # crops per step
    crop_frames: int = 200          # frames per crop (4 s at 50 Hz), the same ones of source and
    #                                 target; shorter utterances are tiled to it beforehand
    lr: float = 1e-3                # peak Adam learning rate
    warmup_steps: int = 50          # linear warm-up to lr, then lr * sqrt(warmup / step)
    #                                 (FastSpeech2's Transformer schedule)
    grad_clip: float | None = 1.0   # max global gradient norm (Chien et al.'s FastSpeech2: 1.0)
    frame_weight: float = 1.0       # of the L1 + L2 frame loss (0: CTC alone)
    reconstruction_share: float = 0.25  # of each batch's rows made target-speaker pairs
    #                                 (w(u_a), w(u_a)), rounded (2.2.1; 0: off; chosen)
    adversarial_weight: float = 0.1  # gradient reversal scale lambda (2.2.2; 0: no adversary;
    #                                 chosen: at 1 the reversed gradient reaching the fresh tiny
    #                                 converter is ~20x the frame loss's, and slows its learning)
    adversary: str = "tiny"         # asv.MODELS preset of the adversary's ECAPA-TDNN
    discrete_weight: float = 1.0    # of the CTC unit loss (2.2.3; 0: off, no units; chosen)
    units: int = 50                 # k-means K of the discrete objective
    temperature: float = 0.1        # of the cosine unit logits (HuBERT's)
    checkpoint_every: int = 100     # steps between checkpoints
    log_every: int = 10             # steps between logged loss means

    def __post_init__(self):
        for name in ("steps", "batch_size", "crop_frames", "warmup_steps", "units",
                     "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"ConversionTraining.{name} must be >= 1, got "
                                 f"{getattr(self, name)}")
        for name in ("lr", "temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ConversionTraining.{name} must be > 0, got "
                                 f"{getattr(self, name)}")
        for name in ("frame_weight", "adversarial_weight", "discrete_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"ConversionTraining.{name} must be >= 0 (0: off), got "
                                 f"{getattr(self, name)}")
        if self.frame_weight == 0 and self.discrete_weight == 0:
            raise ValueError("ConversionTraining: frame_weight and discrete_weight are both 0: "
                             "nothing teaches the conversion")
        if not 0.0 <= self.reconstruction_share < 1.0 or self.own_rows >= self.batch_size:
            raise ValueError(f"ConversionTraining.reconstruction_share {self.reconstruction_share}"
                             f" leaves no conversion pair in a batch of {self.batch_size}")
        if self.adversarial_weight > 0 and self.batch_size - self.own_rows < 2:
            raise ValueError(f"ConversionTraining: the adversary's batch norm needs >= 2 "
                             f"conversion pairs per batch, a batch of {self.batch_size} with "
                             f"reconstruction_share {self.reconstruction_share} has "
                             f"{self.batch_size - self.own_rows}")
        if self.adversary not in asv.MODELS:
            raise ValueError(f"ConversionTraining.adversary must be one of {sorted(asv.MODELS)},"
                             f" got {self.adversary!r}")

    @property
    def own_rows(self) -> int:
        """Target-speaker (reconstruction) rows per batch."""
        return round(self.reconstruction_share * self.batch_size)


TRAINING = {
    # 400 steps: ~50 s on one CPU core (D = 192; 0.13 s per step with every term, 0.07 s with
    # the frame loss alone)
    "tiny": ConversionTraining(),
    # FastSpeech2: 160k steps of 48 utterances, Chien et al.'s warm-up of 4000 steps to
    # 512 ** -0.5 * 4000 ** -0.5 = 7e-4; crops of 12 s (whole LibriSpeech utterances, chosen);
    # K of HuBERT's first iteration (chosen)
    "paper": ConversionTraining(steps=160_000, batch_size=48, crop_frames=600, lr=7e-4,
                                warmup_steps=4000, adversary="paper", units=100,
                                checkpoint_every=5000, log_every=100),
}


class ConversionObjective(nn.Module):
    """The converter with its training-only parts (the adversary, the blank vector and the unit
    centroids, present when their weight is > 0). forward(batch of `pair_sampler`) ->
    (loss, terms): frame_weight * (L1 + L2) + discrete_weight * CTC + the adversary's
    cross-entropy (at full weight for the classifier; the reversal scales what the converter
    gets)."""

    def __init__(self, converter: FeatureConverter, training: ConversionTraining, speakers: int,
                 centroids: torch.Tensor | None):
        super().__init__()
        self.converter = converter
        self.weights = training
        dim = converter.config.feature_dim
        self.adversary = (SpeakerAdversary(asv.MODELS[training.adversary], dim, speakers,
                                           training.adversarial_weight)
                          if training.adversarial_weight > 0 else None)
        if centroids is None:
            self.blank = None
        else:
            self.register_buffer("centroids", centroids)
            self.blank = nn.Parameter(torch.randn(dim))

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        lengths = batch["lengths"]
        converted = self.converter(batch["sources"], lengths).float()
        keep = frame_mask(lengths, converted.shape[1])[..., None]
        error = (converted - batch["targets"]) * keep
        count = keep.sum() * converted.shape[2]
        l1, l2 = error.abs().sum() / count, error.square().sum() / count
        loss = self.weights.frame_weight * (l1 + l2)
        terms = {"l1": l1.detach(), "l2": l2.detach()}
        if self.blank is not None:
            sequences = [units[:n] for units, n in zip(batch["units"], batch["unit_lengths"])]
            ctc = unit_ctc_loss(converted, lengths, sequences, self.centroids, self.blank,
                                self.weights.temperature)
            loss = loss + self.weights.discrete_weight * ctc
            terms["ctc"] = ctc.detach()
        if self.adversary is not None:
            source = batch["speakers"] != IGNORED_SPEAKER
            speakers = batch["speakers"][source]
            logits = self.adversary(converted[source]).float()
            adversary = F.cross_entropy(logits, speakers)
            loss = loss + adversary
            terms["adversary"] = adversary.detach()
            terms["adversary_accuracy"] = (logits.argmax(dim=1) == speakers).float().mean(
                ).detach()
        return loss, terms


def objective_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """The loop's loss_fn: calls the (possibly DDP-wrapped) ConversionObjective."""
    return model(batch)


def tile(x: torch.Tensor, frames: int) -> torch.Tensor:
    """x repeated along its first dim to at least `frames` rows."""
    return x.repeat(math.ceil(frames / x.shape[0]), *[1] * (x.ndim - 1))


def pair_sampler(pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]],
                 speakers: torch.Tensor,
                 own: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]],
                 training: ConversionTraining):
    """sample_batch for the loop. pairs: (source (T, D), target (T, D), target units (T,) or
    None) tiled to >= crop_frames, of source speaker index `speakers[i]`; own: the target
    speaker's utterances as such triples (w(u_a), w(u_a), units). A batch: batch_size - R random
    pairs, then R = `training.own_rows` random own utterances, a random aligned crop of each.
    {"sources", "targets": (B, crop, D), "lengths": (B,), "speakers": (B,) (IGNORED_SPEAKER on
    own rows)}, with units: "units" (B, L_max) collapsed per row, NO_UNIT-padded, and
    "unit_lengths" (B,)."""
    crop, own_rows = training.crop_frames, training.own_rows

    def sample(generator: torch.Generator) -> dict:
        picks = torch.randint(len(pairs), (training.batch_size - own_rows,), generator=generator)
        own_picks = torch.randint(len(own), (own_rows,), generator=generator).tolist()
        rows = [pairs[i] for i in picks.tolist()] + [own[i] for i in own_picks]
        crops = []
        for source, target, units in rows:
            start = int(torch.randint(source.shape[0] - crop + 1, (1,), generator=generator))
            window = slice(start, start + crop)
            crops.append((source[window], target[window],
                          None if units is None else collapse_units(units[window])))
        batch = {"sources": torch.stack([c[0] for c in crops]),
                 "targets": torch.stack([c[1] for c in crops]),
                 "lengths": torch.full((len(rows),), crop),
                 "speakers": torch.cat([speakers[picks],
                                        torch.full((own_rows,), IGNORED_SPEAKER)])}
        if crops[0][2] is not None:
            batch["units"] = nn.utils.rnn.pad_sequence([c[2] for c in crops], batch_first=True,
                                                       padding_value=NO_UNIT)
            batch["unit_lengths"] = torch.tensor([len(c[2]) for c in crops])
        return batch

    return sample


def _checked_frames(arrays, name: str, dim: int) -> list[torch.Tensor]:
    if len(arrays) == 0:
        raise ValueError(f"{name} is empty")
    checked = []
    for i, array in enumerate(arrays):
        array = np.asarray(array, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != dim:
            raise ValueError(f"{name}[{i}] must be (frames >= 1, feature_dim={dim}), got shape "
                             f"{array.shape}")
        checked.append(torch.from_numpy(array))
    return checked


def train_converter(sources: list[np.ndarray], targets: list[np.ndarray],
                    source_speakers: list[str], target_frames: list[np.ndarray],
                    out_dir: str | Path, model: ConverterConfig, training: ConversionTraining,
                    seed: int = 0) -> FeatureConverter:
    """Train a converter on pairs (sources[i] = w(u), targets[i] = k(w(u), a)), each (T_i, D)
    with D = model.feature_dim, spoken by source_speakers[i]; target_frames are the target
    speaker's own utterances w(u_a) (T_j, D), the reconstruction pairs and the k-means units'
    data. Checkpoints (and resumption) in out_dir/checkpoints; the converter is saved to
    out_dir/CONVERTER_FILE (with the source speakers and centroids) and returned in eval mode.
    The same inputs and seed give the same weights on one machine."""
    dim = model.feature_dim
    sources = _checked_frames(sources, "sources", dim)
    targets = _checked_frames(targets, "targets", dim)
    own = _checked_frames(target_frames, "target_frames", dim)
    if not len(sources) == len(targets) == len(source_speakers):
        raise ValueError(f"{len(sources)} sources, {len(targets)} targets and "
                         f"{len(source_speakers)} source_speakers: one of each per pair")
    for i, (source, target) in enumerate(zip(sources, targets)):
        if source.shape[0] != target.shape[0]:
            raise ValueError(f"pair {i}: the source has {source.shape[0]} frames, the target "
                             f"{target.shape[0]}: kNN-VC targets are frame-aligned")
    names = sorted(set(source_speakers))
    if training.adversarial_weight > 0 and len(names) < 2:
        raise ValueError(f"the speaker adversary needs at least 2 source speakers, got {names}")
    centroids = None
    if training.discrete_weight > 0:
        centroids = torch.from_numpy(fit_units(torch.cat(own).numpy(), training.units, seed))

    def prepared(source: torch.Tensor, target: torch.Tensor) -> tuple:
        units = (None if centroids is None
                 else torch.from_numpy(assign_units(target.numpy(), centroids.numpy())))
        return tuple(None if x is None else tile(x, training.crop_frames)
                     for x in (source, target, units))

    index = {name: i for i, name in enumerate(names)}
    sample = pair_sampler([prepared(s, t) for s, t in zip(sources, targets)],
                          torch.tensor([index[name] for name in source_speakers]),
                          [prepared(f, f) for f in own], training)
    with seeded(seed):                     # the initial weights: same seed, same model
        objective = ConversionObjective(FeatureConverter(model), training, len(names), centroids)
    warmup = training.warmup_steps
    train(objective, objective_loss, sample, Path(out_dir) / "checkpoints",
          TrainConfig(steps=training.steps, checkpoint_every=training.checkpoint_every,
                      log_every=training.log_every, seed=seed, lr=training.lr,
                      grad_clip=training.grad_clip),
          # FastSpeech2's Adam
          optimizer_factory=lambda p: torch.optim.Adam(p, lr=training.lr, betas=(0.9, 0.98),
                                                       eps=1e-9),
          scheduler_factory=lambda opt: torch.optim.lr_scheduler.LambdaLR(
              opt, lambda step: min((step + 1) / warmup, math.sqrt(warmup / (step + 1)))))
    converter = objective.converter.eval()
    save_converter(converter, Path(out_dir) / CONVERTER_FILE,
                   {"speakers": names, "centroids": centroids})
    return converter


# --- saving, loading, converting --------------------------------------------------------------

def save_converter(model: FeatureConverter, path: str | Path, extra: dict | None = None) -> Path:
    """The config, weights and `extra` (tensors, lists, strings, numbers: e.g. the training's
    speakers and centroids, not needed to convert) in one file, its folder made (rank 0 only
    under torchrun)."""
    path = Path(path)
    if distributed_env().is_main:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"config": asdict(model.config), "extra": dict(extra or {}),
                    "state": {k: v.detach().cpu() for k, v in model.state_dict().items()}}, path)
    return path


def load_converter(path: str | Path) -> FeatureConverter:
    """The converter `save_converter` wrote, in eval mode on the CPU (its extra stays in the
    file: torch.load(path)["extra"])."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    config = ConverterConfig(**{**saved["config"], "kernels": tuple(saved["config"]["kernels"])})
    model = FeatureConverter(config)
    model.load_state_dict(saved["state"])
    return model.eval()


@torch.no_grad()
def convert(model: FeatureConverter, features: np.ndarray) -> np.ndarray:
    """(T, D) features of one utterance -> (T, D) float32 converted features (eval mode, its
    mode restored after)."""
    features = _checked_frames([features], "features", model.config.feature_dim)[0]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = model(features[None].to(device), torch.tensor([features.shape[0]], device=device))
    model.train(was_training)
    return out[0].float().cpu().numpy()
