"""Cepstral features in numpy/scipy: MFCC and LFCC (the ASVspoof 2019 baseline front-end)."""
from __future__ import annotations

import numpy as np
from scipy.fft import dct, rfft
from scipy.signal.windows import hamming


def _frames(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    n = 1 + (len(x) - win) // hop
    return np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n]


def power_spectrogram(x: np.ndarray, sample_rate: int, win_s: float, hop_s: float,
                      n_fft: int) -> np.ndarray:
    """(frames, n_fft // 2 + 1) power spectrogram with a Hamming window."""
    win, hop = int(round(win_s * sample_rate)), int(round(hop_s * sample_rate))
    frames = _frames(np.asarray(x, np.float64), win, hop) * hamming(win, sym=False)
    return np.abs(rfft(frames, n_fft, axis=1)) ** 2


def _triangular_bank(edges_hz: np.ndarray, n_fft: int, sample_rate: int) -> np.ndarray:
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lo, mid, hi = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    up = (freqs - lo) / (mid - lo)
    down = (hi - freqs) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down))


def _deltas(c: np.ndarray, width: int = 2) -> np.ndarray:
    padded = np.pad(c, ((width, width), (0, 0)), mode="edge")
    num = sum(k * (padded[width + k:len(c) + width + k] - padded[width - k:len(c) + width - k])
              for k in range(1, width + 1))
    return num / (2 * sum(k * k for k in range(1, width + 1)))


def _cepstra(power: np.ndarray, bank: np.ndarray, n_coeffs: int, deltas: bool) -> np.ndarray:
    c = dct(np.log(power @ bank.T + 1e-10), type=2, norm="ortho", axis=1)[:, :n_coeffs]
    if deltas:
        d = _deltas(c)
        c = np.hstack([c, d, _deltas(d)])
    return c.astype(np.float32)


def mfcc(x: np.ndarray, sample_rate: int, n_mfcc: int = 20, n_mels: int = 40,
         win_s: float = 0.025, hop_s: float = 0.010, n_fft: int = 512,
         deltas: bool = False) -> np.ndarray:
    """(frames, n_mfcc[*3]) mel-frequency cepstral coefficients (HTK mel scale)."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)          # noqa: E731
    inv = lambda m: 700 * (10 ** (m / 2595) - 1)           # noqa: E731
    edges = inv(np.linspace(mel(20.0), mel(sample_rate / 2), n_mels + 2))
    bank = _triangular_bank(edges, n_fft, sample_rate)
    return _cepstra(power_spectrogram(x, sample_rate, win_s, hop_s, n_fft), bank, n_mfcc, deltas)


def lfcc(x: np.ndarray, sample_rate: int, n_lfcc: int = 20, n_filters: int = 20,
         win_s: float = 0.020, hop_s: float = 0.010, n_fft: int = 512,
         deltas: bool = True) -> np.ndarray:
    """(frames, 60) LFCC as in the ASVspoof 2019 baseline: 20 ms / 10 ms, 512-point FFT,
    20 linearly spaced triangular filters, 20 coefficients with deltas and double deltas."""
    edges = np.linspace(0.0, sample_rate / 2, n_filters + 2)
    bank = _triangular_bank(edges, n_fft, sample_rate)
    return _cepstra(power_spectrogram(x, sample_rate, win_s, hop_s, n_fft), bank, n_lfcc, deltas)
