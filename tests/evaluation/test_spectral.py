"""MCD, F0 RMSE, V/UV error and LSD: the formulas by hand, SPTK's freqt, zero on identical
signals, growth with distortion, DTW alignment, and errors on bad input."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.fft import irfft
from scipy.signal import butter, lfilter

from voxflow.evaluation.pairs import PairError
from voxflow.evaluation.spectral import (all_pass_alpha, dtw_path, evaluate_spectral, f0_metrics,
                                         lsd, mcd, mel_cepstral_distance, mel_cepstrum)
from voxflow.features.spectral import power_spectrogram

SR = 16000
FORMANTS = {"a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240),
            "e": (530, 1840, 2480)}
UTTERANCE = [("a", 0.3), ("s", 0.15), ("i", 0.3), ("u", 0.25), ("e", 0.3)]


def speech(segments, f0: float = 120.0, seed: int = 0) -> np.ndarray:
    """A crude utterance: harmonic vowels through three formant resonators and a high-passed
    noise fricative ("s"), each segment (sound, seconds) at a fixed level."""
    rng = np.random.default_rng(seed)
    parts = []
    for sound, seconds in segments:
        n = int(seconds * SR)
        if sound == "s":
            x, level = lfilter(*butter(4, 3000, "high", fs=SR), rng.normal(size=n)), 0.02
        else:
            phase = 2 * np.pi * f0 * np.arange(n) / SR
            x = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k
                    for k in range(1, int(SR / 2 / f0)))
            r = np.exp(-np.pi * 100 / SR)
            for f in FORMANTS[sound]:
                x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / SR), r * r], x)
            level = 0.1
        parts.append(level * x / x.std())
    return np.concatenate(parts)


def with_noise(x, snr_db, seed=1):
    return x + np.random.default_rng(seed).normal(0, x.std() * 10 ** (-snr_db / 20), len(x))


@pytest.fixture(scope="module")
def reference():
    return speech(UTTERANCE)


def test_all_pass_alpha_follows_sptk_and_the_mel_fit_between():
    assert [all_pass_alpha(r) for r in (8000, 16000, 22050, 24000, 44100, 48000)] == \
        [0.31, 0.42, 0.455, 0.466, 0.544, 0.554]
    assert 0.466 < all_pass_alpha(32000) < 0.544
    assert 0.31 < all_pass_alpha(11025) < 0.42


def sptk_freqt(c, order, alpha):
    """SPTK's freqt recursion: the mel-cepstrum of a causal cepstrum c."""
    g = np.zeros(order + 1)
    for coefficient in c[::-1]:
        d = g.copy()
        g[0] = coefficient + alpha * d[0]
        g[1] = (1 - alpha ** 2) * d[0] + alpha * d[1]
        for j in range(2, order + 1):
            g[j] = d[j - 1] + alpha * (d[j] - g[j - 1])
    return g


