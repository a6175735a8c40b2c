"""Time of EER and min t-DCF (revised + legacy) on 10^5 and 10^6 countermeasure scores.

    python benchmarks/bench_scoring.py [--sizes 100000 1000000] [--repeats 5]

Scores are Gaussian (bona fide N(2, 1), spoof N(0, 1), 10% bona fide), with 10^4 ASV trials per
class. voxflow (ROC from scikit-learn's roc_curve at distinct scores) is timed side by side with
a baseline written the way the ASVspoof 2019 reference scripts compute their DET curve (one
argsort and cumulative sums, a point per trial). Rounds alternate the order; medians reported.
Writes benchmarks/results/scoring.json and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from voxflow.evaluation.eer import det_curve, eer_from_curve
from voxflow.evaluation.tdcf import asv_error_rates, min_tdcf_of_curve


def _voxflow(bonafide, spoof, asv) -> tuple[float, float, float]:
    # as evaluate_countermeasure does it: one CM curve for the EER and both t-DCFs
    rates = asv_error_rates(*asv)
    curve = det_curve(bonafide, spoof)
    return (eer_from_curve(*curve)[0], min_tdcf_of_curve(*curve, rates).min_tdcf,
            min_tdcf_of_curve(*curve, rates, formulation="legacy").min_tdcf)


def _sorted_cumsum_curve(positive, negative):
    scores = np.concatenate([positive, negative])
    labels = np.concatenate([np.ones(positive.size), np.zeros(negative.size)])
    order = np.argsort(scores, kind="mergesort")
    positives_below = np.cumsum(labels[order])
    negatives_above = negative.size - (np.arange(1, scores.size + 1) - positives_below)
    miss = np.concatenate([[0.0], positives_below / positive.size])
    fa = np.concatenate([[1.0], negatives_above / negative.size])
    return miss, fa


def _baseline(bonafide, spoof, asv) -> tuple[float, float, float]:
    target, nontarget, spoof_asv = asv
    miss, fa = _sorted_cumsum_curve(target, nontarget)
    thresholds = np.concatenate([[-np.inf], np.sort(np.concatenate([target, nontarget]))])
    t = thresholds[np.argmin(np.abs(miss - fa))]
    p_miss, p_fa = np.mean(target < t), np.mean(nontarget >= t)
    p_miss_spoof = np.mean(spoof_asv < t)
    miss_cm, fa_cm = _sorted_cumsum_curve(bonafide, spoof)
    i = np.argmin(np.abs(miss_cm - fa_cm))
    eer = (miss_cm[i] + fa_cm[i]) / 2
    c0 = 0.9405 * p_miss + 0.0095 * 10 * p_fa
    c1, c2 = 0.9405 - c0, 10 * 0.05 * (1 - p_miss_spoof)
    revised = np.min((c0 + c1 * miss_cm + c2 * fa_cm) / (c0 + min(c1, c2)))
    l1 = 0.9405 * (1 - p_miss) - 0.0095 * 10 * p_fa
    legacy = np.min((l1 * miss_cm + c2 * fa_cm) / min(l1, c2))
    return float(eer), float(revised), float(legacy)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    asv = (rng.normal(3, 1, 10_000), rng.normal(0, 1, 10_000), rng.normal(2, 1.5, 10_000))
    rows = []
    for n in args.sizes:
        n_bonafide = n // 10
        bonafide, spoof = rng.normal(2, 1, n_bonafide), rng.normal(0, 1, n - n_bonafide)
        times = {"voxflow": [], "baseline": []}
        for round_ in range(args.repeats):
            for name in (("voxflow", "baseline") if round_ % 2 == 0 else ("baseline", "voxflow")):
                fn = _voxflow if name == "voxflow" else _baseline
                start = time.perf_counter()
                values = fn(bonafide, spoof, asv)
                times[name].append(time.perf_counter() - start)
                if name == "voxflow":
                    result = values
        medians = {k: statistics.median(v) for k, v in times.items()}
        rows.append({"scores": n, "eer": result[0], "min_tdcf": result[1],
                     "min_tdcf_legacy": result[2], "seconds_voxflow": medians["voxflow"],
                     "seconds_baseline": medians["baseline"],
                     "ratio": medians["voxflow"] / medians["baseline"], "runs": times})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "runs"}), flush=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    out = Path(__file__).parent / "results" / "scoring.json"
    out.write_text(json.dumps({"machine": machine, "command": "python benchmarks/"
                               "bench_scoring.py " + " ".join(map(str, args.sizes)),
                               "rows": rows}, indent=1))
    print("\n| scores | EER | min t-DCF (revised / legacy) | voxflow (s) | sort+cumsum "
          "baseline (s) | ratio |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scores']:,} | {100 * r['eer']:.2f}% | {r['min_tdcf']:.4f} / "
              f"{r['min_tdcf_legacy']:.4f} | {r['seconds_voxflow']:.3f} | "
              f"{r['seconds_baseline']:.3f} | x{r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
