"""F0 estimation with YIN (de Cheveigne and Kawahara, JASA 2002)."""
from __future__ import annotations

import math

import numpy as np
from scipy.fft import irfft, rfft


def estimate_f0(x: np.ndarray, sample_rate: int, fmin: float = 60.0, fmax: float = 500.0,
                hop_s: float = 0.010, win_s: float = 0.025, threshold: float = 0.3
                ) -> np.ndarray:
    """(frames,) F0 in Hz, 0 where a frame is unvoiced, at the centres of the frames of
    `voxflow.features.spectral.power_spectrogram` with the same `win_s` and `hop_s`.

    YIN: the first local minimum below `threshold` of the cumulative-mean-normalised difference
    function within the lags of fmax..fmin, refined by parabolic interpolation; frames 40 dB
    below the loudest frame are unvoiced. The first dip rather than the deepest one, and the
    sub-sample refinement, keep octave errors and lag quantisation out of F0 errors."""
    x = np.asarray(x, np.float64)
    win, hop = round(win_s * sample_rate), round(hop_s * sample_rate)
    lag_min, lag_max = int(sample_rate / fmax), math.ceil(sample_rate / fmin)
    width = lag_max                                   # integration window: the longest period
    span = width + lag_max + 2                        # one lag beyond lag_max for the parabola
    n_frames = 1 + max(0, len(x) - win) // hop        # as power_spectrogram frames
    centres = np.arange(n_frames) * hop + win // 2
    padded = np.pad(x, (span // 2, span))
    frames = np.lib.stride_tricks.sliding_window_view(padded, span)[centres]

    # difference d(t) = e(0) + e(t) - 2 r(t), with e(t) the energy of frame[t:t + width]
    n_fft = 1 << (span + width).bit_length()
    r = irfft(rfft(frames, n_fft) * np.conj(rfft(frames[:, :width], n_fft)), n_fft)
    energy = np.pad(np.cumsum(frames ** 2, axis=1), ((0, 0), (1, 0)))
    e = energy[:, width:width + lag_max + 2] - energy[:, :lag_max + 2]
    d = np.maximum(e[:, :1] + e - 2 * r[:, :lag_max + 2], 0.0)
    lags = np.arange(lag_max + 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        cmnd = d * lags / np.cumsum(d, axis=1)
    cmnd = np.nan_to_num(cmnd, nan=1.0, posinf=1.0)   # silent frames: flat, never below

    t = np.arange(lag_min, lag_max + 1)
    minimum = ((cmnd[:, t] < cmnd[:, t - 1]) & (cmnd[:, t] <= cmnd[:, t + 1])
               & (cmnd[:, t] < threshold))
    lag = t[minimum.argmax(axis=1)]
    rows = np.arange(n_frames)
    a, b, c = cmnd[rows, lag - 1], cmnd[rows, lag], cmnd[rows, lag + 1]
    curvature = a - 2 * b + c
    shift = np.where(curvature > 0, 0.5 * (a - c) / np.where(curvature > 0, curvature, 1), 0)
    loudness = frames.var(axis=1)
    voiced = minimum.any(axis=1) & (loudness > 1e-4 * loudness.max())
    return np.where(voiced, sample_rate / (lag + np.clip(shift, -1, 1)), 0.0)
