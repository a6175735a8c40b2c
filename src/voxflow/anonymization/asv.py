"""The privacy evaluation of the VoicePrivacy Challenge 2024 (paper 003, table 1; the VPC 2024
evaluation plan): an ECAPA-TDNN speaker verifier, enrollment/trial lists per subset, cosine
scoring and the equal error rate per subset with a speaker-bootstrap confidence interval.

- `ECAPA`: ECAPA-TDNN (Desplanques, Thienpondt and Demuynck, Interspeech 2020) in the layout of
  SpeechBrain's `speechbrain.lobes.models.ECAPA_TDNN` (the VPC's ASV): a Conv1d+ReLU+BN block,
  SE-Res2Blocks with dilations 2, 3, 4, multi-layer feature aggregation of their outputs,
  attentive statistics pooling with global context, batch norm and a linear layer to the
  embedding. Input: 80-bin fbank (`voxflow.anonymization.audio.fbank`).
- `train_asv`: speaker classification with additive angular margin softmax (ArcFace; margin
  0.2, scale 30 as SpeechBrain's VoxCeleb recipe) on random 3 s chunks, through
  `voxflow.training.loop.train`.
- `make_trials` / `score_trials` / `subset_eers`: per split and gender a subset (`dev-f`, ...);
  each speaker's enrollment model is the mean of its enrollment embeddings, every trial
  utterance is scored (cosine) against every enrolled speaker of its subset (VPC trials are
  same-gender), and the EER (in percent, as table 1) gets a 95 % interval from resampling
  enrolled speakers.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from voxflow.anonymization.audio import fbank
from voxflow.evaluation.eer import compute_eer
from voxflow.training.loop import TrainConfig, train

FRAMES_PER_SECOND = 100     # fbank frames (10 ms hop)


# --- the model --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ECAPAConfig:
    n_mels: int = 80                      # fbank bins of the input
    channels: int = 1024                  # width of the first block and of the SE-Res2Blocks
    first_kernel: int = 5                 # frames seen by the first convolution
    kernel: int = 3                       # kernel of the Res2 convolutions
    dilations: tuple[int, ...] = (2, 3, 4)  # one SE-Res2Block per dilation (growing context)
    res2_scale: int = 8                   # Res2 channel groups (multi-scale within a block)
    se_channels: int = 128                # squeeze-excitation bottleneck
    mfa_channels: int = 3072              # multi-layer feature aggregation output
    attention_channels: int = 128         # hidden size of the attentive pooling
    embedding_dim: int = 192              # the speaker embedding

    def __post_init__(self):
        if self.channels % self.res2_scale:
            raise ValueError(f"channels ({self.channels}) must be a multiple of res2_scale "
                             f"({self.res2_scale}): Res2 splits the channels into equal groups")


MODELS = {
    # CPU minutes on a couple of dozen synthetic speakers
    "tiny": ECAPAConfig(channels=64, res2_scale=4, se_channels=32, mfa_channels=192,
                        attention_channels=32, embedding_dim=96),
    # SpeechBrain's spkrec-ecapa-voxceleb / the VPC 2024 ASV: channels [1024]*4 + [3072]
    "paper": ECAPAConfig(),
}


class TDNNBlock(nn.Module):
    """Conv1d ('same' length, reflect padding as SpeechBrain) -> ReLU -> BatchNorm:
    (B, C_in, T) -> (B, C_out, T)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, dilation=dilation,
                              padding=dilation * (kernel - 1) // 2, padding_mode="reflect")
        self.norm = nn.BatchNorm1d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.relu(self.conv(x)))


