"""Speech emotion recognition (SER) for the VoicePrivacy 2024 utility metric: UAR on IEMOCAP's
four classes (paper 003, table 1, "Utility - UAR").

The challenge trains one recognizer per IEMOCAP session on the ORIGINAL speech of the four
other sessions (leave-one-session-out, 5 folds) and scores every evaluated utterance, original
or anonymized, with the fold model that never saw its session; it reports per evaluation set the
mean over the folds of the per-fold unweighted average recall (VPC 2024
evaluation/utility/ser/evaluate_ser.py). `session_folds` and `train_folds` make the fold models;
`predict_folds` scores waveforms given apart from the models, so the folds trained on original
speech score anonymized speech; `voxflow.anonymization.evaluation.emotion_utility` computes the
UAR per set.

Documented departure: the VPC's recognizer is wav2vec2-base fine-tuned on IEMOCAP (SpeechBrain's
emotion-recognition-wav2vec2-IEMOCAP); no pretrained weights exist here, so ours is an x-vector
style network over 80-bin fbank (`voxflow.anonymization.audio.fbank`): dilated 1-D convolutions
(Snyder et al. 2018, "X-vectors: robust DNN embeddings for speaker recognition", their frame
layers), attentive statistics pooling (Okabe et al. 2018) and a small classifier. The "paper"
preset has the x-vector's frame-layer sizes; "tiny" trains a fold in seconds on one core.

IEMOCAP is imbalanced (neu and the merged hap+exc are the large classes): training batches are
drawn class-balanced (every class equally likely, then an utterance of it uniformly).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from voxflow.anonymization.audio import N_MELS, fbank_features, pad_features
from voxflow.ingest.iemocap import FOUR_CLASS
from voxflow.training.distributed import distributed_env
from voxflow.training.loop import TrainConfig, train

CLASSES: tuple[str, ...] = tuple(dict.fromkeys(FOUR_CLASS.values()))    # neu, hap, sad, ang
MODEL_FILE = "ser.pt"
PREDICT_BATCH = 16          # utterances per forward pass in `predict`


def four_class(codes: Iterable[str | None]) -> list[str | None]:
    """IEMOCAP emotion codes (the manifest's `emotion` column, raw or already mapped) as the four
    classes: neu, hap (hap and exc), sad, ang; None for every other code (fru, sur, xxx, ...),
    which the 4-class protocol drops."""
    return [FOUR_CLASS.get(code) for code in codes]


@dataclass(frozen=True)
class EmotionConfig:
    """Sizes of the `EmotionRecognizer`."""
    channels: int = 512                         # width of every convolution (x-vector: 512)
    kernels: tuple[int, ...] = (5, 3, 3, 1, 1)  # per conv layer, in frames (x-vector's)
    dilations: tuple[int, ...] = (1, 2, 3, 1, 1)  # per conv layer: context 15 frames in all
    attention_dim: int = 128                    # hidden size of the attentive pooling
    embedding_dim: int = 512                    # the layer between pooling and the classes
    dropout: float = 0.2                        # before the class layer (IEMOCAP is small)

    def __post_init__(self):
        if len(self.kernels) != len(self.dilations) or not self.kernels:
            raise ValueError(f"kernels {self.kernels} and dilations {self.dilations} must be "
                             "non-empty and of the same length (one of each per conv layer)")
        if any(k % 2 == 0 for k in self.kernels):
            raise ValueError(f"kernels must be odd (centred context), got {self.kernels}")

    @classmethod
    def from_dict(cls, d: dict) -> EmotionConfig:
        """Inverse of `dataclasses.asdict`."""
        return cls(**{**d, "kernels": tuple(d["kernels"]), "dilations": tuple(d["dilations"])})


@dataclass(frozen=True)
class EmotionTraining:
    """Optimisation of one fold model."""
    steps: int                  # optimizer steps
    batch_size: int             # utterances per step, drawn class-balanced
    crop_frames: int            # longer utterances give a random window of this many 10 ms frames
    lr: float                   # Adam
    checkpoint_every: int       # steps between checkpoints (the loop's resumption)
    log_every: int              # steps between logged losses


MODELS = {
    "tiny": EmotionConfig(channels=48, kernels=(5, 3, 3), dilations=(1, 2, 3), attention_dim=32,
                          embedding_dim=64, dropout=0.1),
    "paper": EmotionConfig(),
}
TRAINING = {
    # 3-5 s per fold on one CPU core (tiny IEMOCAP, ~100 training utterances per fold: UAR mean
    # 0.48); 600 or 1500 steps, or 64 channels, did not raise it
    "tiny": EmotionTraining(steps=150, batch_size=16, crop_frames=300, lr=2e-3,
                            checkpoint_every=150, log_every=25),
    # IEMOCAP has ~4.4k 4-class training utterances per fold: ~30 epochs of 32
    "paper": EmotionTraining(steps=4000, batch_size=32, crop_frames=600, lr=1e-3,
                             checkpoint_every=500, log_every=50),
}


def frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """(batch, frames) True on the valid frames of each utterance."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


class ConvBlock(nn.Module):
    """Dilated 1-D convolution, ReLU, layer norm over channels: (batch, in, frames) ->
    (batch, out, frames), padded frames zeroed so they never leak into valid ones."""

    def __init__(self, inputs: int, outputs: int, kernel: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(inputs, outputs, kernel, dilation=dilation,
                              padding=dilation * (kernel - 1) // 2)
        # layer norm per frame, unlike batch norm, does not see the padding of other utterances
        self.norm = nn.LayerNorm(outputs)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm(F.relu(self.conv(x)).transpose(1, 2)).transpose(1, 2)
        return x * mask[:, None, :]


class AttentiveStatsPool(nn.Module):
    """Attentive statistics pooling (Okabe et al. 2018): (batch, channels, frames) + mask ->
    (batch, 2 * channels), the attention-weighted mean and standard deviation over the valid
    frames. Computed in float32: the variance is a difference of squares."""

    def __init__(self, channels: int, attention_dim: int):
        super().__init__()
        self.attention = nn.Sequential(nn.Conv1d(channels, attention_dim, 1), nn.Tanh(),
                                       nn.Conv1d(attention_dim, 1, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x.float()
        scores = self.attention(x).float().masked_fill(~mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=2)                      # (batch, 1, frames)
        mean = (weights * x).sum(dim=2)
        variance = (weights * x * x).sum(dim=2) - mean * mean
        return torch.cat([mean, variance.clamp(min=1e-5).sqrt()], dim=1)


class EmotionRecognizer(nn.Module):
    """fbank (batch, frames, 80) and frame counts (batch,) -> logits (batch, 4), classes in the
    order of `CLASSES`."""

    def __init__(self, config: EmotionConfig):
        super().__init__()
        self.config = config
        widths = [N_MELS] + [config.channels] * len(config.kernels)
        self.blocks = nn.ModuleList(
            ConvBlock(inputs, outputs, kernel, dilation) for inputs, outputs, kernel, dilation
            in zip(widths, widths[1:], config.kernels, config.dilations))
        self.pool = AttentiveStatsPool(config.channels, config.attention_dim)
        self.head = nn.Sequential(nn.Linear(2 * config.channels, config.embedding_dim), nn.ReLU(),
                                  nn.Dropout(config.dropout),
                                  nn.Linear(config.embedding_dim, len(CLASSES)))

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = frame_mask(lengths, features.shape[1])
        x = features.transpose(1, 2)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.pool(x, mask))


def class_indices(labels: Sequence[str]) -> torch.Tensor:
    """(utterances,) class indices of 4-class labels; ValueError naming the first other label."""
    for i, label in enumerate(labels):
        if label not in CLASSES:
            raise ValueError(f"label {i}: {label!r} is not one of the classes {CLASSES} (map "
                             "IEMOCAP codes with four_class and drop the None ones)")
    return torch.tensor([CLASSES.index(label) for label in labels])


def balanced_sampler(features: list[torch.Tensor], targets: torch.Tensor, batch_size: int,
                     crop_frames: int):
    """The loop's `sample_batch`: `batch_size` utterances, each class equally likely, each
    longer than `crop_frames` cut to a random window of it; returns (features, lengths,
    targets)."""
    counts = torch.bincount(targets, minlength=len(CLASSES)).float()
    weights = 1.0 / counts[targets]                     # classes equally likely in all

    def sample(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        chosen = torch.multinomial(weights, batch_size, replacement=True, generator=generator)
        windows = []
        for i in chosen.tolist():
            extra = len(features[i]) - crop_frames
            start = int(torch.randint(extra + 1, (1,), generator=generator)) if extra > 0 else 0
            windows.append(features[i][start:start + crop_frames])
        return (*pad_features(windows), targets[chosen])

    return sample


def emotion_loss(model: nn.Module, batch: tuple) -> tuple[torch.Tensor, dict]:
    """The loop's loss: cross-entropy (float32) of the batch's classes."""
    features, lengths, targets = batch
    logits = model(features, lengths).float()
    loss = F.cross_entropy(logits, targets)
    accuracy = (logits.argmax(dim=1) == targets).float().mean()
    return loss, {"accuracy": accuracy.detach()}


def train_fold(waves: Sequence[np.ndarray], labels: Sequence[str], out_dir: Path,
               model: EmotionConfig, training: EmotionTraining, seed: int) -> EmotionRecognizer:
    """A recognizer trained on 16 kHz `waves` with 4-class `labels` (every class present),
    checkpoints in out_dir/checkpoints, the final weights saved to out_dir/ser.pt (no model
    selection: IEMOCAP has no dev split inside a fold)."""
    if len(waves) != len(labels):
        raise ValueError(f"{len(waves)} waveforms but {len(labels)} labels")
    targets = class_indices(labels)
    missing = [c for c, n in zip(CLASSES, torch.bincount(targets, minlength=len(CLASSES)))
               if n == 0]
    if missing:
        raise ValueError(f"no training utterance of class(es) {', '.join(missing)}")
    out_dir = Path(out_dir)
    torch.manual_seed(seed)                 # the initial weights: same seed, same model
    recognizer = EmotionRecognizer(model)
    sampler = balanced_sampler(fbank_features(waves), targets, training.batch_size,
                               training.crop_frames)
    train(recognizer, emotion_loss, sampler, out_dir / "checkpoints",
          TrainConfig(steps=training.steps, checkpoint_every=training.checkpoint_every,
                      log_every=training.log_every, seed=seed, lr=training.lr))
    save_ser(recognizer, out_dir / MODEL_FILE)
    return recognizer.eval()


def save_ser(model: EmotionRecognizer, path: Path) -> Path:
    """The sizes and weights in one file (rank 0 only under torchrun)."""
    if distributed_env().is_main:
        torch.save({"config": asdict(model.config), "classes": list(CLASSES),
                    "state": model.state_dict()}, path)
    return Path(path)


def load_ser(path: Path) -> EmotionRecognizer:
    """A recognizer saved by `save_ser`, in eval mode."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if tuple(saved["classes"]) != CLASSES:
        raise ValueError(f"{path}: classes {saved['classes']} differ from {CLASSES}")
    model = EmotionRecognizer(EmotionConfig.from_dict(saved["config"]))
    model.load_state_dict(saved["state"])
    return model.eval()


@torch.no_grad()
def predict(model: EmotionRecognizer, waves: Sequence[np.ndarray]) -> list[str]:
    """The predicted class of each 16 kHz waveform (whole utterances, eval mode)."""
    model.eval()
    features = fbank_features(waves)
    device = next(model.parameters()).device
    predicted: list[str] = []
    for start in range(0, len(features), PREDICT_BATCH):
        batch, lengths = pad_features(features[start:start + PREDICT_BATCH])
        logits = model(batch.to(device), lengths.to(device))
        predicted += [CLASSES[i] for i in logits.argmax(dim=1).tolist()]
    return predicted


def session_folds(sessions: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """Leave-one-session-out folds of utterances labelled by session (the manifest's `split`,
    Session1..Session5): per session, sorted, (held-out session, (utterances,) bool mask of the
    training utterances, those of every other session)."""
    sessions = np.asarray(sessions, dtype=object)
    held_out = sorted(set(sessions.tolist()))
    if len(held_out) < 2:
        raise ValueError(f"leave-one-session-out needs at least 2 sessions, got {held_out}")
    return [(session, sessions != session) for session in held_out]


def train_folds(waves: Sequence[np.ndarray], labels: Sequence[str], sessions: Sequence[str],
                out_dir: Path, model: EmotionConfig, training: EmotionTraining,
                seed: int) -> dict[str, EmotionRecognizer]:
    """One recognizer per held-out session, trained on the other sessions' utterances, in
    out_dir/<session>/; {held-out session: recognizer}."""
    if not len(waves) == len(labels) == len(sessions):
        raise ValueError(f"{len(waves)} waveforms, {len(labels)} labels and {len(sessions)} "
                         "sessions: expected one of each per utterance")
    models = {}
    for session, mask in session_folds(sessions):
        chosen = np.flatnonzero(mask)
        models[session] = train_fold([waves[i] for i in chosen], [labels[i] for i in chosen],
                                     Path(out_dir) / session, model, training, seed)
    return models


def predict_folds(models: dict[str, EmotionRecognizer], waves: Sequence[np.ndarray],
                  sessions: Sequence[str]) -> np.ndarray:
    """(utterances,) predicted classes, each utterance's by `models[its session]`, the fold
    model that did not train on it."""
    if len(waves) != len(sessions):
        raise ValueError(f"{len(waves)} waveforms and {len(sessions)} sessions: expected one of "
                         "each per utterance")
    unknown = sorted(set(sessions) - set(models))
    if unknown:
        raise ValueError(f"no fold model for session(s) {', '.join(unknown)} (models for "
                         f"{', '.join(sorted(models))})")
    sessions = np.asarray(sessions, dtype=object)
    predicted = np.empty(len(sessions), dtype=object)
    for session in sorted(set(sessions.tolist())):
        chosen = np.flatnonzero(sessions == session)
        predicted[chosen] = predict(models[session], [waves[i] for i in chosen])
    return predicted
