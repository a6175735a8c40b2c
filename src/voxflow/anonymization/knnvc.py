"""kNN-VC voice conversion on SSL feature frames (Baas et al. 2023, "Voice Conversion With Just
Nearest Neighbors", github.com/bshall/knn-vc) with the modifications of paper 003 section 2.1 and
fig. 1 (the JHU HLTCOE VoicePrivacy 2024 submission).

kNN-VC replaces every frame of the source utterance by the mean of its k = 4 nearest frames (by
cosine similarity) in a target speaker's matching set, then vocodes the result (`vocoder`).
Paper 003 anonymizes with it by
- random target speakers: each utterance gets target(s) drawn at random from a pool;
- several matching sets (fig. 1): each matched separately, the outputs pooled by a weighted
  average (a voice between the targets);
- length variation (table 1, ID 2): a random speed factor in [0.8, 1.2] per utterance;
- noise-in (ID 3): noise drawn uniformly from an L-infinity ball added to every source frame
  before matching.

Features are (frames, dim) float32 arrays at 50 Hz (one frame per `audio.HOP` samples).
`prematch` builds kNN-VC's prematched vocoder training data.

The matcher can carry another representation of the matched frames to the vocoder (`values`):
the frames are chosen by their SSL features, and their log-mels are averaged instead of their
features. kNN-VC vocodes the features themselves (WavLM Large's layer 6 keeps enough of the
spectrum); the tiny encoder trained here in CPU minutes does not (see
`voxflow.anonymization.vocoder`), while the choice of frames still rests on its features.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def knn_match(query: torch.Tensor, matching_set: torch.Tensor, k: int = 4,
              chunk: int = 256, values: torch.Tensor | None = None) -> torch.Tensor:
    """query (T, D), matching_set (N, D) -> (T, D): each query frame replaced by the mean of its
    k nearest matching frames by cosine similarity (kNN-VC's matcher). With `values` (N, V),
    another representation of the same N frames (their log-mels), the mean of the nearest
    frames' values instead: (T, V).

    `chunk` query frames are compared at a time, bounding the similarity matrix to
    (chunk, N) floats (50k frames: 51 MB at chunk 256). Runs on the matching set's device."""
    if query.ndim != 2 or matching_set.ndim != 2:
        raise ValueError(f"query and matching_set must be (frames, dim), got shapes "
                         f"{tuple(query.shape)} and {tuple(matching_set.shape)}")
    if query.shape[1] != matching_set.shape[1]:
        raise ValueError(f"query has dim {query.shape[1]}, matching_set has dim "
                         f"{matching_set.shape[1]}")
    if not 1 <= k <= matching_set.shape[0]:
        raise ValueError(f"k must be in [1, {matching_set.shape[0]}] (the matching set's "
                         f"frames), got {k}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if values is None:
        values = matching_set
    elif values.ndim != 2 or values.shape[0] != matching_set.shape[0]:
        raise ValueError(f"values must be (frames, dim) with the matching set's "
                         f"{matching_set.shape[0]} frames, got {tuple(values.shape)}")
    query = query.to(matching_set.device, matching_set.dtype)
    unit_set = F.normalize(matching_set, dim=1)
    out = []
    for start in range(0, query.shape[0], chunk):
        similarity = F.normalize(query[start:start + chunk], dim=1) @ unit_set.T  # (chunk, N)
        nearest = similarity.topk(k, dim=1).indices                               # (chunk, k)
        out.append(values[nearest].mean(dim=1))
    return torch.cat(out) if out else values[:0].clone()


def change_length(features: torch.Tensor, factor: float) -> torch.Tensor:
    """(T, D) -> (round(T * factor), D): the sequence stretched in time by linear interpolation
    (factor > 1: longer, slower speech), as kNN-VC's `target_duration` does."""
    frames = max(1, round(features.shape[0] * factor))
    return F.interpolate(features.T[None], size=frames, mode="linear")[0].T


def add_noise(features: torch.Tensor, bound: float, rng: np.random.Generator) -> torch.Tensor:
    """(T, D) + noise drawn uniformly from the L-infinity ball of radius `bound` (independent
    uniform values in [-bound, bound] per frame and dimension) -> (T, D)."""
    noise = rng.uniform(-bound, bound, size=tuple(features.shape)).astype(np.float32)
    return features + torch.from_numpy(noise).to(features.device)


@dataclass(frozen=True)
class KnnVCConfig:
    k: int = 4                       # nearest neighbours averaged per frame (kNN-VC, paper 003)
    # matching sets (target speakers) pooled per utterance, drawn at random from the pool
    # without replacement; 1: kNN-VC with a random target speaker (table 1, ID 1)
    targets: int = 1
    # pooling weights of the targets' outputs (paper 003 gives none): "uniform" (1 / targets)
    # or "dirichlet" (flat Dirichlet(1, ..., 1), uniform over the simplex: a new mix per
    # utterance, so even a fixed set of targets gives a different pseudo-voice every time)
    weights: str = "uniform"
    # speed factor range (low, high) drawn uniformly per utterance, None: off; paper 003 uses
    # (0.8, 1.2) on the audio; here on the features (see KnnVC)
    length_variation: tuple[float, float] | None = None
    # noise-in bound relative to the pool's feature scale (KnnVC.scale: the mean per-dimension
    # std of all matching frames), 0: off; paper 003 bounds the noise at 32 in WavLM Large
    # units, whose scale we cannot measure here (no WavLM weights), so no value reproduces it:
    # params.yaml's knnvc-len-noise takes 1.0 (noise up to one feature std per dimension), a
    # chosen, uncalibrated value
    noise_linf: float = 0.0
    chunk: int = 256                 # query frames matched at a time (memory bound)

    def __post_init__(self):
        if self.k < 1 or self.targets < 1 or self.chunk < 1:
            raise ValueError(f"k, targets and chunk must be >= 1, got {self.k}, {self.targets}, "
                             f"{self.chunk}")
        if self.weights not in ("uniform", "dirichlet"):
            raise ValueError(f"weights must be 'uniform' or 'dirichlet', got {self.weights!r}")
        if self.length_variation is not None:
            low, high = self.length_variation
            if not 0 < low <= high:
                raise ValueError(f"length_variation must be (low, high) with 0 < low <= high, "
                                 f"got {self.length_variation}")
        if self.noise_linf < 0:
            raise ValueError(f"noise_linf must be >= 0 (0: off), got {self.noise_linf}")


def mean_feature_std(sets: list[torch.Tensor]) -> float:
    """The per-dimension std over the frames of all (N_i, D) `sets`, averaged over the dims:
    the unit of `KnnVCConfig.noise_linf`. From running float64 sums, so a pool of many
    speakers is never concatenated."""
    count = sum(s.shape[0] for s in sets)
    total = sum(s.double().sum(dim=0).cpu() for s in sets)
    squares = sum(s.double().square().sum(dim=0).cpu() for s in sets)
    variance = (squares - total ** 2 / count) / max(count - 1, 1)
    return float(variance.clamp(min=0).sqrt().mean())


class KnnVC:
    """kNN-VC with random targets from a pool of matching sets, pooled, length-varied and
    noise-in per its config (paper 003 section 2.1).

    Length variation works on the feature sequence, not on the waveform as paper 003 does:
    `convert` takes features (the SSL encoder is separate), and of a speed change only the
    timing survives the matching, since every output frame is a mean of the target's own
    frames: the source's pitch and formant shift that resampling the audio also brings are
    replaced by the target's. Stretching the features changes the timing alike without
    encoding the audio again."""

    def __init__(self, pool: dict[str, torch.Tensor], config: KnnVCConfig = KnnVCConfig(),
                 values: dict[str, torch.Tensor] | None = None):
        """pool: {speaker: (N, D) matching set}; values: None (the output is the matched
        features, kNN-VC's) or {speaker: (N, V)}, another representation of each matching
        set's frames (their log-mels), averaged over the same nearest frames instead. The sets
        stay on their device (matching runs there)."""
        if len(pool) < config.targets:
            raise ValueError(f"the pool holds {len(pool)} speakers, fewer than the "
                             f"{config.targets} targets per utterance")
        # sorted: the same pool gives the same draws whatever order it was loaded in
        self.pool = {speaker: torch.as_tensor(pool[speaker], dtype=torch.float32)
                     for speaker in sorted(pool)}
        self.config = config
        for speaker, frames in self.pool.items():
            if frames.ndim != 2 or frames.shape[0] < config.k:
                raise ValueError(f"matching set of {speaker!r}: must be (frames, dim) with at "
                                 f"least k={config.k} frames, got {tuple(frames.shape)}")
        dims = {speaker: frames.shape[1] for speaker, frames in self.pool.items()}
        if len(set(dims.values())) > 1:
            raise ValueError(f"matching sets differ in dim: {dims}")
        self.dim = next(iter(dims.values()))
        self.values = None
        if values is not None:
            if set(values) != set(self.pool):
                raise ValueError(f"values are given for speakers {sorted(values)}, the pool "
                                 f"holds {sorted(self.pool)}")
            self.values = {speaker: torch.as_tensor(values[speaker], dtype=torch.float32)
                           for speaker in self.pool}
            widths = {v.shape[1] if v.ndim == 2 else None for v in self.values.values()}
            for speaker, frames in self.values.items():
                if frames.ndim != 2 or frames.shape[0] != self.pool[speaker].shape[0]:
                    raise ValueError(f"values of {speaker!r}: must be (frames, dim) with its "
                                     f"matching set's {self.pool[speaker].shape[0]} frames, "
                                     f"got {tuple(frames.shape)}")
            if len(widths) > 1:
                raise ValueError(f"values differ in dim: {sorted(widths)}")
        self.scale = mean_feature_std(list(self.pool.values()))

    @property
    def noise_bound(self) -> float:
        """The noise-in L-infinity bound in feature units."""
        return self.config.noise_linf * self.scale

    def convert(self, features: np.ndarray, rng: np.random.Generator,
                exclude: str | None = None) -> np.ndarray:
        """(T, D) source features -> (T', D) converted features, or (T', V) matched values
        when the pool has them (T' = T without length variation), with the targets, weights, speed factor and noise drawn from `rng` in that
        order: the same rng state gives the same output. `exclude`, the source's speaker when
        it is in the pool (the attacker's training speakers), is never a target."""
        query = torch.as_tensor(np.asarray(features, dtype=np.float32))
        if query.ndim != 2 or query.shape[0] == 0 or query.shape[1] != self.dim:
            raise ValueError(f"features must be (frames >= 1, {self.dim}), got "
                             f"{tuple(query.shape)}")
        config = self.config
        speakers = [speaker for speaker in self.pool if speaker != exclude]
        if len(speakers) < config.targets:
            raise ValueError(f"the pool holds {len(speakers)} speakers besides {exclude!r}, "
                             f"fewer than the {config.targets} targets per utterance")
        chosen = rng.choice(len(speakers), size=config.targets, replace=False)
        weights = (rng.dirichlet(np.ones(config.targets)) if config.weights == "dirichlet"
                   else np.full(config.targets, 1.0 / config.targets))
        if config.length_variation is not None:
            query = change_length(query, rng.uniform(*config.length_variation))
        if config.noise_linf > 0:
            query = add_noise(query, self.noise_bound, rng)
        out = sum(float(weight) * knn_match(
            query, self.pool[speakers[index]], config.k, config.chunk,
            None if self.values is None else self.values[speakers[index]]).cpu()
            for weight, index in zip(weights, chosen))
        return out.numpy()


def prematch(utterances: list[np.ndarray], k: int = 4, min_frames: int = 25,
             values: list[np.ndarray] | None = None) -> list[np.ndarray | None]:
    """Utterances [(T_i, D)] of ONE speaker -> [(T_i, D) or None]: each rebuilt from the k
    nearest frames among the speaker's OTHER utterances (kNN-VC's prematched vocoder training
    data, which teaches the vocoder the averaged frames it will be given at conversion). With
    `values` [(T_i, V)], the same frames' other representation (log-mels), the nearest frames'
    values are averaged instead: [(T_i, V) or None].

    Utterances under `min_frames` frames (default 0.5 s, the tiny vocoder's training segment)
    are not rebuilt (None at their place): too short to draw a training segment from (kNN-VC
    zero-pads such clips instead). They still serve as matching frames for the others."""
    if len(utterances) < 2:
        raise ValueError(f"prematch needs at least 2 utterances of the speaker, got "
                         f"{len(utterances)}")
    frames = [torch.as_tensor(np.asarray(u, dtype=np.float32)) for u in utterances]
    dim = frames[0].shape[-1]
    for index, utterance in enumerate(frames):
        if utterance.ndim != 2 or utterance.shape[1] != dim:
            raise ValueError(f"utterance {index}: must be (frames, {dim}), got "
                             f"{tuple(utterance.shape)}")
    if values is None:
        outputs = frames
    else:
        if len(values) != len(frames):
            raise ValueError(f"{len(values)} value arrays for {len(frames)} utterances")
        outputs = [torch.as_tensor(np.asarray(v, dtype=np.float32)) for v in values]
        for index, (utterance, value) in enumerate(zip(frames, outputs)):
            if value.ndim != 2 or value.shape[0] != utterance.shape[0]:
                raise ValueError(f"values {index}: must be (frames, dim) with the utterance's "
                                 f"{utterance.shape[0]} frames, got {tuple(value.shape)}")
    rebuilt: list[np.ndarray | None] = []
    for index, utterance in enumerate(frames):
        if utterance.shape[0] < min_frames:
            rebuilt.append(None)
            continue
        others = torch.cat(frames[:index] + frames[index + 1:])
        if others.shape[0] < k:
            raise ValueError(f"utterance {index}: the other utterances hold {others.shape[0]} "
                             f"frames, fewer than k={k}")
        rebuilt.append(knn_match(utterance, others, k,
                                 values=torch.cat(outputs[:index] + outputs[index + 1:])).numpy())
    return rebuilt