class Res2Block(nn.Module):
    """Res2Net convolution: the channels in `scale` groups, group i convolved after adding group
    i-1's output (the first passes through): (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, scale: int, kernel: int, dilation: int):
        super().__init__()
        self.scale = scale
        self.blocks = nn.ModuleList(TDNNBlock(channels // scale, channels // scale, kernel,
                                              dilation) for _ in range(scale - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = x.chunk(self.scale, dim=1)
        outputs = [groups[0]]
        for group, block in zip(groups[1:], self.blocks):
            outputs.append(block(group if len(outputs) == 1 else group + outputs[-1]))
        return torch.cat(outputs, dim=1)


class SEBlock(nn.Module):
    """Squeeze-excitation: channels rescaled by a gate from their means over time:
    (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, bottleneck: int):
        super().__init__()
        self.squeeze = nn.Conv1d(channels, bottleneck, 1)
        self.excite = nn.Conv1d(bottleneck, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.excite(F.relu(self.squeeze(x.mean(dim=2, keepdim=True)))))
        return x * gate


class SERes2Block(nn.Module):
    """1x1 TDNN -> Res2 -> 1x1 TDNN -> SE, plus the input (residual): (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, scale: int, kernel: int, dilation: int, se_channels: int):
        super().__init__()
        self.layers = nn.Sequential(TDNNBlock(channels, channels, 1),
                                    Res2Block(channels, scale, kernel, dilation),
                                    TDNNBlock(channels, channels, 1),
                                    SEBlock(channels, se_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


def weighted_statistics(x: torch.Tensor, weights: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation over time of x (B, C, T) under weights (B, C, T) summing to 1
    over T -> (B, C) twice (the variance floored at 1e-12 as SpeechBrain's, for sqrt's
    gradient)."""
    mean = (weights * x).sum(dim=2)
    variance = (weights * (x - mean.unsqueeze(2)) ** 2).sum(dim=2)
    return mean, variance.clamp(min=1e-12).sqrt()


