"""PESQ and STOI/ESTOI of (reference, degraded) pairs: one pair, or a pairs table in parallel.

- PESQ comes from the `pesq` package (the ITU-T reference C code): wide-band `"wb"` is P.862.2
  and runs at 16 kHz, narrow-band `"nb"` is P.862 with the P.862.1 MOS-LQO mapping and runs at
  8 kHz. Inputs at other rates go through the documented resampler,
  `scipy.signal.resample_poly` (polyphase filtering with an FIR low-pass designed with a Kaiser
  window, beta 5.0) by the reduced fraction target/input (22.05 kHz -> 16 kHz: 320/441). A
  mode is refused below its own rate (wide-band below 16 kHz, narrow-band below 8 kHz):
  upsampling does not put back the band that the recording never had.
- STOI (Taal et al. 2011) and extended STOI (Jensen and Taal 2016) come from `pystoi`, which
  resamples to 10 kHz itself and drops the frames 40 dB below the loudest before scoring.

A score is returned only when it means something. The libraries' failures become a `PairError`
that says what is wrong: PESQ's "buffer too short" and "no utterances", and pystoi's 1e-5,
which it returns, with a warning, when too few frames survive the silence removal.

Scores are rounded to 6 decimals (`SCORE_DECIMALS`): pystoi's result on the same input varies
in the last bit from one call to the next (numpy's vectorized sums depend on memory alignment),
and PESQ is computed in float32 anyway. Rounded, the same pair gives the same number every
time, so a rerun writes the same table.
"""
from __future__ import annotations

import logging
import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pesq import BufferTooShortError, NoUtterancesError, PesqError, pesq
from pystoi import stoi
from scipy.signal import resample_poly

from voxflow.evaluation.pairs import PairError, load_pair, trim_pair
from voxflow.evaluation.report import Report
from voxflow.evaluation.stats import mean_ci
from voxflow.parallel import run_parallel

log = logging.getLogger(__name__)

METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi")
PESQ_RATES = {"wb": 16000, "nb": 8000}
PESQ_MIN_SECONDS = 0.25        # the reference code stops on shorter buffers
SCORE_DECIMALS = 6
_PESQ_BANDS = {"wb": "wide-band", "nb": "narrow-band"}
_STOI_SHORT_WARNING = "Not enough STFT frames"   # start of pystoi's warning before its 1e-5


def pesq_score(reference, degraded, sample_rate: int, mode: str) -> float:
    """PESQ MOS-LQO of `degraded` against `reference`, both mono at `sample_rate` Hz.

    `mode` is "wb" (P.862.2, from about 1 to 4.64) or "nb" (P.862.1, from about 1 to 4.55).
    ValueError for a mode that does not apply at `sample_rate`; PairError for a pair that cannot
    be scored."""
    if mode not in PESQ_RATES:
        raise ValueError(f"unknown PESQ mode {mode!r}: expected 'wb' or 'nb'")
    reference, degraded = _checked_pair(reference, degraded, sample_rate)
    problem = _pesq_rate_problem(mode, sample_rate)
    if problem:
        raise ValueError(problem)
    rate = PESQ_RATES[mode]
    try:
        score = pesq(rate, _resample(reference, sample_rate, rate),
                     _resample(degraded, sample_rate, rate), mode)
    except BufferTooShortError:
        raise PairError(f"too short: {len(reference) / sample_rate:.3f} s, PESQ needs at least "
                        f"{PESQ_MIN_SECONDS} s") from None
    except NoUtterancesError:
        raise PairError("no utterance detected in the reference (PESQ's voice activity "
                        "detector found no speech in it)") from None
    except PesqError as err:   # out of memory: nothing the pair can fix, but still no score
        raise PairError(f"PESQ failed: {type(err).__name__}") from err
    return round(float(score), SCORE_DECIMALS)


def stoi_score(reference, degraded, sample_rate: int, extended: bool = False) -> float:
    """STOI (or extended STOI) of `degraded` against `reference`, both mono at `sample_rate` Hz.

    PairError for a pair that cannot be scored, including one too short or too silent for
    pystoi's 30-frame segments (where pystoi itself would return 1e-5)."""
    reference, degraded = _checked_pair(reference, degraded, sample_rate)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=_STOI_SHORT_WARNING, category=RuntimeWarning)
        try:
            score = stoi(reference, degraded, sample_rate, extended=extended)
        except RuntimeWarning as warning:
            if _STOI_SHORT_WARNING not in str(warning):
                raise   # another warning that the caller's filters turned into an error
            raise PairError(
                f"too short or silent for {'ESTOI' if extended else 'STOI'}: fewer than 30 "
                "frames (about 0.4 s) are left once the frames more than 40 dB below the "
                f"loudest are dropped, out of {len(reference) / sample_rate:.3f} s") from None
    return round(float(score), SCORE_DECIMALS)


