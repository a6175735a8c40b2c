"""Equal error rate and DET curves of detection scores (higher score = more bona fide / target),
in the convention of the ASVspoof organisers' scoring package (asvspoof-challenge/2021,
`eval-package/eval_metrics.py`), so that the numbers compare with published ones:

- the curve has one point per trial: all scores sorted (a stable sort, positives before
  negatives among equal scores), point k rejecting the first k of them; point 0 (threshold just
  below the lowest score) accepts everything;
- the EER is the mean of the miss and false-alarm rates at the point where they are closest
  (no interpolation), its threshold that point's score;
- an operating point at threshold t accepts a trial whose score is at or above t (used by the
  t-DCF's ASV rates).

With tied scores the per-trial points depend on the order of the tie, as in the package (all
scores equal gives an EER of 1.0).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm


def check_scores(name: str, scores) -> np.ndarray:
    """`scores` as a finite, non-empty float array; ValueError naming `name` otherwise."""
    scores = np.asarray(scores, float).ravel()
    if scores.size == 0:
        raise ValueError(f"{name}: no scores (this class is empty)")
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ValueError(f"{name}: {int(bad.sum())} of {scores.size} scores are NaN or infinite "
                         f"(first at index {int(np.flatnonzero(bad)[0])})")
    return scores


def det_curve(positive, negative) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(miss rate, false-alarm rate, threshold), one point per trial plus the accept-all one,
    from the most lenient threshold to the strictest (the package's `compute_det_curve`)."""
    positive = check_scores("positive (bona fide / target) scores", positive)
    negative = check_scores("negative (spoof / non-target) scores", negative)
    scores = np.r_[positive, negative]
    order = np.argsort(scores, kind="mergesort")
    is_positive = np.r_[np.ones(positive.size), np.zeros(negative.size)][order]
    rejected_positives = np.cumsum(is_positive)
    rejected = np.arange(1, scores.size + 1)
    miss = np.r_[0.0, rejected_positives / positive.size]
    fa = np.r_[1.0, (negative.size - (rejected - rejected_positives)) / negative.size]
    return miss, fa, np.r_[scores[order[0]] - 0.001, scores[order]]


def compute_eer(positive, negative) -> tuple[float, float]:
    """(EER, threshold) in the package's convention (module docstring)."""
    return eer_from_curve(*det_curve(positive, negative))


def eer_from_curve(miss: np.ndarray, fa: np.ndarray, thresholds: np.ndarray
                   ) -> tuple[float, float]:
    """`compute_eer` on a curve from `det_curve`."""
    i = int(np.argmin(np.abs(miss - fa)))
    return float((miss[i] + fa[i]) / 2), float(thresholds[i])


_DET_TICKS = np.array([0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8])


def det_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "DET"):
    """A DET plot (normal-deviate axes) of {label: (miss, false alarm)} curves, with the EER
    line; returns a matplotlib Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    lo, hi = norm.ppf(0.0005), norm.ppf(0.9)
    for label, (miss, fa) in curves.items():
        ax.plot(norm.ppf(np.clip(fa, 1e-4, 1 - 1e-4)), norm.ppf(np.clip(miss, 1e-4, 1 - 1e-4)),
                label=label, linewidth=1.2)
    ax.plot([lo, hi], [lo, hi], "k:", linewidth=0.8, label="EER")
    ticks = norm.ppf(_DET_TICKS)
    labels = [f"{100 * t:g}" for t in _DET_TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("False alarm rate (%)")
    ax.set_ylabel("Miss rate (%)")
    ax.set_title(title)
    ax.grid(True, linewidth=0.4)
    ax.legend(loc="lower left", fontsize="x-small")
    return fig
