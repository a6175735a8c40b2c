"""F0 estimation by normalised autocorrelation (a compact YIN-like tracker)."""
from __future__ import annotations

import numpy as np
from scipy.fft import irfft, rfft


def estimate_f0(x: np.ndarray, sample_rate: int, fmin: float = 60.0, fmax: float = 500.0,
                hop_s: float = 0.010, threshold: float = 0.5) -> np.ndarray:
    """(frames,) F0 in Hz every `hop_s`, 0 where a frame is unvoiced.

    Frames of 2.5 periods of `fmin`; voicing when the normalised autocorrelation peak in the
    admissible lag range exceeds `threshold`.
    """
    x = np.asarray(x, np.float64)
    win = int(2.5 * sample_rate / fmin)
    hop = int(round(hop_s * sample_rate))
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    n_fft = 2 * win
    ac = irfft(np.abs(rfft(frames, n_fft, axis=1)) ** 2, n_fft, axis=1)[:, :win]
    energy = ac[:, :1] + 1e-12
    lag_min, lag_max = int(sample_rate / fmax), min(int(sample_rate / fmin), win - 1)
    # normalise by the overlap length so long lags are not penalised
    norm = ac[:, lag_min:lag_max] / energy * (win / (win - np.arange(lag_min, lag_max)))
    best = norm.argmax(axis=1)
    peak = norm[np.arange(len(norm)), best]
    f0 = sample_rate / (best + lag_min)
    loud = energy[:, 0] > 1e-4 * energy.max()
    return np.where((peak > threshold) & loud, f0, 0.0)
