"""Spoofing countermeasure evaluation as in ASVspoof 2019 LA: pooled and per-attack EER,
min t-DCF (revised and legacy) against the release's ASV scores, and a DET figure.

Score files:
- CM scores, ASVspoof 2019 format: `<utterance> <attack or -> <bonafide|spoof> <score>` per line;
  or `<utterance> <score>` lines together with the CM protocol
  (`<speaker> <utterance> - <attack or -> <bonafide|spoof>`), joined on the utterance id.
- ASV scores: one trial per line, the key (target, nontarget, spoof) and the score being the last
  two fields (`ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from voxflow.evaluation.eer import compute_eer, det_curve, det_figure, eer_from_curve
from voxflow.evaluation.report import Report
from voxflow.evaluation.tdcf import (ASVSPOOF2019, FORMULATIONS, CostModel, asv_error_rates,
                                    min_tdcf_of_curve)

CM_KEYS = ("bonafide", "spoof")
ASV_KEYS = ("target", "nontarget", "spoof")


def _fields(path: Path) -> list[tuple[int, list[str]]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: score file not found")
    return [(number, line.split()) for number, line in
            enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]


def _score(path: Path, number: int, text: str) -> float:
    try:
        score = float(text)
    except ValueError:
        raise ValueError(f"{path}:{number}: score {text!r} is not a number") from None
    if not np.isfinite(score):
        raise ValueError(f"{path}:{number}: score is {text}")
    return score


def read_cm_scores(path: Path, protocol: Path | None = None) -> pd.DataFrame:
    """CM scores as a table (utterance, attack, key, score); see the module docstring."""
    path = Path(path)
    rows = []
    if protocol is None:
        for number, fields in _fields(path):
            if len(fields) != 4 or fields[2] not in CM_KEYS:
                raise ValueError(f"{path}:{number}: expected `<utterance> <attack> "
                                 "<bonafide|spoof> <score>` (or pass the CM protocol for "
                                 "`<utterance> <score>` files)")
            rows.append((fields[0], fields[1], fields[2], _score(path, number, fields[3])))
    else:
        keys = {}
        for number, fields in _fields(protocol):
            if len(fields) != 5 or fields[4] not in CM_KEYS:
                raise ValueError(f"{protocol}:{number}: expected `<speaker> <utterance> - "
                                 "<attack> <bonafide|spoof>`")
            keys[fields[1]] = (fields[3], fields[4])
        for number, fields in _fields(path):
            if len(fields) != 2:
                raise ValueError(f"{path}:{number}: expected `<utterance> <score>`")
            if fields[0] not in keys:
                raise ValueError(f"{path}:{number}: utterance {fields[0]} is not in {protocol}")
            rows.append((fields[0], *keys[fields[0]], _score(path, number, fields[1])))
    table = pd.DataFrame(rows, columns=["utterance", "attack", "key", "score"])
    duplicated = table["utterance"].duplicated()
    if duplicated.any():
        raise ValueError(f"{path}: utterance {table['utterance'][duplicated].iloc[0]} is scored "
                         "more than once")
    return table


def read_asv_scores(path: Path) -> pd.DataFrame:
    """ASV trials as a table (key, score)."""
    rows = []
    for number, fields in _fields(path):
        if len(fields) < 2 or fields[-2] not in ASV_KEYS:
            raise ValueError(f"{path}:{number}: expected the key (target, nontarget or spoof) "
                             "and the score as the last two fields")
        rows.append((fields[-2], _score(Path(path), number, fields[-1])))
    return pd.DataFrame(rows, columns=["key", "score"])


def evaluate_countermeasure(cm: pd.DataFrame, asv: pd.DataFrame | None = None,
                            cost: CostModel = ASVSPOOF2019) -> Report:
    """EER (pooled and per attack) and DET of CM scores; with ASV scores also the min t-DCF in
    both formulations. `cm` has columns attack, key, score; `asv` key, score."""
    bonafide = cm.loc[cm["key"] == "bonafide", "score"].to_numpy()
    spoof = cm.loc[cm["key"] == "spoof", "score"].to_numpy()
    curve = det_curve(bonafide, spoof)      # one DET curve serves the EER and both t-DCFs
    eer, threshold = eer_from_curve(*curve)
    metrics = {"eer": eer, "eer_threshold": threshold,
               "bonafide_trials": int(bonafide.size), "spoof_trials": int(spoof.size)}
    curves = {f"pooled (EER {100 * eer:.2f}%)": curve[:2]}
    rows = []
    for attack, scores in cm[cm["key"] == "spoof"].groupby("attack", sort=True)["score"]:
        attack_curve = det_curve(bonafide, scores.to_numpy())
        attack_eer = eer_from_curve(*attack_curve)[0]
        rows.append({"attack": attack, "spoof_trials": len(scores), "eer": attack_eer})
        curves[f"{attack} ({100 * attack_eer:.2f}%)"] = attack_curve[:2]
        metrics[f"eer_{attack}"] = attack_eer
    if asv is not None:
        by_key = {key: asv.loc[asv["key"] == key, "score"].to_numpy() for key in ASV_KEYS}
        rates = asv_error_rates(by_key["target"], by_key["nontarget"], by_key["spoof"])
        metrics.update(asv_eer=compute_eer(by_key["target"], by_key["nontarget"])[0],
                       asv_threshold=rates.threshold, asv_p_fa=rates.p_fa,
                       asv_p_miss=rates.p_miss, asv_p_miss_spoof=rates.p_miss_spoof)
        for formulation in FORMULATIONS:
            result = min_tdcf_of_curve(*curve, rates, cost, formulation)
            suffix = "" if formulation == "revised" else f"_{formulation}"
            metrics[f"min_tdcf{suffix}"] = result.min_tdcf
            metrics[f"min_tdcf{suffix}_threshold"] = result.cm_threshold
    return Report(metrics=metrics,
                  tables={"per_attack": pd.DataFrame(rows, columns=["attack", "spoof_trials",
                                                                    "eer"])},
                  figures={"det": det_figure(curves, "Countermeasure DET")})
