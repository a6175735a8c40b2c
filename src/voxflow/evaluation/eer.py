"""Equal error rate from detection scores (higher score = more bona fide / target)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve


def compute_eer(positive: np.ndarray, negative: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): the point where the false-acceptance and false-rejection rates cross,
    interpolated linearly between the two ROC points that bracket it."""
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    if positive.size == 0 or negative.size == 0:
        raise ValueError("EER needs at least one positive and one negative score")
    if not (np.all(np.isfinite(positive)) and np.all(np.isfinite(negative))):
        raise ValueError("EER scores contain NaN or infinite values")
    labels = np.r_[np.ones(positive.size), np.zeros(negative.size)]
    fpr, tpr, thresholds = roc_curve(labels, np.r_[positive, negative], drop_intermediate=False)
    fnr = 1 - tpr
    i = int(np.flatnonzero(fnr <= fpr)[0])
    if i == 0 or fpr[i] == fnr[i]:
        return float((fpr[i] + fnr[i]) / 2), float(thresholds[i])
    # crossing between points i-1 (fnr > fpr) and i (fnr <= fpr)
    d0, d1 = fnr[i - 1] - fpr[i - 1], fnr[i] - fpr[i]
    w = d0 / (d0 - d1)
    eer = fpr[i - 1] + w * (fpr[i] - fpr[i - 1])
    return float(eer), float(thresholds[i])
