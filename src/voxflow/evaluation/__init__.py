"""Evaluation metrics, each usable from Python, from `voxflow eval <kind>` and inside a stage.

`evaluate(kind, **inputs)` reads the input files of one evaluation kind and returns its
`Report` (metrics, tables, figures); `voxflow.stages.evaluate` runs the same inside a tracked
MLflow run. Module per metric family: quality (PESQ, STOI), countermeasure (EER, min t-DCF),
classification (UAR), transcripts (WER, CER), spectral (MCD, F0, LSD), mushra.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from voxflow.evaluation.report import Report


def _pesq_stoi(pairs: Path, metrics: tuple[str, ...] | None = None,
               workers: int | None = None) -> Report:
    from voxflow.evaluation import quality
    from voxflow.evaluation.pairs import read_pairs

    return quality.evaluate_pairs(read_pairs(pairs), metrics=metrics or quality.METRICS,
                                  workers=workers)


def _eer(scores: Path, protocol: Path | None = None) -> Report:
    from voxflow.evaluation.countermeasure import evaluate_countermeasure, read_cm_scores

    return evaluate_countermeasure(read_cm_scores(scores, protocol))


def _tdcf(scores: Path, asv_scores: Path, protocol: Path | None = None) -> Report:
    from voxflow.evaluation.countermeasure import (evaluate_countermeasure, read_asv_scores,
                                                   read_cm_scores)

    return evaluate_countermeasure(read_cm_scores(scores, protocol), read_asv_scores(asv_scores))


def _uar(predictions: Path, classes: tuple[str, ...] | None = None) -> Report:
    from voxflow.evaluation.classification import evaluate_classification, read_predictions

    table = read_predictions(predictions)
    return evaluate_classification(table["label"], table["prediction"], classes)


def _wer(references: Path, hypotheses: Path, normalize: bool = True) -> Report:
    from voxflow.evaluation.transcripts import evaluate_transcripts, read_kaldi_text

    return evaluate_transcripts(read_kaldi_text(references), read_kaldi_text(hypotheses),
                                normalize=normalize)


def _mcd(pairs: Path, dtw: bool = False, workers: int | None = None) -> Report:
    from voxflow.evaluation.pairs import read_pairs
    from voxflow.evaluation.spectral import evaluate_spectral

    return evaluate_spectral(read_pairs(pairs), dtw=dtw, workers=workers)


def _mushra_analyze(ratings: tuple[Path, ...], items: Path | None = None) -> Report:
    from voxflow.evaluation.mushra import analyze_ratings, read_ratings
    from voxflow.evaluation.report import read_table

    return analyze_ratings(read_ratings(*ratings),
                           read_table(items, ("trial_id",), "items") if items else None)


EVALUATIONS: dict[str, Callable[..., Report]] = {
    "pesq-stoi": _pesq_stoi, "eer": _eer, "tdcf": _tdcf, "uar": _uar, "wer": _wer,
    "mcd": _mcd, "mushra-analyze": _mushra_analyze}


def evaluate(kind: str, **inputs) -> Report:
    """The report of evaluation `kind` (a key of EVALUATIONS) on the given input files."""
    if kind not in EVALUATIONS:
        raise ValueError(f"unknown evaluation {kind!r}: expected one of "
                         f"{', '.join(EVALUATIONS)}")
    return EVALUATIONS[kind](**inputs)
