"""Equal error rate and DET curves of detection scores (higher score = more bona fide / target).

A trial is accepted when its score is at or above the threshold. The operating points are the
ROC points of scikit-learn's `roc_curve` at every distinct score (tied scores move together), and
the EER is where the miss and false-alarm rates cross, interpolated linearly between the two
points that bracket the crossing.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm
from sklearn.metrics import roc_curve


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
    """(miss rate, false-alarm rate, threshold) at every distinct score, from the strictest
    threshold (+inf: everything rejected) to the most lenient (everything accepted)."""
    positive = check_scores("positive (bona fide / target) scores", positive)
    negative = check_scores("negative (spoof / non-target) scores", negative)
    labels = np.r_[np.ones(positive.size, np.int8), np.zeros(negative.size, np.int8)]
    fpr, tpr, thresholds = roc_curve(labels, np.r_[positive, negative], drop_intermediate=False)
    return 1.0 - tpr, fpr, thresholds


def compute_eer(positive, negative) -> tuple[float, float]:
    """(EER, threshold): EER where the miss and false-alarm rates cross, interpolated linearly
    between the bracketing ROC points; the threshold is the score of the first point at or past
    the crossing."""
    return eer_from_curve(*det_curve(positive, negative))


def eer_from_curve(miss: np.ndarray, fa: np.ndarray, thresholds: np.ndarray
                   ) -> tuple[float, float]:
    """`compute_eer` on a curve from `det_curve`."""
    i = int(np.flatnonzero(miss <= fa)[0])     # miss falls from 1 to 0, fa rises from 0 to 1
    if i == 0 or miss[i] == fa[i]:
        return float((miss[i] + fa[i]) / 2), float(thresholds[i])
    d0, d1 = miss[i - 1] - fa[i - 1], miss[i] - fa[i]
    w = d0 / (d0 - d1)
    return float(fa[i - 1] + w * (fa[i] - fa[i - 1])), float(thresholds[i])


def eer_threshold(positive, negative) -> float:
    """The score threshold of the ROC point where miss and false-alarm rates are closest: the
    ASV operating point of the ASVspoof 2019 t-DCF (a real threshold, not an interpolation)."""
    miss, fa, thresholds = det_curve(positive, negative)
    return float(thresholds[int(np.argmin(np.abs(miss - fa)))])


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
