"""Minimum tandem detection cost function (t-DCF) of ASVspoof 2019, as the organisers' scoring
package computes it (asvspoof-challenge/2021, `eval-package`).

A countermeasure (CM) is judged in tandem with a fixed automatic speaker verification (ASV)
system whose threshold is the package's EER threshold of target against non-target scores
(`voxflow.evaluation.eer.compute_eer`), a trial accepted when its score is at or above it; the
CM's operating points are its per-trial DET points (`det_curve`). Two formulations:

- "revised" (Kinnunen et al., IEEE/ACM TASLP 2020; the ASVspoof 2021 scoring package):
  t-DCF(s) = C0 + C1 Pmiss_cm(s) + C2 Pfa_cm(s), normalized by C0 + min(C1, C2), with
  C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv, C1 = Ptar Cmiss - C0,
  C2 = Cfa_spoof Pspoof (1 - Pmiss_spoof_asv).
- "legacy" (the ASVspoof 2019 evaluation plan): t-DCF(s) = C1 Pmiss_cm(s) + C2 Pfa_cm(s),
  normalized by min(C1, C2), with C1 = Ptar (Cmiss_cm - Cmiss_asv Pmiss_asv) - Pnon Cfa_asv
  Pfa_asv and C2 = Cfa_cm Pspoof (1 - Pmiss_spoof_asv).

The minimum is taken over every CM threshold, the two trivial ones (accept all, reject all)
included, so a normalized min t-DCF never exceeds 1. Where a formulation's weights are negative
or its normalizer is 0 (the legacy one when the ASV accepts no spoof) it is undefined: NaN, the
other formulation and the EERs being unaffected.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from voxflow.evaluation.eer import check_scores, compute_eer, det_curve

log = logging.getLogger(__name__)

FORMULATIONS = ("revised", "legacy")


@dataclass(frozen=True)
class CostModel:
    p_spoof: float = 0.05
    p_tar: float = 0.95 * 0.99
    p_non: float = 0.95 * 0.01
    c_miss: float = 1.0          # revised
    c_fa: float = 10.0
    c_fa_spoof: float = 10.0
    c_miss_asv: float = 1.0      # legacy
    c_fa_asv: float = 10.0
    c_miss_cm: float = 1.0
    c_fa_cm: float = 10.0


ASVSPOOF2019 = CostModel()


@dataclass(frozen=True)
class AsvErrorRates:
    threshold: float
    p_fa: float            # non-target accepted
    p_miss: float          # target rejected
    p_miss_spoof: float    # spoof rejected


@dataclass(frozen=True)
class TDCF:
    min_tdcf: float        # normalized
    cm_threshold: float
    asv: AsvErrorRates


def asv_error_rates(target, nontarget, spoof, threshold: float | None = None) -> AsvErrorRates:
    """ASV error rates at `threshold` (default: the ASV's EER threshold of target vs
    non-target, the package's)."""
    target = check_scores("ASV target scores", target)
    nontarget = check_scores("ASV non-target scores", nontarget)
    spoof = check_scores("ASV spoof scores", spoof)
    if threshold is None:
        threshold = compute_eer(target, nontarget)[1]
    return AsvErrorRates(threshold=float(threshold),
                         p_fa=float(np.mean(nontarget >= threshold)),
                         p_miss=float(np.mean(target < threshold)),
                         p_miss_spoof=float(np.mean(spoof < threshold)))


def min_tdcf(bonafide, spoof, asv: AsvErrorRates, cost: CostModel = ASVSPOOF2019,
             formulation: str = "revised") -> TDCF:
    """Normalized minimum t-DCF of CM scores (`bonafide`, `spoof`) in tandem with `asv`."""
    return min_tdcf_of_curve(*det_curve(bonafide, spoof), asv, cost, formulation)


def min_tdcf_of_curve(miss_cm: np.ndarray, fa_cm: np.ndarray, thresholds: np.ndarray,
                      asv: AsvErrorRates, cost: CostModel = ASVSPOOF2019,
                      formulation: str = "revised") -> TDCF:
    """`min_tdcf` on a CM curve from `det_curve` (one curve serves both formulations)."""
    if formulation not in FORMULATIONS:
        raise ValueError(f"unknown t-DCF formulation {formulation!r}: expected one of "
                         f"{', '.join(FORMULATIONS)}")
    if formulation == "revised":
        c0 = cost.p_tar * cost.c_miss * asv.p_miss + cost.p_non * cost.c_fa * asv.p_fa
        c1 = cost.p_tar * cost.c_miss - c0
        c2 = cost.c_fa_spoof * cost.p_spoof * (1 - asv.p_miss_spoof)
        default = c0 + min(c1, c2)
    else:
        c0 = 0.0
        c1 = (cost.p_tar * (cost.c_miss_cm - cost.c_miss_asv * asv.p_miss)
              - cost.p_non * cost.c_fa_asv * asv.p_fa)
        c2 = cost.c_fa_cm * cost.p_spoof * (1 - asv.p_miss_spoof)
        default = min(c1, c2)
    if c1 < 0 or c2 < 0 or default <= 0:
        # the ASV system rejects every spoof or errs more than a coin would: no CM can help
        log.warning("%s t-DCF undefined for this ASV operating point (Pmiss=%.4f, Pfa=%.4f, "
                    "Pmiss_spoof=%.4f): weights C1=%.4g, C2=%.4g, normalizer %.4g",
                    formulation, asv.p_miss, asv.p_fa, asv.p_miss_spoof, c1, c2, default)
        return TDCF(float("nan"), float("nan"), asv)
    normalized = (c0 + c1 * miss_cm + c2 * fa_cm) / default
    best = int(np.argmin(normalized))
    return TDCF(float(normalized[best]), float(thresholds[best]), asv)
