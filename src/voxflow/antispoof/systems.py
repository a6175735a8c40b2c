"""Training and scoring of the Siamese spoofing paper's countermeasure systems on cached features
(`voxflow.antispoof.features`): the GMM baselines, the two-phase Siamese system and the
"original" cross-entropy network of table 2.

A system's folder (`models/antispoof/<name>/`): `system.json` (name, kind, front-end, backbone,
settings), the model (`gmm.joblib` or `model.pt`), score files `scores/dev.txt` and
`scores/eval.txt` in the ASVspoof 2019 CM format (`<utterance> <attack or -> <bonafide|spoof>
<score>`, higher = bona fide), and for the neural systems `embeddings.npz` (the eval split's
embeddings, for the t-SNE figure) and the training checkpoints.

Neural inputs: in training, a random window of `frames` feature frames per utterance (drawn
from the training loop's generator); for embeddings and scores, the whole utterance, as the
GMMs score it (the backbones pool over time). An utterance shorter than `frames` is repeated to
that length in both. Features are standardized with the training split's
per-dimension mean and standard deviation, stored in the model.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from voxflow.antispoof.features import frontend_info, load_split
from voxflow.antispoof.gmm import GMMConfig, GMMCountermeasure
from voxflow.antispoof.losses import contrastive_loss
from voxflow.antispoof.models import (BONAFIDE, SPOOF, BackboneConfig, ClassifierConfig,
                                      MLPClassifier, OriginalNetwork, build_backbone,
                                      countermeasure_score)
from voxflow.antispoof.params import OBJECTIVES, AntispoofParams, TrainingParams
from voxflow.antispoof.sampling import BalancedBatchSampler, sample_pairs
from voxflow.antispoof.schedule import warmup_decay_schedule
from voxflow.threads import use_threads
from voxflow.training.distributed import distributed_env

log = logging.getLogger(__name__)

SCORED_SPLITS = ("dev", "eval")


# ------------------------------------------------------------------------------- score files

def write_scores(path: Path, rows: pd.DataFrame, scores: np.ndarray) -> Path:
    """ASVspoof 2019 CM score file: `<utterance> <attack> <key> <score>` per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(rows) != len(scores) or not np.isfinite(scores).all():
        raise ValueError(f"{path}: {len(scores)} scores for {len(rows)} utterances, or "
                         "non-finite scores")
    lines = [f"{u} {a} {k} {s:.6f}" for u, a, k, s in
             zip(rows["utt_id"], rows["attack"], rows["key"], scores)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _labels(rows: pd.DataFrame) -> np.ndarray:
    return np.where(rows["key"].to_numpy() == "bonafide", BONAFIDE, SPOOF)


def _write_system(out_dir: Path, info: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "system.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_system(system_dir: Path) -> dict:
    path = Path(system_dir) / "system.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not an antispoof system folder")
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------- GMM

def train_gmm(frontend: str, features_dir: Path, out_dir: Path, config: GMMConfig) -> dict:
    """The <frontend>-GMM baseline: two diagonal GMMs on the train split's frames, scores of
    dev and eval; returns system.json's content (with the number of training utterances)."""
    import joblib

    info_frontend = frontend_info(features_dir)
    if info_frontend["frontend"] != frontend:
        raise ValueError(f"{features_dir} holds {info_frontend['frontend']} features, not "
                         f"{frontend}")
    from threadpoolctl import threadpool_limits

    rows, features = load_split(features_dir, "train")
    labels = _labels(rows)
    with threadpool_limits(limits=1):      # OpenMP/BLAS on a shared CPU: one thread is faster
        gmm = GMMCountermeasure(config).fit(
            [f for f, y in zip(features, labels) if y == BONAFIDE],
            [f for f, y in zip(features, labels) if y == SPOOF])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(gmm, out_dir / "gmm.joblib")
    for split in SCORED_SPLITS:
        split_rows, split_features = load_split(features_dir, split)
        write_scores(out_dir / "scores" / f"{split}.txt", split_rows,
                     gmm.score_many(split_features))
    info = {"name": f"{frontend}-gmm", "kind": "gmm", "frontend": frontend,
            "frontend_description": info_frontend["description"],
            "pretrained_frontend": info_frontend["pretrained"], "gmm": config.__dict__,
            "train_utterances": len(rows)}
    _write_system(out_dir, info)
    return info


# ---------------------------------------------------------------------------- neural systems

class FeatureNorm(nn.Module):
    """Per-dimension standardization with fixed (training-set) statistics."""

    def __init__(self, dims: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dims))
        self.register_buffer("std", torch.ones(dims))

    def set_statistics(self, features: list[np.ndarray]) -> None:
        frames = np.concatenate(features).astype(np.float64)
        self.mean.copy_(torch.from_numpy(frames.mean(0)).float())
        self.std.copy_(torch.from_numpy(np.maximum(frames.std(0), 1e-5)).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def backbone_config(preset: str) -> BackboneConfig:
    if preset not in ("tiny", "paper"):
        raise ValueError(f"unknown antispoof preset {preset!r}: expected tiny or paper")
    return BackboneConfig.tiny() if preset == "tiny" else BackboneConfig.paper()


class Countermeasure(nn.Module):
    """Features (batch, frames, dims) -> logits (batch, 2) (class 1 bona fide): standardization,
    the backbone's embedding, then the MLP classifier (objective `siamese`) or the linear head
    of `OriginalNetwork` (objective `original`). `spec`: backbone, preset, dims, objective."""

    def __init__(self, spec: dict):
        super().__init__()
        if spec["objective"] not in OBJECTIVES:
            raise ValueError(f"unknown objective {spec['objective']!r}: one of "
                             f"{', '.join(OBJECTIVES)}")
        self.spec = dict(spec)
        config = backbone_config(spec["preset"])
        self.norm = FeatureNorm(spec["dims"])
        self.network = OriginalNetwork(build_backbone(spec["backbone"], config))
        if spec["objective"] == "siamese":
            paper = ClassifierConfig.paper()
            hidden = paper.hidden_dim if spec["preset"] == "paper" else ClassifierConfig.tiny(
            ).hidden_dim
            self.classifier = MLPClassifier(ClassifierConfig(input_dim=config.embedding_dim,
                                                             hidden_dim=hidden))

    @property
    def backbone(self) -> nn.Module:
        return self.network.backbone

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.norm(features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.spec["objective"] == "siamese":
            return self.classifier(self.embed(features))
        return self.network(self.norm(features))


class _Embedder(nn.Module):
    """Phase 1 of the Siamese system: standardization and backbone, (batch, frames, dims) ->
    embeddings."""

    def __init__(self, model: Countermeasure):
        super().__init__()
        self.norm, self.backbone = model.norm, model.network.backbone
        self.norm.requires_grad_(False)

    def forward(self, x):
        return self.backbone(self.norm(x))


class _FrozenEmbeddings(nn.Module):
    """Phase 2: the MLP on embeddings computed beforehand by the frozen backbone."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, embeddings):
        return self.classifier(embeddings)


def window(features: np.ndarray, frames: int, start: int = 0) -> np.ndarray:
    """`frames` frames from `start`, the utterance repeated when shorter."""
    if len(features) < frames + start:
        features = np.tile(features, (math.ceil((frames + start) / len(features)), 1))
    return features[start:start + frames]


def whole_utterance(features: np.ndarray, frames: int) -> torch.Tensor:
    """(1, max(len, frames), dims): every frame, repeated to `frames` when shorter."""
    return torch.from_numpy(window(features, max(frames, len(features))))[None]


class BalancedDraw:
    """`draw(generator)` -> (positions of a balanced minibatch, their labels, window starts):
    half bona fide, half spoof, the first batch of a `BalancedBatchSampler` seeded from the
    training loop's generator (so a resumed run draws the same batches)."""

    def __init__(self, labels: np.ndarray, batch_size: int):
        self.labels = torch.as_tensor(labels)
        self.batch_size = batch_size
        BalancedBatchSampler(self.labels, batch_size)      # validates labels and batch size

    def __call__(self, generator: torch.Generator) -> list[int]:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        sampler = BalancedBatchSampler(self.labels, self.batch_size, seed=seed,
                                       batches_per_epoch=1)
        return next(iter(sampler))


def _train_config(training: TrainingParams, steps: int, seed: int):
    from voxflow.training import TrainConfig

    return TrainConfig(steps=steps, checkpoint_every=training.checkpoint_every,
                       log_every=training.log_every, seed=seed, lr=training.lr,
                       grad_clip=training.grad_clip)


def _embed_all(model: Countermeasure, features: list[np.ndarray], frames: int) -> np.ndarray:
    """(utterances, embedding_dim): each utterance embedded whole, one at a time (lengths
    differ; padding would enter the backbone's pooling)."""
    model.eval()
    with torch.no_grad():
        return np.concatenate([model.embed(whole_utterance(f, frames)).numpy()
                               for f in features])


def score_features(model: Countermeasure, features: list[np.ndarray],
                   frames: int) -> np.ndarray:
    """Bona fide log-odds of each utterance, scored whole."""
    model.eval()
    with torch.no_grad():
        return np.array([float(countermeasure_score(model(whole_utterance(f, frames)))[0])
                         for f in features], dtype=np.float64)


def train_neural(name: str, features_dir: Path, out_dir: Path, params: AntispoofParams) -> dict:
    """Train system `name` of params.yaml's antispoof.systems (its front-end, backbone,
    objective siamese or original, and margin) on the features' train split, with the
    section's `preset`, `seed`, `frames` and `training`, through `voxflow.training.train`;
    write the model, dev and eval scores and eval embeddings into `out_dir` (rank 0 only under
    torchrun); returns system.json's content.

    siamese: phase 1 trains standardization + backbone with eq. 3's contrastive loss
    (`margin`) on `pairs` random pairs of balanced minibatches of `batch_size`, eq. 4-5's
    schedule per iteration (N = training utterances // batch_size) for `epochs` epochs; phase 2
    trains the MLP on the frozen embeddings with cross-entropy for `classifier_epochs`.
    original: backbone + linear head end to end with cross-entropy, same batches and schedule,
    for `epochs`."""
    from voxflow.training import train

    system = params.system(name)
    frontend, objective = system.frontend, system.objective
    info_frontend = frontend_info(features_dir)
    if info_frontend["frontend"] != frontend:
        raise ValueError(f"{features_dir} holds {info_frontend['frontend']} features, not "
                         f"{frontend} (system {name})")
    training = params.training
    frames = params.frames[frontend]
    batch_size, n_pairs = training.batch_size, training.pairs
    margin = params.margin(name)
    seed = params.seed
    out_dir = Path(out_dir)
    # on a shared CPU, torch's default (every core) can be 50x slower than one thread
    use_threads(training.threads)

    rows, features = load_split(features_dir, "train")
    labels = _labels(rows)
    per_epoch = max(1, len(rows) // batch_size)
    spec = {"backbone": system.backbone, "preset": params.preset,
            "dims": int(features[0].shape[1]), "objective": objective}
    torch.manual_seed(seed)
    model = Countermeasure(spec)
    model.norm.set_statistics(features)
    draw = BalancedDraw(labels, batch_size)
    labels_t = torch.as_tensor(labels)

    def sample_windows(generator: torch.Generator):
        batch = draw(generator)
        chosen = []
        for i in batch:
            f = features[i]
            room = max(0, len(f) - frames)
            start = int(torch.randint(0, room + 1, (1,), generator=generator))
            chosen.append(window(f, frames, start))
        return torch.from_numpy(np.stack(chosen)), labels_t[batch]

    def schedule(optimizer):
        return warmup_decay_schedule(optimizer, per_epoch)

    steps = training.epochs * per_epoch
    if objective == "siamese":
        def sample_pairs_batch(generator):
            x, y = sample_windows(generator)
            return (x, *sample_pairs(y, n_pairs, generator))

        def siamese_loss(embedder, batch):
            x, first, second, pair_label = batch
            embeddings = embedder(x)
            loss = contrastive_loss(embeddings[first], embeddings[second], pair_label, margin)
            return loss, {"contrastive": loss.item()}

        embedder = _Embedder(model)
        result = train(embedder, siamese_loss, sample_pairs_batch,
                       out_dir / "checkpoints" / "embedding",
                       _train_config(training, steps, seed), scheduler_factory=schedule,
                       parameters=list(model.backbone.parameters()))
        embedding_loss = result.losses.get("contrastive")
        model.cpu()
        embeddings = torch.from_numpy(_embed_all(model, features, frames))
        model.backbone.requires_grad_(False)

        def sample_embeddings(generator):
            batch = draw(generator)
            return embeddings[batch], labels_t[batch]

        def classifier_loss(classifier, batch):
            x, y = batch
            loss = F.cross_entropy(classifier(x), y)
            return loss, {"cross_entropy": loss.item()}

        classifier_steps = training.classifier_epochs * per_epoch
        result = train(_FrozenEmbeddings(model.classifier), classifier_loss, sample_embeddings,
                       out_dir / "checkpoints" / "classifier",
                       _train_config(training, classifier_steps, seed),
                       scheduler_factory=schedule)
        losses = {"contrastive": embedding_loss, "cross_entropy": result.losses.get(
            "cross_entropy")}
    else:
        def original_loss(network, batch):
            x, y = batch
            loss = F.cross_entropy(network(x), y)
            return loss, {"cross_entropy": loss.item()}

        model.norm.requires_grad_(False)
        result = train(model, original_loss, sample_windows, out_dir / "checkpoints" / "original",
                       _train_config(training, steps, seed), scheduler_factory=schedule,
                       parameters=list(model.network.parameters()))
        losses = {"cross_entropy": result.losses.get("cross_entropy")}
    model.cpu().eval()
    info = {"name": name, "kind": objective, "frontend": frontend,
            "backbone": system.backbone, "preset": params.preset,
            "margin": margin if objective == "siamese" else None, "frames": frames,
            "frontend_description": info_frontend["description"],
            "pretrained_frontend": info_frontend["pretrained"], "train_utterances": len(rows),
            "batches_per_epoch": per_epoch, "epochs": training.epochs,
            "classifier_epochs": training.classifier_epochs if objective == "siamese"
            else None, "batch_size": batch_size,
            "pairs": n_pairs if objective == "siamese" else None, "seed": seed,
            "final_losses": losses,
            "parameters": sum(p.numel() for p in model.parameters())}
    if not distributed_env().is_main:       # every rank holds the same model: rank 0 writes
        return info

    # the options the features were made with (the SSL front-end's encoder path among them)
    torch.save({"spec": spec, "frames": frames, "frontend": frontend,
                "frontend_options": info_frontend["options"], "state": model.state_dict()},
               out_dir / "model.pt")
    for split in SCORED_SPLITS:
        split_rows, split_features = load_split(features_dir, split)
        write_scores(out_dir / "scores" / f"{split}.txt", split_rows,
                     score_features(model, split_features, frames))
        if split == "eval":
            np.savez(out_dir / "embeddings.npz", utt_id=split_rows["utt_id"].to_numpy(str),
                     key=split_rows["key"].to_numpy(str),
                     attack=split_rows["attack"].to_numpy(str),
                     embedding=_embed_all(model, split_features, frames))
    _write_system(out_dir, info)
    return info


def load_countermeasure(path: Path) -> tuple[Countermeasure, dict]:
    """A saved model.pt -> (model in eval mode, the saved record without the state)."""
    saved = torch.load(Path(path), map_location="cpu", weights_only=False)
    model = Countermeasure(saved["spec"])
    model.load_state_dict(saved["state"])
    return model.eval(), {k: v for k, v in saved.items() if k != "state"}
