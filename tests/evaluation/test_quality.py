"""PESQ and STOI/ESTOI: their known maxima, monotonic fall with noise, the resampling path,
the batch table (failures recorded, not fatal) and input errors."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.signal import resample

from voxflow.evaluation.pairs import PairError, load_pair, read_pairs
from voxflow.evaluation.quality import METRICS, evaluate_pairs, pesq_score, stoi_score
from voxflow.evaluation.stats import mean_ci
from voxflow.synth import ENGLISH, sample_speaker, synthesize

SCORERS = {"pesq_wb": lambda r, d, sr: pesq_score(r, d, sr, "wb"),
           "pesq_nb": lambda r, d, sr: pesq_score(r, d, sr, "nb"),
           "stoi": lambda r, d, sr: stoi_score(r, d, sr),
           "estoi": lambda r, d, sr: stoi_score(r, d, sr, extended=True)}


def speech(rate: int, seed: int = 1) -> np.ndarray:
    """About 3.5 s of synthetic English (6 words), float64."""
    rng = np.random.default_rng(seed)
    speaker = sample_speaker(rng, "spk", "F")
    return synthesize(ENGLISH.sample_sentence(rng, 6), speaker, ENGLISH, seed=seed,
                      sample_rate=rate).audio.astype(np.float64)


def with_noise(signal: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """`signal` plus white Gaussian noise at `snr_db` dB below its mean power."""
    noise = np.random.default_rng(seed).standard_normal(len(signal))
    gain = np.sqrt(np.mean(signal ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    return signal + gain * noise


@pytest.fixture(scope="module")
def clean():
    return speech(16000)


def test_identical_signals_get_the_maximum(clean):
    assert pesq_score(clean, clean, 16000, "wb") == pytest.approx(4.64, abs=0.01)
    assert pesq_score(clean, clean, 16000, "nb") == pytest.approx(4.55, abs=0.01)
    assert stoi_score(clean, clean, 16000) == pytest.approx(1.0, abs=1e-6)
    assert stoi_score(clean, clean, 16000, extended=True) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("metric", METRICS)
def test_scores_fall_strictly_as_noise_rises(clean, metric):
    # one noise realization at rising levels, so only the SNR changes
    scores = [SCORERS[metric](clean, clean, 16000)]
    scores += [SCORERS[metric](clean, with_noise(clean, snr), 16000) for snr in (30, 20, 10, 0)]
    assert all(a > b for a, b in itertools.pairwise(scores)), scores


@pytest.mark.parametrize("rate", [24000, 22050])
def test_other_rates_score_like_the_same_pair_at_16k(rate):
    reference = speech(rate)
    degraded = with_noise(reference, 30)
    # resampled beforehand by another method (FFT) than the module's polyphase filter
    at_16k = [resample(s, round(len(s) * 16000 / rate)) for s in (reference, degraded)]
    for metric, tolerance in (("pesq_wb", 0.1), ("pesq_nb", 0.1), ("stoi", 0.005),
                              ("estoi", 0.005)):
        native = SCORERS[metric](reference, degraded, rate)
        assert native == pytest.approx(SCORERS[metric](*at_16k, 16000), abs=tolerance), metric
        # the tolerance is tight enough to catch samples scored at the wrong rate
        assert abs(native - SCORERS[metric](reference, degraded, 16000)) > tolerance, metric


def test_wide_band_refused_below_16k(clean):
    narrow = clean[::2]
    with pytest.raises(ValueError, match="wide-band PESQ needs audio sampled at 16000 Hz"):
        pesq_score(narrow, narrow, 8000, "wb")
    assert pesq_score(narrow, narrow, 8000, "nb") == pytest.approx(4.55, abs=0.01)


def test_nan_samples_are_an_error(clean):
    broken = clean.copy()
    broken[100] = np.nan
    with pytest.raises(PairError, match="degraded signal contains NaN"):
        pesq_score(clean, broken, 16000, "wb")
    with pytest.raises(PairError, match="reference signal contains NaN"):
        stoi_score(broken, clean, 16000)


def test_too_short_silent_and_speechless_pairs_are_errors_not_scores(clean):
    short = clean[len(clean) // 2:][:3200]        # 0.2 s from the middle of the sentence
    with pytest.raises(PairError, match=r"too short: 0\.200 s, PESQ needs at least 0\.25 s"):
        pesq_score(short, short, 16000, "wb")
    with pytest.raises(PairError, match="too short or silent for STOI"):   # pystoi: 1e-5
        stoi_score(short, short, 16000)
    with pytest.raises(PairError, match="silent reference"):
        stoi_score(np.zeros(32000), with_noise(clean, 0)[:32000], 16000)
    # a 50 ms burst between seconds of silence: no speech for PESQ's voice activity detector
    burst = np.r_[np.zeros(16000), 1e-3 * np.random.default_rng(0).standard_normal(800),
                  np.zeros(16000)]
    with pytest.raises(PairError, match="no utterance detected in the reference"):
        pesq_score(burst, burst, 16000, "wb")


def test_lengths_must_match_within_10_ms(clean):
    longer = np.r_[clean, np.zeros(160)]
    assert stoi_score(clean, longer, 16000) == stoi_score(clean, clean, 16000)
    with pytest.raises(PairError, match="differs from the reference's"):
        stoi_score(clean, np.r_[clean, np.zeros(161)], 16000)


def test_unknown_metric_names_the_valid_ones():
    with pytest.raises(ValueError, match="'mos'.*pesq_wb, pesq_nb, stoi, estoi"):
        evaluate_pairs(pd.DataFrame(columns=["id", "reference", "degraded"]),
                       metrics=("stoi", "mos"))


@pytest.fixture(scope="module")
def pairs_csv(tmp_path_factory, clean):
    """Good pairs at 16 kHz and one at 8 kHz, then one pair for each failure."""
    folder = tmp_path_factory.mktemp("pairs")

    def write(name, audio, rate=16000):
        sf.write(folder / name, audio, rate)
        return name

    narrow = speech(8000, seed=2)
    rows = [("good30", write("clean.wav", clean), write("snr30.wav", with_noise(clean, 30))),
            ("good10", "clean.wav", write("snr10.wav", with_noise(clean, 10))),
            ("good0", "clean.wav", write("snr0.wav", with_noise(clean, 0, seed=1))),
            ("narrow", write("narrow.wav", narrow, 8000),
             write("narrow_snr20.wav", with_noise(narrow, 20), 8000)),
            ("short", write("short.wav", clean[len(clean) // 2:][:3200]), "short.wav"),
            ("silent", write("zeros.wav", np.zeros(len(clean))), "snr0.wav"),
            ("rate", "clean.wav", write("clean_8k.wav", clean[::2], 8000)),
            ("length", "clean.wav", write("longer.wav", np.r_[clean, np.zeros(8000)])),
            ("missing", "clean.wav", "no_such_file.wav")]
    pd.DataFrame(rows, columns=["id", "reference", "degraded"]).to_csv(folder / "pairs.csv",
                                                                        index=False)
    return folder / "pairs.csv"


FAILURES = {"short": "pesq_wb: too short: 0.200 s", "silent": "silent reference",
            "rate": "sample rate 8000 Hz differs", "length": "differs from the reference's",
            "missing": "file not found"}


def test_batch_records_failures_and_matches_the_single_pair_scores(pairs_csv):
    pairs = read_pairs(pairs_csv)
    report = evaluate_pairs(pairs, workers=1)
    table = report.tables["pesq_stoi"].set_index("id")
    assert list(report.tables["pesq_stoi"].columns) == ["id", "reference", "degraded",
                                                        "sample_rate", "duration", *METRICS,
                                                        "error"]
    assert list(table.index) == list(pairs["id"])
    for id_, reason in FAILURES.items():
        assert reason in table.loc[id_, "error"], (id_, table.loc[id_, "error"])
        assert table.loc[id_, list(METRICS)].isna().all(), id_
    for id_ in ("good30", "good10", "good0", "narrow"):
        row = table.loc[id_]
        reference, degraded, rate = load_pair(row["reference"], row["degraded"])
        assert (row["sample_rate"], row["duration"]) == (rate, len(reference) / rate)
        for metric in METRICS:
            if id_ == "narrow" and metric == "pesq_wb":
                assert math.isnan(row[metric])
                assert row["error"].startswith("pesq_wb not computed: wide-band PESQ needs")
            else:
                assert row[metric] == SCORERS[metric](reference, degraded, rate), (id_, metric)
    assert (table.loc[["good30", "good10", "good0"], "error"] == "").all()
    assert table.loc["good30", "pesq_wb"] > table.loc["good10", "pesq_wb"] > table.loc[
        "good0", "pesq_wb"]

    assert (report.metrics["pairs"], report.metrics["failed_pairs"]) == (9, 5)
    for metric in METRICS:
        scored = ["good30", "good10", "good0"] + ([] if metric == "pesq_wb" else ["narrow"])
        mean, ci95 = mean_ci(table.loc[scored, metric].to_numpy())
        assert report.metrics[f"{metric}_mean"] == pytest.approx(mean, rel=1e-12)
        assert report.metrics[f"{metric}_ci95"] == pytest.approx(ci95, rel=1e-12)
        assert report.metrics[f"{metric}_n"] == len(scored)


def test_batch_is_the_same_in_parallel_and_for_a_subset_of_metrics(pairs_csv):
    pairs = read_pairs(pairs_csv)
    serial = evaluate_pairs(pairs, workers=1)
    parallel = evaluate_pairs(pairs, workers=2)
    pd.testing.assert_frame_equal(serial.tables["pesq_stoi"], parallel.tables["pesq_stoi"],
                                  check_exact=True)
    assert serial.metrics == pytest.approx(parallel.metrics, nan_ok=True)
    only_stoi = evaluate_pairs(pairs, metrics=("stoi",), workers=1).tables["pesq_stoi"]
    assert list(only_stoi.columns[-2:]) == ["stoi", "error"]
    pd.testing.assert_series_equal(only_stoi["stoi"], serial.tables["pesq_stoi"]["stoi"],
                                   check_exact=True)


def test_report_writes_csv_and_json(pairs_csv, tmp_path):
    report = evaluate_pairs(read_pairs(pairs_csv).iloc[:2], metrics=("pesq_nb",), workers=1)
    report.write(tmp_path)
    written = pd.read_csv(tmp_path / "pesq_stoi.csv", keep_default_na=False)
    assert list(written["error"]) == ["", ""] and written["sample_rate"].tolist() == [16000] * 2
    assert (tmp_path / "metrics.json").read_text().count("pesq_nb_") == 3
