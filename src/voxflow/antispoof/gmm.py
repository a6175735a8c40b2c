"""The GMM back-end of the ASVspoof 2019 baselines (LFCC-GMM and CQCC-GMM of the Siamese
spoofing paper's table 1): one diagonal-covariance Gaussian mixture for bona fide frames and one
for spoof frames, 512 components each; an utterance's score is its mean per-frame log-likelihood
ratio, mean_t log p(x_t | bona fide) - mean_t log p(x_t | spoof), higher meaning bona fide. """
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.mixture import GaussianMixture


@dataclass(frozen=True)
class GMMConfig:
    """`max_frames`: at most this many training frames per class, drawn at random with `seed`
    (None: all, as the baseline; ASVspoof 2019 LA's spoof class has some 7 million LFCC
    frames). EM starts from k-means, at most `max_iter` iterations."""
    components: int = 512
    max_frames: int | None = None
    max_iter: int = 100
    seed: int = 0

    @classmethod
    def paper(cls) -> GMMConfig:
        return cls()


class GMMCountermeasure:
    """`fit(bonafide, spoof)` on lists of (frames, dims) feature matrices of the training
    utterances; `score(features)` -> the utterance's log-likelihood ratio."""

    def __init__(self, config: GMMConfig = GMMConfig()):
        self.config = config
        self.bonafide: GaussianMixture | None = None
        self.spoof: GaussianMixture | None = None

    def _frames(self, utterances: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        frames = np.concatenate([np.asarray(u, np.float64) for u in utterances])
        limit = self.config.max_frames
        if limit is not None and len(frames) > limit:
            frames = frames[np.sort(rng.choice(len(frames), limit, replace=False))]
        return frames

    def _mixture(self, frames: np.ndarray) -> GaussianMixture:
        return GaussianMixture(self.config.components, covariance_type="diag",
                               max_iter=self.config.max_iter,
                               random_state=self.config.seed).fit(frames)

    def fit(self, bonafide: Sequence[np.ndarray], spoof: Sequence[np.ndarray]
            ) -> GMMCountermeasure:
        rng = np.random.default_rng(self.config.seed)
        self.bonafide = self._mixture(self._frames(bonafide, rng))
        self.spoof = self._mixture(self._frames(spoof, rng))
        return self

    def score(self, features: np.ndarray) -> float:
        """(frames, dims) -> mean per-frame log-likelihood ratio, bona fide over spoof."""
        if self.bonafide is None or self.spoof is None:
            raise RuntimeError("fit the GMMs before scoring")
        x = np.asarray(features, np.float64)
        return float(np.mean(self.bonafide.score_samples(x) - self.spoof.score_samples(x)))

    def score_many(self, utterances: Sequence[np.ndarray]) -> np.ndarray:
        """A list of (frames, dims) -> (utterances,) scores."""
        return np.array([self.score(u) for u in utterances])
