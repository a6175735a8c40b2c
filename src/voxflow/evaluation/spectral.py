"""Signal-level distortion between a reference and a degraded (vocoded, converted, coded)
signal: mel-cepstral distortion (MCD), F0 RMSE and voicing error, log-spectral distance (LSD).

All three share one analysis grid: 25 ms Hamming windows every 5 ms, FFT size the next power of
two of the window (`voxflow.features.spectral.power_spectrogram`). Every frame counts, pauses
included (no speech-activity selection), so that both signals are scored on the same frames
whatever they contain. Signals are paired frame by frame (their lengths may differ by 10 ms at
most, see `trim_pair`) or, with `dtw=True`, along a dynamic-time-warping path on the mel-cepstra,
which then also pairs the F0 and LSD frames. F0 comes from the YIN tracker
`voxflow.features.estimate_f0` on the same frame centres.

Mel-cepstrum (order 24, alpha from `all_pass_alpha`), per frame:
1. the log amplitude spectrum ln|X(w)| = 0.5 ln P(w), power P floored at 1e-10 (-100 dB);
2. its FFT cepstrum, in causal form a_n (ln|X(w)| = sum_n a_n cos(n w), n = 0..n_fft/2);
3. frequency warping by the all-pass (z^-1 - alpha) / (1 - alpha z^-1), whose phase maps w to
   w~ = w + 2 atan(alpha sin w / (1 - alpha cos w)): the mel-cepstrum c_0..c_M is the cosine
   series of the same log spectrum on the warped axis, ln|X| = sum_m c_m cos(m w~) (SPTK's
   convention). Warping is linear in a_n, so one fixed matrix does it: the warped-axis cosine
   coefficients of each cos(n w), by the trapezoid rule on n_fft + 1 warped frequencies.
This is SPTK's `freqt` applied to the FFT cepstrum (to rounding; the tests compare with the
recursion), i.e. the approach of pysptk's `sp2mc` on a periodogram. It is not SPTK's iterative
`mcep` estimator, and published MCDs use various estimators (mcep, WORLD envelope + sp2mc,
...), frame settings and frame selections: absolute MCD values depend on all of them, so
compare systems with each other within voxflow, not with numbers from other toolkits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.fft import irfft
from scipy.spatial.distance import cdist

from voxflow.evaluation.pairs import PairError, read_mono, trim_pair
from voxflow.evaluation.report import Report
from voxflow.evaluation.stats import mean_ci
from voxflow.features.pitch import estimate_f0
from voxflow.features.spectral import power_spectrogram
from voxflow.parallel import run_parallel

WIN_S, HOP_S = 0.025, 0.005
POWER_FLOOR = 1e-10          # keeps log(0) of digital silence finite: -100 dB
DB = 10 / math.log(10)      # natural-log amplitude (nepers) to dB

# SPTK's customary all-pass constants, closest to the mel scale at these rates
ALPHAS = {8000: 0.31, 16000: 0.42, 22050: 0.455, 24000: 0.466, 44100: 0.544, 48000: 0.554}
METRICS = ("mcd", "f0_rmse", "f0_rmse_cents", "vuv_error", "lsd")


def all_pass_alpha(sample_rate: int) -> float:
    """The frequency-warping constant: SPTK's value for the rates of `ALPHAS`; otherwise the
    alpha (step 0.001) whose warping best fits the mel scale mel(f) = ln(1 + f / 1000) in the
    least-squares sense over 0..Nyquist (pysptk's `mcepalpha`, which reproduces the table to
    0.002 except 0.41 at 16 kHz)."""
    if sample_rate in ALPHAS:
        return ALPHAS[sample_rate]
    omega = np.linspace(0, np.pi, 1000, endpoint=False)
    mel = np.log1p(omega / np.pi * sample_rate / 2 / 1000)
    alphas = np.arange(0, 1, 0.001)[:, None]
    warped = _warp(omega, alphas)
    error = ((warped / warped[:, -1:] - mel / mel[-1]) ** 2).sum(axis=1)
    return round(float(alphas[error.argmin(), 0]), 3)


def _warp(omega: np.ndarray, alpha) -> np.ndarray:
    """Phase of the all-pass (z^-1 - alpha) / (1 - alpha z^-1): the warped frequency."""
    return omega + 2 * np.arctan(alpha * np.sin(omega) / (1 - alpha * np.cos(omega)))


def _frame_grid(sample_rate: int) -> tuple[int, int, int]:
    """(window, hop, FFT size) in samples."""
    win = round(WIN_S * sample_rate)
    return win, round(HOP_S * sample_rate), 1 << (win - 1).bit_length()


def _power(x: np.ndarray, sample_rate: int) -> np.ndarray:
    win, hop, n_fft = _frame_grid(sample_rate)
    return np.maximum(power_spectrogram(x, sample_rate, win / sample_rate, hop / sample_rate,
                                        n_fft), POWER_FLOOR)


@lru_cache(maxsize=16)
def _freqt_matrix(n_fft: int, order: int, alpha: float) -> np.ndarray:
    """(n_fft // 2 + 1, order + 1) map from linear-axis cosine coefficients to mel-cepstra."""
    k = n_fft            # quadrature points: enough to match freqt to rounding (tests)
    warped = np.linspace(0, np.pi, k + 1)
    linear = _warp(warped, -alpha)                    # the inverse warping is alpha -> -alpha
    basis = np.cos(np.outer(np.arange(n_fft // 2 + 1), linear))
    weights = np.full(k + 1, 2 / k)                   # trapezoid rule for (2/pi) * integral
    weights[[0, -1]] /= 2
    projection = np.cos(np.outer(warped, np.arange(order + 1))) * weights[:, None]
    projection[:, 0] /= 2                             # c_0 is the mean, not twice it
    return basis @ projection


def mel_cepstrum(x: np.ndarray, sample_rate: int, order: int = 24,
                 alpha: float | None = None) -> np.ndarray:
    """(frames, order + 1) mel-cepstra c_0..c_order, one per 25 ms / 5 ms frame; `alpha`
    defaults to `all_pass_alpha(sample_rate)`. See the module docstring for the estimator."""
    alpha = all_pass_alpha(sample_rate) if alpha is None else alpha
    n_fft = _frame_grid(sample_rate)[2]
    cepstrum = irfft(0.5 * np.log(_power(np.asarray(x, np.float64), sample_rate)), n_fft,
                     axis=1)[:, :n_fft // 2 + 1]
    # ln|X(w)| = sum_n a_n cos(n w): the symmetric cepstrum's inner terms appear twice
    cepstrum[:, 1:n_fft // 2] *= 2
    return cepstrum @ _freqt_matrix(n_fft, order, float(alpha))


def mel_cepstral_distance(reference: np.ndarray, degraded: np.ndarray) -> np.ndarray:
    """Per-frame distortion in dB between paired mel-cepstra (..., 1 + D), c_0 (energy)
    excluded: (10 / ln 10) * sqrt(2 * sum_{d=1..D} (c_d - c'_d)^2)."""
    diff = np.asarray(reference, float)[..., 1:] - np.asarray(degraded, float)[..., 1:]
    return DB * np.sqrt(2 * (diff ** 2).sum(axis=-1))


def dtw_path(cost: np.ndarray) -> np.ndarray:
    """(steps, 2) index pairs (i, j) of the minimum-total-cost monotonic path through a
    (N, M) cost matrix from (0, 0) to (N-1, M-1), with steps (1, 0), (0, 1), (1, 1)."""
    total = np.array(cost, dtype=np.float64)
    total[0] = np.cumsum(total[0])
    for i in range(1, len(total)):
        # D[i, j] = C[i, j] + min(D[i, j-1], best_j), best_j = min(D[i-1, j], D[i-1, j-1]),
        # solved for the whole row at once: with S the row's cumulative cost,
        # D[i, j] = S_j + min_{k <= j} (best_k - S_{k-1})
        best = total[i - 1].copy()
        best[1:] = np.minimum(best[1:], total[i - 1, :-1])
        running = np.cumsum(total[i])
        total[i] = running + np.minimum.accumulate(best - (running - total[i]))
    i, j = len(total) - 1, total.shape[1] - 1
    path = [(i, j)]
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            step = np.argmin([total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]])
            i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
        path.append((i, j))
    return np.array(path[::-1])


def _check(reference, degraded, sample_rate) -> tuple[np.ndarray, np.ndarray]:
    """Both signals as float64 arrays; PairError saying what is wrong with them."""
    if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise PairError(f"sample rate must be a positive integer, got {sample_rate!r}")
    signals = []
    for name, x in (("reference", reference), ("degraded", degraded)):
        x = np.asarray(x, np.float64)
        if x.ndim != 1:
            raise PairError(f"{name} signal must be mono (1-D), got shape {x.shape}")
        if x.size == 0:
            raise PairError(f"{name} signal is empty")
        if not np.all(np.isfinite(x)):
            raise PairError(f"{name} signal contains NaN or infinite samples")
        signals.append(x)
    return signals[0], signals[1]


def _paired(reference, degraded, sample_rate) -> tuple[np.ndarray, np.ndarray]:
    """Checked signals cut to one length, for frame-by-frame pairing."""
    reference, degraded = _check(reference, degraded, sample_rate)
    try:
        return trim_pair(reference, degraded, sample_rate)
    except PairError as err:
        raise PairError(f"{err}; use dtw=True to align signals of different lengths") from None


def _mcd_and_path(reference, degraded, sample_rate, dtw) -> tuple[float, np.ndarray | None]:
    if not dtw:
        reference, degraded = _paired(reference, degraded, sample_rate)
        return float(mel_cepstral_distance(mel_cepstrum(reference, sample_rate),
                                           mel_cepstrum(degraded, sample_rate)).mean()), None
    reference, degraded = _check(reference, degraded, sample_rate)
    ref, deg = mel_cepstrum(reference, sample_rate), mel_cepstrum(degraded, sample_rate)
    cost = DB * np.sqrt(2) * cdist(ref[:, 1:], deg[:, 1:])
    path = dtw_path(cost)
    return float(cost[path[:, 0], path[:, 1]].mean()), path


def mcd(reference: np.ndarray, degraded: np.ndarray, sample_rate: int, dtw: bool = False) -> float:
    """Mel-cepstral distortion in dB (order 24, c_0 excluded), averaged over all frames paired
    one to one, or along the DTW path on the mel-cepstra with `dtw=True`."""
    return _mcd_and_path(reference, degraded, sample_rate, dtw)[0]


def _pairs_of_frames(n_ref: int, n_deg: int, dtw_path) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices to compare: one to one, or those of a DTW path (checked)."""
    if dtw_path is None:
        n = min(n_ref, n_deg)
        return np.arange(n), np.arange(n)
    path = np.asarray(dtw_path)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) == 0:
        raise ValueError(f"dtw_path must be a (steps, 2) array of frame indices, got shape "
                         f"{path.shape}")
    if path[:, 0].max() >= n_ref or path[:, 1].max() >= n_deg or path.min() < 0:
        raise ValueError(f"dtw_path indices exceed the signals' frames ({n_ref} reference, "
                         f"{n_deg} degraded): was it computed on these signals?")
    return path[:, 0], path[:, 1]


def _rms(errors: np.ndarray) -> float:
    return float(np.sqrt(np.mean(errors ** 2))) if errors.size else float("nan")


def f0_metrics(reference: np.ndarray, degraded: np.ndarray, sample_rate: int,
               dtw_path: np.ndarray | None = None) -> dict[str, float]:
    """{"f0_rmse": Hz, "f0_rmse_cents", "vuv_error"}: F0 RMSE over the frames voiced in both
    signals (NaN if there are none) and the fraction of frames whose voicing decisions differ,
    frames paired one to one or along `dtw_path` (from the mel-cepstral DTW, same grid)."""
    if dtw_path is None:
        reference, degraded = _paired(reference, degraded, sample_rate)
    else:
        reference, degraded = _check(reference, degraded, sample_rate)
    ref, deg = (estimate_f0(x, sample_rate, hop_s=HOP_S, win_s=WIN_S)
                for x in (reference, degraded))
    i, j = _pairs_of_frames(len(ref), len(deg), dtw_path)
    ref, deg = ref[i], deg[j]
    both = (ref > 0) & (deg > 0)
    return {"f0_rmse": _rms(ref[both] - deg[both]),
            "f0_rmse_cents": _rms(1200 * np.log2(deg[both] / ref[both])),
            "vuv_error": float(np.mean((ref > 0) != (deg > 0)))}


def lsd(reference: np.ndarray, degraded: np.ndarray, sample_rate: int,
        dtw_path: np.ndarray | None = None) -> float:
    """Log-spectral distance in dB: per frame sqrt(mean_k (10 log10 P_ref - 10 log10 P_deg)^2)
    over all FFT bins 0..Nyquist, averaged over frames paired one to one or along `dtw_path`.
    Power is floored at 1e-10 (-100 dB) so digital silence stays finite."""
    if dtw_path is None:
        reference, degraded = _paired(reference, degraded, sample_rate)
    else:
        reference, degraded = _check(reference, degraded, sample_rate)
    ref, deg = (10 * np.log10(_power(x, sample_rate)) for x in (reference, degraded))
    i, j = _pairs_of_frames(len(ref), len(deg), dtw_path)
    return float(np.sqrt(np.mean((ref[i] - deg[j]) ** 2, axis=1)).mean())


@dataclass(frozen=True)
class _Job:
    reference: str
    degraded: str
    dtw: bool


def _score_pair(job: _Job) -> dict:
    """The metrics of one pair, or its error message (the batch goes on)."""
    try:
        reference, rate = read_mono(job.reference)
        degraded, degraded_rate = read_mono(job.degraded)
        if degraded_rate != rate:
            raise PairError(f"{job.degraded}: sample rate {degraded_rate} Hz differs from the "
                            f"reference's {rate} Hz ({job.reference})")
        distortion, path = _mcd_and_path(reference, degraded, rate, job.dtw)
        return {"mcd": distortion, **f0_metrics(reference, degraded, rate, path),
                "lsd": lsd(reference, degraded, rate, path), "error": ""}
    except ValueError as err:                          # PairError included
        return {**dict.fromkeys(METRICS, float("nan")), "error": str(err)}


def evaluate_spectral(pairs: pd.DataFrame, dtw: bool = False, workers: int | None = None) -> Report:
    """MCD, F0 RMSE (Hz, cents), V/UV error and LSD of every (reference, degraded) pair of a
    pairs table (`read_pairs`), in parallel. Table "spectral": one row per pair, failures with
    NaN metrics and their `error`; metrics `<metric>_mean`, `<metric>_ci95` over the scored
    pairs, `pairs`, `failed_pairs`."""
    if len(pairs) == 0:
        raise ValueError("no pairs to evaluate")
    jobs = [_Job(str(r), str(d), dtw) for r, d in zip(pairs["reference"], pairs["degraded"])]
    scores = run_parallel(_score_pair, jobs, "spectral", workers=workers, unit="pair")
    table = pd.concat([pairs[["id", "reference", "degraded"]].reset_index(drop=True),
                       pd.DataFrame(scores, columns=[*METRICS, "error"])], axis=1)
    metrics: dict[str, float] = {}
    for name in METRICS:
        metrics[f"{name}_mean"], metrics[f"{name}_ci95"] = mean_ci(table[name])
    metrics.update(pairs=len(table), failed_pairs=int((table["error"] != "").sum()))
    return Report(metrics=metrics, tables={"spectral": table})
