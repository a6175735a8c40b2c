"""The VoicePrivacy 2024 evaluation of one anonymization system, with 95 % intervals.

Privacy (EER, %, per libri-{dev,test}-{f,m} subset and their mean), two attackers:
- ignorant: the ASV trained on original speech, original enrollment, anonymized trials
  (the VPC 2020-2022 "ignorant" scenario);
- semi-informed (the VPC 2024 headline): an ASV trained from scratch on the anonymized training
  speakers, enrollment and trials anonymized by the same system.
Intervals by bootstrap over enrolled speakers (`voxflow.anonymization.asv.subset_eers`).

Utility: UAR (%) of the emotion recognizer's fold models (trained on original IEMOCAP) on the
anonymized IEMOCAP-dev and -test sessions, the VPC's mean over folds; WER and CER (%) of the
speech recognizer (trained on original LibriTTS) on the anonymized dev-clean and test-clean.
Intervals by bootstrap over utterances (within sessions for the UAR). `avg` is the mean of the
two sets, as in table 1.

Every metric is `<metric>/<set>` with `_low` and `_high` (what `report.results_table` reads).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd

from voxflow.anonymization import asv
from voxflow.anonymization.asr import transcribe
from voxflow.anonymization.emotion import predict_folds
from voxflow.evaluation.transcripts import evaluate_transcripts

ATTACKERS = ("ignorant", "semi-informed")


def _interval(samples: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))


def _with_interval(metrics: dict, key: str, value: float, samples: np.ndarray) -> None:
    low, high = _interval(samples)
    metrics |= {key: value, f"{key}_low": low, f"{key}_high": high}


def privacy(attacker: str, model: asv.ECAPA, enrollment: pd.DataFrame, trials: pd.DataFrame,
            waves: dict[str, np.ndarray], resamples: int, seed: int
            ) -> tuple[dict[str, float], pd.DataFrame]:
    """EERs of `attacker` (its ASV `model`; `waves` holds every enrollment and trial utterance
    as that attacker hears it): the metrics `eer-<attacker>/<subset>` and the scored trials."""
    scored = asv.score_trials(model, enrollment, trials, waves)
    metrics = {}
    for row in asv.subset_eers(scored, resamples, seed).itertuples(index=False):
        key = f"eer-{attacker}/{row.subset}"
        metrics |= {key: row.eer, f"{key}_low": row.ci_low, f"{key}_high": row.ci_high}
    return metrics, scored.assign(attacker=attacker)


def _uar(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Unweighted average recall (%) over the classes present in `labels`."""
    classes = np.unique(labels)
    return 100.0 * float(np.mean([np.mean(predicted[labels == c] == c) for c in classes]))


def _fold_mean_uar(labels, predicted, sessions) -> float:
    return float(np.mean([_uar(labels[sessions == s], predicted[sessions == s])
                          for s in np.unique(sessions)]))


def emotion_utility(models: dict, table: pd.DataFrame, waves: Sequence[np.ndarray],
                    dev_sessions: Sequence[str], resamples: int, seed: int
                    ) -> tuple[dict[str, float], pd.DataFrame]:
    """UAR (%) on dev (`dev_sessions`), test (the other sessions) and their mean; `table` holds
    split (the session) and emotion (4-class) of each of `waves`. Returns the metrics and the
    predictions."""
    sessions = table["split"].to_numpy(dtype=object)
    labels = table["emotion"].to_numpy(dtype=object)
    predicted = predict_folds(models, waves, sessions)
    sets = {"dev": np.isin(sessions, list(dev_sessions))}
    sets["test"] = ~sets["dev"]
    empty = [name for name, mask in sets.items() if not mask.any()]
    if empty:
        raise ValueError(f"no IEMOCAP utterance in the {' and '.join(empty)} set (dev sessions "
                         f"{list(dev_sessions)}, sessions present {sorted(set(sessions))})")
    rng = np.random.default_rng(seed)
    samples = {name: np.empty(resamples) for name in sets}
    for name, mask in sets.items():
        groups = [np.flatnonzero(mask & (sessions == s)) for s in np.unique(sessions[mask])]
        for r in range(resamples):
            picked = np.concatenate([rng.choice(g, len(g)) for g in groups])
            samples[name][r] = _fold_mean_uar(labels[picked], predicted[picked],
                                              sessions[picked])
    metrics = {}
    for name, mask in sets.items():
        _with_interval(metrics, f"uar/{name}",
                       _fold_mean_uar(labels[mask], predicted[mask], sessions[mask]),
                       samples[name])
    _with_interval(metrics, "uar/avg", (metrics["uar/dev"] + metrics["uar/test"]) / 2,
                   (samples["dev"] + samples["test"]) / 2)
    return metrics, table.assign(predicted=predicted)


def _error_rate(rows: pd.DataFrame, errors: str, units: str) -> float:
    return 100.0 * rows[errors].sum() / rows[units].sum()


def content_utility(model, table: pd.DataFrame, waves: Sequence[np.ndarray], resamples: int,
                    seed: int) -> tuple[dict[str, float], pd.DataFrame]:
    """WER and CER (%) on dev (dev-clean) and test (test-clean) and their mean; `table` holds
    utt_id, split (dev or test) and text of each of `waves`. Returns the metrics and the
    per-utterance transcripts table. CER beside the VPC's WER: the synthetic corpus's words
    are long invented ones, and a word with one wrong letter is as wrong as a missing one."""
    ids = table["utt_id"].tolist()
    report = evaluate_transcripts(dict(zip(ids, table["text"])),
                                  dict(zip(ids, transcribe(model, waves))))
    scored = report.tables["transcripts"].assign(split=table["split"].to_numpy())
    scored["errors"] = scored[["substitutions", "deletions", "insertions"]].sum(axis=1)
    # jiwer's corpus CER is character edits over reference characters, as its WER over words
    scored["ref_chars"] = scored["reference"].fillna("").str.len()
    scored["char_errors"] = (scored["cer"] * scored["ref_chars"]).round()
    rng = np.random.default_rng(seed)
    metrics = {}
    for metric, errors, units in (("wer", "errors", "ref_words"),
                                  ("cer", "char_errors", "ref_chars")):
        rate = partial(_error_rate, errors=errors, units=units)
        samples = {}
        for name in ("dev", "test"):
            rows = scored[scored["split"] == name].reset_index(drop=True)
            if rows.empty:
                raise ValueError(f"no {name} utterance to transcribe")
            samples[name] = np.array([rate(rows.iloc[rng.choice(len(rows), len(rows))])
                                      for _ in range(resamples)])
            _with_interval(metrics, f"{metric}/{name}", rate(rows), samples[name])
        _with_interval(metrics, f"{metric}/avg",
                       (metrics[f"{metric}/dev"] + metrics[f"{metric}/test"]) / 2,
                       (samples["dev"] + samples["test"]) / 2)
    return metrics, scored