def evaluate_pairs(pairs: pd.DataFrame, metrics=METRICS, workers: int | None = None,
                   max_length_difference: float = 0.01) -> Report:
    """Every metric of every pair of `pairs` (columns id, reference, degraded, as from
    `read_pairs`), in parallel processes, each pair loaded with `load_pair`.

    A pair that cannot be scored keeps its row, with NaN metrics and the reason in `error`; a
    metric that does not apply at a pair's rate is NaN and noted in `error` too, the pair's
    other metrics being kept. Report: table "pesq_stoi" (one row per pair) and, per metric,
    `<m>_mean`, `<m>_ci95` and `<m>_n` over the pairs where it is defined, plus `pairs` and
    `failed_pairs` (pairs without any score)."""
    metrics = _valid_metrics(metrics)
    missing = {"id", "reference", "degraded"} - set(pairs.columns)
    if missing:
        raise ValueError(f"pairs table lacks column(s) {', '.join(sorted(missing))}")
    jobs = [_PairJob(id_, reference, degraded, metrics, max_length_difference)
            for id_, reference, degraded in zip(pairs["id"], pairs["reference"], pairs["degraded"])]
    rows = run_parallel(_evaluate_pair, jobs, desc="PESQ/STOI", workers=workers, unit="pair")
    table = pd.DataFrame(rows, columns=["id", "reference", "degraded", "sample_rate", "duration",
                                        *metrics, "error"])
    table["sample_rate"] = table["sample_rate"].astype("Int64")  # unknown where loading failed
    summary = _summary(table, metrics)
    if summary["failed_pairs"]:
        log.warning("%d of %d pairs have no score; see the error column of pesq_stoi",
                    summary["failed_pairs"], summary["pairs"])
    return Report(metrics=summary, tables={"pesq_stoi": table})


@dataclass(frozen=True)
class _PairJob:
    """One pair and the settings, for a worker process."""
    id: object
    reference: str
    degraded: str
    metrics: tuple[str, ...]
    max_length_difference: float


def _evaluate_pair(job: _PairJob) -> dict:
    """The table row of one pair; a PairError becomes its `error` and leaves every metric NaN,
    so that the means of all metrics are taken over the same pairs."""
    row = {"id": job.id, "reference": job.reference, "degraded": job.degraded,
           "sample_rate": None, "duration": math.nan, **dict.fromkeys(job.metrics, math.nan),
           "error": ""}
    try:
        reference, degraded, rate = load_pair(job.reference, job.degraded,
                                              job.max_length_difference)
        row.update(sample_rate=rate, duration=len(reference) / rate)
        reference, degraded = _checked_pair(reference, degraded, rate)
        scores, notes = {}, []
        for metric in job.metrics:
            problem = _metric_rate_problem(metric, rate)
            if problem:
                notes.append(f"{metric} not computed: {problem}")
                continue
            try:
                scores[metric] = _score(metric, reference, degraded, rate)
            except PairError as err:
                raise PairError(f"{metric}: {err}") from err
    except PairError as err:
        row["error"] = str(err)
        return row
    row.update(scores, error="; ".join(notes))
    return row


def _score(metric: str, reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    if metric.startswith("pesq_"):
        return pesq_score(reference, degraded, rate, metric.removeprefix("pesq_"))
    return stoi_score(reference, degraded, rate, extended=metric == "estoi")


def _summary(table: pd.DataFrame, metrics: tuple[str, ...]) -> dict[str, float]:
    summary = {"pairs": len(table),
               "failed_pairs": int(table[list(metrics)].isna().all(axis=1).sum())}
    for metric in metrics:
        mean, ci95 = mean_ci(table[metric])
        summary.update({f"{metric}_mean": mean, f"{metric}_ci95": ci95,
                        f"{metric}_n": int(table[metric].notna().sum())})
    return summary


def _valid_metrics(metrics) -> tuple[str, ...]:
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ValueError(f"unknown metric(s) {', '.join(map(repr, unknown)) or '(none given)'}: "
                         f"expected some of {', '.join(METRICS)}")
    return metrics


def _metric_rate_problem(metric: str, sample_rate: int) -> str | None:
    if metric.startswith("pesq_"):
        return _pesq_rate_problem(metric.removeprefix("pesq_"), sample_rate)
    return None


def _pesq_rate_problem(mode: str, sample_rate: int) -> str | None:
    """Why PESQ `mode` cannot score audio at `sample_rate`, or None if it can."""
    if sample_rate < PESQ_RATES[mode]:
        return (f"{_PESQ_BANDS[mode]} PESQ needs audio sampled at {PESQ_RATES[mode]} Hz or "
                f"more, got {sample_rate} Hz (upsampling would not add the missing band)")
    return None


def _checked_pair(reference, degraded, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Both signals as float64 of one length (cut as by `trim_pair`), or an error saying why
    they cannot be scored."""
    if not (isinstance(sample_rate, numbers.Integral) and sample_rate > 0):
        raise ValueError(f"sample rate must be a positive integer, got {sample_rate!r}")
    reference, degraded = (np.asarray(s, dtype=np.float64) for s in (reference, degraded))
    if reference.ndim != 1 or degraded.ndim != 1:
        raise ValueError(f"expected mono (1-D) signals, got shapes {reference.shape} and "
                         f"{degraded.shape}")
    for name, signal in (("reference", reference), ("degraded", degraded)):
        if not np.all(np.isfinite(signal)):
            raise PairError(f"the {name} signal contains NaN or infinite samples")
    reference, degraded = trim_pair(reference, degraded, sample_rate)
    if not np.any(reference):
        # both metrics compare against the reference's speech: without any there is no score
        raise PairError("silent reference: no sample differs from zero")
    return reference, degraded


def _resample(signal: np.ndarray, rate: int, target: int) -> np.ndarray:
    """`signal` at `target` Hz by the documented resampler (see the module docstring)."""
    if rate == target:
        return signal
    common = math.gcd(rate, target)
    return resample_poly(signal, target // common, rate // common, window=("kaiser", 5.0))