@pytest.mark.parametrize("rate", [16000, 22050])
def test_mel_cepstrum_is_sptk_freqt_of_the_fft_cepstrum(rate):
    x = np.random.default_rng(2).normal(size=rate // 5) * np.hanning(rate // 5)
    cepstra = mel_cepstrum(x, rate)
    n_fft = 512 if rate == 16000 else 1024
    power = power_spectrogram(x, rate, round(0.025 * rate) / rate, round(0.005 * rate) / rate,
                              n_fft)
    assert cepstra.shape == (len(power), 25)
    for frame in (3, len(power) // 2):
        c = irfft(0.5 * np.log(np.maximum(power[frame], 1e-10)), n_fft)[:n_fft // 2 + 1]
        c[1:n_fft // 2] *= 2                 # causal form: ln|X| = sum_n c_n cos(n w)
        np.testing.assert_allclose(cepstra[frame], sptk_freqt(c, 24, all_pass_alpha(rate)),
                                   atol=1e-9)


def test_mel_cepstral_distance_by_hand():
    reference = np.array([[0.0, 1.0, 2.0], [3.0, 0.5, -1.0]])
    degraded = np.array([[5.0, 1.0, 0.0], [-7.0, 0.5, -1.0]])   # c0 differs: not counted
    # frame 0: (10 / ln 10) * sqrt(2 * (0^2 + 2^2)) = 4.3429448 * 2.8284271 = 12.28370; frame 1: 0
    np.testing.assert_allclose(mel_cepstral_distance(reference, degraded), [12.28370, 0.0],
                               atol=1e-4)
    assert 10 / math.log(10) * math.sqrt(8) == pytest.approx(12.28370, abs=1e-5)


def brute_force_dtw_cost(cost):
    total = np.full((cost.shape[0] + 1, cost.shape[1] + 1), np.inf)
    total[0, 0] = 0
    for i in range(cost.shape[0]):
        for j in range(cost.shape[1]):
            total[i + 1, j + 1] = cost[i, j] + min(total[i, j], total[i, j + 1], total[i + 1, j])
    return total[-1, -1]


def test_dtw_path_by_hand_and_against_brute_force():
    cost = np.array([[0.0, 0.0, 5.0], [5.0, 5.0, 0.0]])
    assert dtw_path(cost).tolist() == [[0, 0], [0, 1], [1, 2]]
    assert dtw_path(np.ones((1, 1))).tolist() == [[0, 0]]
    rng = np.random.default_rng(3)
    for shape in [(6, 9), (9, 4), (1, 5), (7, 7)]:
        cost = rng.uniform(0, 1, shape)
        path = dtw_path(cost)
        assert path[0].tolist() == [0, 0] and path[-1].tolist() == [shape[0] - 1, shape[1] - 1]
        steps = np.diff(path, axis=0)
        assert set(map(tuple, steps)) <= {(0, 1), (1, 0), (1, 1)}
        assert cost[path[:, 0], path[:, 1]].sum() == pytest.approx(brute_force_dtw_cost(cost))


def test_identical_signals_score_zero(reference):
    assert mcd(reference, reference, SR) == 0.0
    assert mcd(reference, reference, SR, dtw=True) == 0.0
    assert lsd(reference, reference, SR) == 0.0
    assert f0_metrics(reference, reference.copy(), SR) == {"f0_rmse": 0.0, "f0_rmse_cents": 0.0,
                                                           "vuv_error": 0.0}


def test_distortion_grows_with_noise_and_with_lost_bandwidth(reference):
    noisy = [with_noise(reference, snr) for snr in (40, 20, 10)]
    assert 0 < mcd(reference, noisy[0], SR) < mcd(reference, noisy[1], SR) \
        < mcd(reference, noisy[2], SR)
    assert 0 < lsd(reference, noisy[0], SR) < lsd(reference, noisy[1], SR) \
        < lsd(reference, noisy[2], SR)
    lowpassed = [lfilter(*butter(8, cutoff, fs=SR), reference) for cutoff in (6000, 4000, 2000)]
    assert 0 < mcd(reference, lowpassed[0], SR) < mcd(reference, lowpassed[1], SR) \
        < mcd(reference, lowpassed[2], SR)
    assert 0 < lsd(reference, lowpassed[0], SR) < lsd(reference, lowpassed[1], SR) \
        < lsd(reference, lowpassed[2], SR)


def test_dtw_aligns_a_retimed_copy(reference):
    # same sounds and total length, other segment durations: frames 1:1 compare other sounds
    retimed = speech([("a", 0.2), ("s", 0.2), ("i", 0.4), ("u", 0.15), ("e", 0.35)])
    assert len(retimed) == len(reference)
    unaligned, aligned = mcd(reference, retimed, SR), mcd(reference, retimed, SR, dtw=True)
    assert aligned < 0.4 * unaligned
    # 20 % slower throughout: only comparable with dtw
    slower = speech([(sound, 1.2 * seconds) for sound, seconds in UTTERANCE])
    with pytest.raises(PairError, match="dtw=True"):
        mcd(reference, slower, SR)
    assert mcd(reference, slower, SR, dtw=True) < 0.4 * unaligned


def harmonic(f0, seconds=1.0):
    t = np.arange(int(seconds * SR)) / SR
    return 0.1 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))


def test_f0_rmse_of_100_against_110_hz():
    result = f0_metrics(harmonic(100), harmonic(110), SR)
    assert result["f0_rmse"] == pytest.approx(10, abs=0.2)
    assert result["f0_rmse_cents"] == pytest.approx(1200 * math.log2(1.1), abs=3)
    assert result["vuv_error"] == 0


def test_vuv_error_when_one_signal_is_silent_in_half():
    degraded = harmonic(100)
    degraded[len(degraded) // 2:] = 0
    result = f0_metrics(harmonic(100), degraded, SR)
    assert result["vuv_error"] == pytest.approx(0.5, abs=0.03)
    noise = np.random.default_rng(4).normal(size=SR) * 0.1
    unvoiced = f0_metrics(noise, noise[::-1].copy(), SR)
    assert unvoiced["vuv_error"] == 0 and math.isnan(unvoiced["f0_rmse"])


def test_bad_input_is_an_error_saying_what_is_wrong(reference):
    broken = reference.copy()
    broken[100] = np.nan
    for metric in (mcd, lsd, f0_metrics):
        with pytest.raises(PairError, match="degraded signal contains NaN"):
            metric(reference, broken, SR)
        with pytest.raises(PairError, match="differs from the reference.*dtw=True"):
            metric(reference, reference[: len(reference) // 2], SR)
    with pytest.raises(PairError, match="reference signal is empty"):
        mcd([], reference, SR)
    with pytest.raises(PairError, match="mono"):
        lsd(np.stack([reference, reference]), reference, SR)
    with pytest.raises(PairError, match="sample rate"):
        mcd(reference, reference, 0)
    with pytest.raises(ValueError, match="dtw_path indices exceed"):
        f0_metrics(reference, reference, SR, dtw_path=np.array([[0, 0], [10_000, 5]]))


def write_pair(folder, name, reference, degraded, degraded_rate=SR):
    sf.write(folder / f"{name}_ref.wav", reference, SR)
    sf.write(folder / f"{name}_deg.wav", degraded, degraded_rate)
    return {"id": name, "reference": str(folder / f"{name}_ref.wav"),
            "degraded": str(folder / f"{name}_deg.wav")}


def test_evaluate_spectral_records_failures_and_goes_on(reference, tmp_path):
    slower = speech([(sound, 1.2 * seconds) for sound, seconds in UTTERANCE])
    pairs = pd.DataFrame([
        write_pair(tmp_path, "noisy", reference, with_noise(reference, 20)),
        write_pair(tmp_path, "rate", reference, reference, degraded_rate=22050),
        write_pair(tmp_path, "slower", reference, slower),
        write_pair(tmp_path, "same", reference, reference)])
    report = evaluate_spectral(pairs, workers=2)
    table = report.tables["spectral"]
    assert list(table.columns) == ["id", "reference", "degraded", "mcd", "f0_rmse",
                                   "f0_rmse_cents", "vuv_error", "lsd", "error"]
    assert table["id"].tolist() == ["noisy", "rate", "slower", "same"]
    errors = dict(zip(table["id"], table["error"]))
    assert errors["noisy"] == errors["same"] == ""
    assert "sample rate 22050 Hz differs from the reference's 16000 Hz" in errors["rate"]
    assert "dtw=True" in errors["slower"]
    assert table.loc[table["id"] == "same", "mcd"].item() == 0.0
    assert table.loc[table["id"] == "rate", ["mcd", "lsd"]].isna().all(axis=None)
    noisy_mcd = table.loc[table["id"] == "noisy", "mcd"].item()
    # written as 16-bit PCM, so only close to the in-memory value
    assert noisy_mcd == pytest.approx(mcd(reference, with_noise(reference, 20), SR), rel=0.05)
    assert report.metrics["pairs"] == 4 and report.metrics["failed_pairs"] == 2
    assert report.metrics["mcd_mean"] == pytest.approx(noisy_mcd / 2)
    assert report.metrics["mcd_ci95"] > 0
    assert set(report.metrics) == {f"{m}_{s}" for m in ("mcd", "f0_rmse", "f0_rmse_cents",
                                                        "vuv_error", "lsd")
                                   for s in ("mean", "ci95")} | {"pairs", "failed_pairs"}

    aligned = evaluate_spectral(pairs, dtw=True, workers=1).tables["spectral"]
    assert aligned["error"].tolist() == ["", errors["rate"], "", ""]
    assert aligned.loc[2, "mcd"] < 3 and aligned.loc[2, "vuv_error"] < 0.05
    written = report.write(tmp_path / "out")
    assert (tmp_path / "out" / "spectral.csv") in written


def test_evaluate_spectral_of_no_pairs_is_an_error():
    with pytest.raises(ValueError, match="no pairs"):
        evaluate_spectral(pd.DataFrame(columns=["id", "reference", "degraded"]))