class AttentiveStatisticsPooling(nn.Module):
    """Channel- and context-dependent attentive statistics pooling (ECAPA-TDNN section 2.1):
    attention over frames from each frame plus the utterance's mean and std (global context),
    then the attention-weighted mean and std: (B, C, T) -> (B, 2C). Statistics in float32: under
    bf16 autocast a variance of near-equal frames would lose its digits."""

    def __init__(self, channels: int, attention_channels: int):
        super().__init__()
        self.hidden = TDNNBlock(3 * channels, attention_channels, 1)
        self.score = nn.Conv1d(attention_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        mean, std = weighted_statistics(x, torch.full_like(x, 1 / x.shape[2]))
        context = torch.cat([x, mean.unsqueeze(2).expand_as(x), std.unsqueeze(2).expand_as(x)],
                            dim=1)
        weights = torch.softmax(self.score(torch.tanh(self.hidden(context))).float(), dim=2)
        return torch.cat(weighted_statistics(x, weights), dim=1)


class ECAPA(nn.Module):
    """ECAPA-TDNN speaker embedding: fbank (B, T, n_mels) -> embedding (B, embedding_dim).

    `speakers` names the training speakers (the classes of the AAM classifier it was trained
    with); it is saved with the model so a checkpoint says what it knows."""

    def __init__(self, config: ECAPAConfig, speakers: Sequence[str] = ()):
        super().__init__()
        self.config = config
        self.speakers = list(speakers)
        c = config.channels
        self.first = TDNNBlock(config.n_mels, c, config.first_kernel)
        self.blocks = nn.ModuleList(
            SERes2Block(c, config.res2_scale, config.kernel, dilation, config.se_channels)
            for dilation in config.dilations)
        self.aggregate = TDNNBlock(c * len(config.dilations), config.mfa_channels, 1)
        self.pool = AttentiveStatisticsPooling(config.mfa_channels, config.attention_channels)
        self.pool_norm = nn.BatchNorm1d(2 * config.mfa_channels)
        self.embedding = nn.Linear(2 * config.mfa_channels, config.embedding_dim)
        # reflect padding needs more frames than the widest convolution pads
        self.min_frames = 1 + max([(config.first_kernel - 1) // 2]
                                  + [d * (config.kernel - 1) // 2 for d in config.dilations])

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if feats.ndim != 3 or feats.shape[2] != self.config.n_mels:
            raise ValueError(f"ECAPA expects fbank of shape (batch, frames, {self.config.n_mels})"
                             f", got {tuple(feats.shape)}")
        if feats.shape[1] < self.min_frames:
            raise ValueError(f"ECAPA needs at least {self.min_frames} frames, got "
                             f"{feats.shape[1]}")
        x = self.first(feats.transpose(1, 2))
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        pooled = self.pool(self.aggregate(torch.cat(outputs, dim=1)))
        return self.embedding(self.pool_norm(pooled))


# --- the training objective -------------------------------------------------------------------

def aam_logits(cosine: torch.Tensor, labels: torch.Tensor, margin: float, scale: float
               ) -> torch.Tensor:
    """Additive angular margin (ArcFace, as SpeechBrain's AdditiveAngularMargin): cosine
    (B, classes) between embeddings and class weights, labels (B,) -> logits (B, classes) =
    scale * cos(theta + margin) for the true class, scale * cos(theta) for the others. Where
    theta + margin would pass pi (cos no longer falls), the target gets
    cos(theta) - margin * sin(margin) instead (ArcFace's fallback). In float32."""
    cosine = cosine.float().clamp(-1 + 1e-7, 1 - 1e-7)
    sine = (1 - cosine ** 2).sqrt()
    with_margin = cosine * math.cos(margin) - sine * math.sin(margin)
    with_margin = torch.where(cosine > math.cos(math.pi - margin), with_margin,
                              cosine - math.sin(math.pi - margin) * margin)
    target = F.one_hot(labels, cosine.shape[1]).bool()
    return scale * torch.where(target, with_margin, cosine)


class SpeakerClassifier(nn.Module):
    """ECAPA plus the AAM classifier of training (SpeechBrain's Classifier with no hidden
    layers): fbank (B, T, n_mels), labels (B,) -> margin logits (B, speakers)."""

    def __init__(self, ecapa: ECAPA, margin: float, scale: float):
        super().__init__()
        self.ecapa = ecapa
        self.margin, self.scale = margin, scale
        self.weight = nn.Parameter(torch.empty(len(ecapa.speakers), ecapa.config.embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        embedding = self.ecapa(feats).float()
        cosine = F.normalize(embedding, dim=1) @ F.normalize(self.weight.float(), dim=1).T
        return aam_logits(cosine, labels, self.margin, self.scale)


def aam_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of the margin logits (the loop's loss_fn); logs their accuracy too (a
    lower bound of the margin-free one, the margin only lowering the target logit)."""
    logits = model(batch["feats"], batch["labels"])
    loss = F.cross_entropy(logits, batch["labels"])
    return loss, {"accuracy": (logits.argmax(dim=1) == batch["labels"]).float().mean().detach()}


# --- training ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ASVTrainConfig:
    steps: int = 2000               # optimizer steps
    batch_size: int = 32            # chunks per step (SpeechBrain's recipe)
    chunk_seconds: float = 3.0      # training chunk length (SpeechBrain's sentence_len)
    lr: float = 1e-3                # Adam learning rate (SpeechBrain's lr_start)
    margin: float = 0.2             # AAM angular margin (radians)
    scale: float = 30.0             # AAM logit scale
    checkpoint_every: int = 500     # steps between checkpoints
    log_every: int = 50             # steps between logged loss means

    def __post_init__(self):
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"ASVTrainConfig.{name} must be >= 1, got "
                                 f"{getattr(self, name)}")
        if self.chunk_seconds <= 0:
            raise ValueError(f"ASVTrainConfig.chunk_seconds must be > 0, got "
                             f"{self.chunk_seconds}")


TRAINING = {
    "tiny": ASVTrainConfig(steps=300, batch_size=16, lr=3e-3, checkpoint_every=100,
                           log_every=10),
    # SpeechBrain's VoxCeleb recipe runs 10 epochs at 32 chunks: about 10 epochs of
    # train-clean-360 (104k utterances)
    "paper": ASVTrainConfig(steps=33000, checkpoint_every=1000),
}


def utterance_features(waves: Sequence[np.ndarray], chunk_frames: int) -> list[torch.Tensor]:
    """Each wave's fbank (frames, 80), repeated along time up to `chunk_frames` when shorter (so
    every utterance yields a whole chunk)."""
    feats = []
    for wave in waves:
        f = torch.from_numpy(fbank(wave))
        feats.append(f.repeat(math.ceil(chunk_frames / f.shape[0]), 1))
    return feats


def chunk_sampler(feats: list[torch.Tensor], labels: torch.Tensor, batch_size: int,
                  chunk_frames: int):
    """sample_batch for the loop: `batch_size` random utterances, a random chunk of each:
    {"feats": (B, chunk_frames, 80), "labels": (B,)}."""
    lengths = torch.tensor([f.shape[0] for f in feats])

    def sample_batch(generator: torch.Generator) -> dict:
        picks = torch.randint(len(feats), (batch_size,), generator=generator)
        room = lengths[picks] - chunk_frames + 1
        starts = (torch.rand(batch_size, generator=generator) * room).long()
        chunks = [feats[i][s:s + chunk_frames] for i, s in zip(picks.tolist(), starts.tolist())]
        return {"feats": torch.stack(chunks), "labels": labels[picks]}

    return sample_batch


def train_asv(waves: Sequence[np.ndarray], speakers: Sequence[str], out_dir: str | Path,
              model: ECAPAConfig, training: ASVTrainConfig, seed: int = 0) -> ECAPA:
    """Train an ECAPA-TDNN on 16 kHz `waves` labelled by `speakers` (one name per wave) with
    AAM softmax; checkpoints (and resumption) in `out_dir`. Returns the ECAPA (eval mode), its
    `speakers` the sorted training speakers."""
    if len(waves) != len(speakers):
        raise ValueError(f"train_asv: {len(waves)} waves but {len(speakers)} speaker labels")
    names = sorted(set(speakers))
    if len(names) < 2:
        raise ValueError(f"train_asv: speaker classification needs at least 2 speakers, got "
                         f"{names}")
    for i, wave in enumerate(waves):
        if np.asarray(wave).ndim != 1 or len(wave) == 0:
            raise ValueError(f"train_asv: wave {i} must be a non-empty 1-D array, got shape "
                             f"{np.asarray(wave).shape}")
    chunk_frames = round(training.chunk_seconds * FRAMES_PER_SECOND)
    index = {name: i for i, name in enumerate(names)}
    labels = torch.tensor([index[s] for s in speakers])
    torch.manual_seed(seed)                 # the initial weights: same seed, same model
    ecapa = ECAPA(model, names)
    classifier = SpeakerClassifier(ecapa, training.margin, training.scale)
    sample_batch = chunk_sampler(utterance_features(waves, chunk_frames), labels,
                                 training.batch_size, chunk_frames)
    train(classifier, aam_loss, sample_batch, Path(out_dir),
          TrainConfig(steps=training.steps, checkpoint_every=training.checkpoint_every,
                      log_every=training.log_every, seed=seed, lr=training.lr))
    return ecapa.eval()


def save_asv(model: ECAPA, path: str | Path) -> None:
    """Write the ECAPA's config, training speakers and weights to `path` (its folder made)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": asdict(model.config), "speakers": model.speakers,
                "state": {k: v.cpu() for k, v in model.state_dict().items()}}, path)


def load_asv(path: str | Path) -> ECAPA:
    """The ECAPA written by `save_asv`, in eval mode on the CPU."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    config = ECAPAConfig(**{**saved["config"], "dilations": tuple(saved["config"]["dilations"])})
    model = ECAPA(config, saved["speakers"])
    model.load_state_dict(saved["state"])
    return model.eval()


@torch.no_grad()
def embed(model: ECAPA, wave: np.ndarray) -> np.ndarray:
    """(embedding_dim,) float32 embedding of a whole 16 kHz utterance, the model in eval mode
    (its mode restored after)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    feats = torch.from_numpy(fbank(wave)).to(device).unsqueeze(0)
    embedding = model(feats)[0].float().cpu().numpy()
    model.train(was_training)
    return embedding


# --- trials, scores, EERs ---------------------------------------------------------------------

TABLE_COLUMNS = ("utt_id", "speaker", "gender", "split")


def make_trials(table: pd.DataFrame, seed: int = 0, enrollment_per_speaker: int = 1
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """VPC-shaped enrollment and trial lists from a table of utterances (columns utt_id, speaker,
    gender in {f, m}, split).

    Per (split, gender) a subset f"{split}-{gender}"; per speaker `enrollment_per_speaker`
    utterances (a seeded choice) enroll it, the rest are its trial utterances, each scored
    against every enrolled speaker of the same subset. Returns (enrollment [speaker, utt_id],
    trials [subset, enroll_speaker, utt_id, target]), target where the speakers match."""
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"make_trials: the table lacks columns {missing}")
    if enrollment_per_speaker < 1:
        raise ValueError(f"make_trials: enrollment_per_speaker must be >= 1, got "
                         f"{enrollment_per_speaker}")
    table = table.sort_values("utt_id", kind="stable").reset_index(drop=True)
    duplicated = table["utt_id"][table["utt_id"].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"make_trials: utt_id not unique: {duplicated[:5]}")
    bad_gender = sorted(set(table["gender"]) - {"f", "m"})
    if bad_gender:
        raise ValueError(f"make_trials: gender must be 'f' or 'm', got {bad_gender}")
    groups = table.groupby("speaker")[["gender", "split"]].nunique()
    mixed = groups.index[(groups > 1).any(axis=1)].tolist()
    if mixed:
        raise ValueError(f"make_trials: speakers {mixed} appear under several genders or splits")

    rng = np.random.default_rng(seed)
    enrollment, trials = [], []
    table["subset"] = table["split"].astype(str) + "-" + table["gender"]
    for subset, rows in table.groupby("subset", sort=True):
        speakers = sorted(rows["speaker"].unique())
        if len(speakers) < 2:
            raise ValueError(f"make_trials: subset {subset} has {len(speakers)} speaker: "
                             "non-target trials need at least 2")
        trial_utts = []
        for speaker in speakers:
            utts = rows.loc[rows["speaker"] == speaker, "utt_id"].tolist()
            if len(utts) <= enrollment_per_speaker:
                raise ValueError(f"make_trials: speaker {speaker} has {len(utts)} utterances, "
                                 f"needs more than enrollment_per_speaker="
                                 f"{enrollment_per_speaker} (some left for trials)")
            chosen = set(rng.choice(len(utts), enrollment_per_speaker, replace=False).tolist())
            enrollment += [(speaker, u) for i, u in enumerate(utts) if i in chosen]
            trial_utts += [(u, speaker) for i, u in enumerate(utts) if i not in chosen]
        trials += [(subset, enrolled, utt, enrolled == speaker)
                   for utt, speaker in trial_utts for enrolled in speakers]
    return (pd.DataFrame(enrollment, columns=["speaker", "utt_id"]),
            pd.DataFrame(trials, columns=["subset", "enroll_speaker", "utt_id", "target"]))


def score_trials(model: ECAPA, enrollment: pd.DataFrame, trials: pd.DataFrame,
                 waves: dict[str, np.ndarray]) -> pd.DataFrame:
    """`trials` with a `score` column: the cosine between the trial utterance's embedding and
    the enrolled speaker's model (the mean of its enrollment embeddings). Each utterance is
    embedded once."""
    needed = sorted(set(enrollment["utt_id"]) | set(trials["utt_id"]))
    absent = [u for u in needed if u not in waves]
    if absent:
        raise ValueError(f"score_trials: no wave for utterances {absent[:5]}"
                         f"{' ...' if len(absent) > 5 else ''}")
    unenrolled = sorted(set(trials["enroll_speaker"]) - set(enrollment["speaker"]))
    if unenrolled:
        raise ValueError(f"score_trials: trials name speakers with no enrollment: {unenrolled}")
    embeddings = {}
    for u in needed:
        try:
            embeddings[u] = embed(model, waves[u])
        except ValueError as err:
            raise ValueError(f"score_trials: utterance {u}: {err}") from err
    speaker_models = {speaker: np.mean([embeddings[u] for u in utts], axis=0)
                      for speaker, utts in enrollment.groupby("speaker")["utt_id"]}
    return with_cosine_scores(trials, speaker_models, embeddings)


def with_cosine_scores(trials: pd.DataFrame, speaker_models: dict[str, np.ndarray],
                       embeddings: dict[str, np.ndarray]) -> pd.DataFrame:
    """`trials` with `score` = cosine(speaker_models[enroll_speaker], embeddings[utt_id])."""
    def unit(vectors: list[np.ndarray]) -> np.ndarray:
        v = np.stack(vectors).astype(np.float64)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    enrolled = unit([speaker_models[s] for s in trials["enroll_speaker"]])
    tested = unit([embeddings[u] for u in trials["utt_id"]])
    return trials.assign(score=(enrolled * tested).sum(axis=1))


def subset_eers(scored: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """EER in percent per subset of scored trials (columns subset, enroll_speaker, target,
    score), plus "avg" (the mean of the subsets' EERs), each with a 95 % bootstrap interval:
    every resample draws each subset's enrolled speakers with replacement, each with all its
    trials (one speaker's trials are not independent). Columns: subset, eer, ci_low, ci_high,
    targets, nontargets."""
    missing = [c for c in ("subset", "enroll_speaker", "target", "score")
               if c not in scored.columns]
    if missing:
        raise ValueError(f"subset_eers: the scored trials lack columns {missing}")
    if resamples < 1:
        raise ValueError(f"subset_eers: resamples must be >= 1, got {resamples}")
    rows, point, draws = [], [], []
    rng = np.random.default_rng(seed)
    for subset, trials in scored.groupby("subset", sort=True):
        target = trials["target"].to_numpy(bool)
        score = trials["score"].to_numpy(float)
        speakers = sorted(trials["enroll_speaker"].unique())
        per_speaker = [np.flatnonzero(trials["enroll_speaker"].to_numpy() == s) for s in speakers]
        one_class = [s for s, idx in zip(speakers, per_speaker)
                     if target[idx].all() or not target[idx].any()]
        if one_class:
            # a resample of only such speakers would have no EER
            raise ValueError(f"subset_eers: in subset {subset}, enrolled speakers {one_class} "
                             "lack target or non-target trials")
        eer = 100 * compute_eer(score[target], score[~target])[0]
        boot = np.empty(resamples)
        for r in range(resamples):
            idx = np.concatenate([per_speaker[i]
                                  for i in rng.integers(len(per_speaker), size=len(per_speaker))])
            boot[r] = 100 * compute_eer(score[idx][target[idx]], score[idx][~target[idx]])[0]
        rows.append((subset, eer, *np.percentile(boot, [2.5, 97.5]), int(target.sum()),
                     int((~target).sum())))
        point.append(eer)
        draws.append(boot)
    if not rows:
        raise ValueError("subset_eers: no scored trials")
    average = np.mean(draws, axis=0)
    rows.append(("avg", float(np.mean(point)), *np.percentile(average, [2.5, 97.5]),
                 sum(r[4] for r in rows), sum(r[5] for r in rows)))
    return pd.DataFrame(rows, columns=["subset", "eer", "ci_low", "ci_high", "targets",
                                       "nontargets"])
