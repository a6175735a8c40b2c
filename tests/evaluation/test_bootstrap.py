"""The paired bootstrap interval of an EER difference."""
from __future__ import annotations

import numpy as np
import pytest

from voxflow.evaluation.bootstrap import paired_bootstrap_eer


def _system(rng, separation: float, bona: int = 60, spoof: int = 104):
    """Scores of one system: bona fide ~ N(separation, 1), spoof ~ N(0, 1)."""
    return rng.normal(separation, 1, bona), rng.normal(0, 1, spoof)


def test_equally_good_systems_mostly_get_an_interval_containing_zero():
    # two independent systems of the same accuracy: the true EER difference is 0, so a 95 %
    # interval should contain it for about 19 of 20 data sets
    rng = np.random.default_rng(1)
    covered = 0
    for seed in range(20):
        result = paired_bootstrap_eer(*_system(rng, 1.5), *_system(rng, 1.5), resamples=200,
                                      seed=seed)
        covered += result.low <= 0 <= result.high
    assert covered >= 16


def test_a_clearly_better_system_gets_an_interval_below_zero():
    rng = np.random.default_rng(2)
    result = paired_bootstrap_eer(*_system(rng, 3.0), *_system(rng, 0.5))
    assert result.high < 0 and result.significant
    assert result.low <= result.difference <= result.high


def test_the_same_seed_gives_the_same_interval():
    rng = np.random.default_rng(3)
    scores = (*_system(rng, 1.5), *_system(rng, 1.2))
    first, again = (paired_bootstrap_eer(*scores, seed=7) for _ in range(2))
    other = paired_bootstrap_eer(*scores, seed=8)
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)


def test_systems_must_score_the_same_trials():
    rng = np.random.default_rng(4)
    bona, spoof = _system(rng, 1.0)
    with pytest.raises(ValueError, match="same trials"):
        paired_bootstrap_eer(bona, spoof, bona[:-1], spoof)
