"""Paired bootstrap of the difference of two systems' EERs on the same trials."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxflow.evaluation.eer import compute_eer


@dataclass(frozen=True)
class EERDifference:
    difference: float           # EER(a) - EER(b) on the trials themselves
    low: float                  # the percentile interval of the bootstrapped differences
    high: float
    level: float
    resamples: int

    @property
    def significant(self) -> bool:
        """The interval excludes 0: one system's EER is lower beyond the resampling noise."""
        return self.low > 0 or self.high < 0


def paired_bootstrap_eer(positive_a, negative_a, positive_b, negative_b, resamples: int = 1000,
                         level: float = 0.95, seed: int = 0) -> EERDifference:
    """EER(a) - EER(b) and its `level` percentile interval over `resamples` paired, stratified
    bootstrap resamples: positive (bona fide) and negative (spoof) trials are drawn with
    replacement separately, keeping each class's size, and the same drawn trials score both
    systems, so `positive_a[i]` and `positive_b[i]` (likewise negative) must be the same trial.
    EERs are `voxflow.evaluation.eer.compute_eer`'s; seeded by `seed`."""
    positive_a, positive_b, negative_a, negative_b = (
        np.asarray(x, float).ravel() for x in (positive_a, positive_b, negative_a, negative_b))
    if positive_a.shape != positive_b.shape or negative_a.shape != negative_b.shape:
        raise ValueError(f"paired bootstrap: system a has {positive_a.size} positive and "
                         f"{negative_a.size} negative trials, system b {positive_b.size} and "
                         f"{negative_b.size}; both must score the same trials")
    if not 0 < level < 1 or resamples < 1:
        raise ValueError(f"paired bootstrap: level {level} must be in (0, 1) and resamples "
                         f"{resamples} at least 1")
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, positive_a.size, (resamples, positive_a.size))
    neg = rng.integers(0, negative_a.size, (resamples, negative_a.size))
    differences = np.array([compute_eer(positive_a[p], negative_a[n])[0] -
                            compute_eer(positive_b[p], negative_b[n])[0]
                            for p, n in zip(pos, neg)])
    low, high = np.percentile(differences, [50 * (1 - level), 50 * (1 + level)])
    return EERDifference(difference=compute_eer(positive_a, negative_a)[0] -
                         compute_eer(positive_b, negative_b)[0],
                         low=float(low), high=float(high), level=level, resamples=resamples)
