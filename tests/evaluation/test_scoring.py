"""EER and min t-DCF against direct computations from their definitions, analytic EERs of
Gaussian scores, and the ASVspoof score-file readers."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from voxflow.evaluation.countermeasure import (evaluate_countermeasure, read_asv_scores,
                                               read_cm_scores)
from voxflow.evaluation.eer import compute_eer
from voxflow.evaluation.tdcf import ASVSPOOF2019, asv_error_rates, min_tdcf


def operating_points(positive, negative):
    """(threshold, miss, false alarm) of the ASVspoof package's per-trial curve, by counting:
    trials ordered by score (positives first among equal scores, then by index), point k
    rejecting the first k; point 0's threshold is just below the lowest score."""
    trials = sorted([(float(s), 0, i) for i, s in enumerate(positive)]
                    + [(float(s), 1, i) for i, s in enumerate(negative)])
    points = [(trials[0][0] - 0.001, 0.0, 1.0)]
    for k in range(1, len(trials) + 1):
        rejected_positives = sum(1 for t in trials[:k] if t[1] == 0)
        rejected_negatives = k - rejected_positives
        points.append((trials[k - 1][0], rejected_positives / len(positive),
                       (len(negative) - rejected_negatives) / len(negative)))
    return points


def reference_eer(positive, negative) -> tuple[float, float]:
    points = operating_points(positive, negative)
    threshold, miss, fa = min(points, key=lambda p: abs(p[1] - p[2]))   # the first closest
    return (miss + fa) / 2, threshold


def reference_min_tdcf(bonafide, spoof, target, nontarget, spoofed_asv, formulation):
    c = ASVSPOOF2019
    threshold = reference_eer(target, nontarget)[1]
    p_miss_asv = np.mean(np.asarray(target) < threshold)
    p_fa_asv = np.mean(np.asarray(nontarget) >= threshold)
    p_miss_spoof_asv = np.mean(np.asarray(spoofed_asv) < threshold)
    costs = []
    for _, p_miss_cm, p_fa_cm in operating_points(bonafide, spoof):
        if formulation == "revised":
            c0 = c.p_tar * c.c_miss * p_miss_asv + c.p_non * c.c_fa * p_fa_asv
            c1 = c.p_tar * c.c_miss - c0
            c2 = c.c_fa_spoof * c.p_spoof * (1 - p_miss_spoof_asv)
            costs.append((c0 + c1 * p_miss_cm + c2 * p_fa_cm) / (c0 + min(c1, c2)))
        else:
            c1 = c.p_tar * (c.c_miss_cm - c.c_miss_asv * p_miss_asv) - c.p_non * c.c_fa_asv * p_fa_asv
            c2 = c.c_fa_cm * c.p_spoof * (1 - p_miss_spoof_asv)
            costs.append((c1 * p_miss_cm + c2 * p_fa_cm) / min(c1, c2))
    return min(costs)


def _random_sets():
    rng = np.random.default_rng(7)
    yield "gaussian", rng.normal(1.5, 1, 300), rng.normal(0, 1.3, 500)
    yield "ties", rng.integers(0, 6, 200).astype(float) + 1, rng.integers(0, 6, 150).astype(float)
    yield "all equal", np.full(20, 0.5), np.full(30, 0.5)
    yield "perfect separation", rng.uniform(2, 3, 40), rng.uniform(0, 1, 60)
    yield "inverted", rng.uniform(0, 1, 40), rng.uniform(2, 3, 60)
    yield "single trial per class", np.array([0.7]), np.array([0.2])
    yield "single trial per class, inverted", np.array([0.2]), np.array([0.7])
    yield "single tie", np.array([0.2]), np.array([0.2])
    yield "unbalanced", rng.normal(0.5, 1, 3), rng.normal(0, 1, 400)


@pytest.mark.parametrize(("name", "positive", "negative"), list(_random_sets()),
                         ids=[s[0] for s in _random_sets()])
def test_eer_equals_direct_computation(name, positive, negative):
    assert compute_eer(positive, negative) == pytest.approx(reference_eer(positive, negative),
                                                            abs=1e-12)


def test_eer_of_awkward_sets_is_the_packages_value():
    assert compute_eer([1, 2, 3], [-1, 0])[0] == 0.0
    assert compute_eer([-1, 0], [1, 2, 3])[0] == 1.0
    # all scores tied: the per-trial curve meets equality only where everything is rejected
    assert compute_eer([0.5] * 4, [0.5] * 9)[0] == 1.0


def test_the_hand_case_gives_the_scoring_packages_numbers():
    """Worked by hand and with the ASVspoof 2021 package (eval_metrics.compute_eer and
    eval_wrapper's min t-DCF): the ASV threshold is its compute_eer point, 2.5, and a trial
    at or above it is accepted."""
    rates = asv_error_rates([1, 2, 3, 4, 5], [0.5, 1.5, 2.5, 3.5, 6], [2.2, 4.4])
    assert (rates.threshold, rates.p_fa, rates.p_miss, rates.p_miss_spoof) == \
        (2.5, 0.6, 0.4, 0.5)
    result = min_tdcf([1, 2, 3, 0.7], [0, 1.5, 0.9], rates)
    assert result.min_tdcf == pytest.approx(0.878025, abs=5e-7)


@pytest.mark.parametrize(("mu", "sigma"), [(2.0, 1.0), (1.0, 1.0), (2.5, 2.0)])
def test_eer_of_gaussian_scores_matches_the_analytic_value(mu, sigma):
    rng = np.random.default_rng(3)
    n = 400_000
    positive, negative = rng.normal(mu, sigma, n), rng.normal(0, 1, n)
    # the threshold t where P(positive < t) = P(negative >= t)
    t = brentq(lambda x: norm.cdf((x - mu) / sigma) - norm.sf(x), -10, 10)
    analytic = norm.sf(t)
    # binomial standard error of a rate estimated on n trials is below 0.0008 here
    assert compute_eer(positive, negative)[0] == pytest.approx(analytic, abs=0.003)


def _tdcf_sets():
    rng = np.random.default_rng(11)
    asv = (rng.normal(3, 1, 400), rng.normal(0, 1, 300), rng.normal(2, 1.5, 350))
    yield "gaussian", rng.normal(2, 1, 250), rng.normal(0, 1.5, 600), asv
    yield "ties", (rng.integers(0, 4, 100) + 1).astype(float), rng.integers(0, 4, 300).astype(float), asv
    yield "all equal", np.zeros(10), np.zeros(50), asv
    yield "perfect separation", rng.uniform(5, 6, 30), rng.uniform(0, 1, 70), asv
    yield "single trial per class", np.array([1.0]), np.array([0.0]), asv
    tied_asv = tuple(np.round(s) for s in asv)
    yield "tied ASV scores", rng.normal(1, 1, 100), rng.normal(0, 1, 100), tied_asv


@pytest.mark.parametrize("formulation", ["revised", "legacy"])
@pytest.mark.parametrize(("name", "bonafide", "spoof", "asv"), list(_tdcf_sets()),
                         ids=[s[0] for s in _tdcf_sets()])
def test_min_tdcf_equals_direct_computation(formulation, name, bonafide, spoof, asv):
    rates = asv_error_rates(*asv)
    result = min_tdcf(bonafide, spoof, rates, formulation=formulation)
    assert result.min_tdcf == pytest.approx(
        reference_min_tdcf(bonafide, spoof, *asv, formulation), abs=1e-6)
    assert 0.0 <= result.min_tdcf <= 1.0 + 1e-12


def test_min_tdcf_of_uninformative_and_perfect_countermeasures():
    rng = np.random.default_rng(5)
    rates = asv_error_rates(rng.normal(3, 1, 500), rng.normal(0, 1, 500), rng.normal(3, 1, 500))
    # a CM that cannot tell the classes apart is no better than accepting or rejecting all
    assert min_tdcf(np.zeros(50), np.zeros(50), rates).min_tdcf == pytest.approx(1.0)
    perfect = min_tdcf(np.ones(50), np.zeros(50), rates)
    # with a perfect CM the only cost left is the ASV's own errors on bona fide trials
    c = ASVSPOOF2019
    c0 = c.p_tar * c.c_miss * rates.p_miss + c.p_non * c.c_fa * rates.p_fa
    c2 = c.c_fa_spoof * c.p_spoof * (1 - rates.p_miss_spoof)
    assert perfect.min_tdcf == pytest.approx(c0 / (c0 + min(c.p_tar * c.c_miss - c0, c2)))
    assert min_tdcf(np.ones(50), np.zeros(50), rates, formulation="legacy").min_tdcf == 0.0


def test_bad_scores_raise_errors_that_say_what_is_wrong():
    with pytest.raises(ValueError, match="NaN or infinite"):
        compute_eer([0.1, np.nan], [0.0])
    with pytest.raises(ValueError, match="empty"):
        compute_eer([], [0.0, 1.0])
    with pytest.raises(ValueError, match="ASV spoof scores.*empty"):
        asv_error_rates([1.0], [0.0], [])
    rates = asv_error_rates([1.0, 2.0], [0.0, 0.5], [1.5])
    with pytest.raises(ValueError, match="unknown t-DCF formulation"):
        min_tdcf([1.0], [0.0], rates, formulation="2021")
    # an ASV that rejects every target and accepts every non-target makes C1 negative
    bad = asv_error_rates([0.0, 1.0], [2.0, 3.0], [0.0], threshold=1.5)
    assert np.isnan(min_tdcf([1.0], [0.0], bad).min_tdcf)


def test_an_asv_that_accepts_no_spoof_leaves_only_the_legacy_tdcf_undefined():
    """C2 = 0: the legacy normalizer min(C1, C2) is 0 (NaN), the revised t-DCF is defined
    (1.0, as the package gives) and so is everything else."""
    import pandas as pd

    cm = pd.DataFrame({"attack": ["-", "-", "A07", "A07"], "key": ["bonafide"] * 2 + ["spoof"] * 2,
                       "score": [2.0, 1.0, 0.5, 1.5]})
    asv = pd.DataFrame({"key": ["target"] * 3 + ["nontarget"] * 3 + ["spoof"],
                        "score": [5.0, 6.0, 7.0, 0.0, 1.0, 2.0, -1.0]})
    metrics = evaluate_countermeasure(cm, asv).metrics
    assert np.isnan(metrics["min_tdcf_legacy"])
    assert metrics["min_tdcf"] == 1.0 and metrics["eer"] == 0.5


def test_score_files_round_trip_and_bad_lines(tmp_path):
    cm = tmp_path / "cm.txt"
    cm.write_text("LA_E_1 - bonafide 2.5\nLA_E_2 A07 spoof -1.0\nLA_E_3 A08 spoof 0.5\n"
                  "LA_E_4 - bonafide 0.75\n")
    table = read_cm_scores(cm)
    assert table["attack"].tolist() == ["-", "A07", "A08", "-"]
    protocol = tmp_path / "protocol.txt"
    protocol.write_text("LA_0001 LA_E_1 - - bonafide\nLA_0001 LA_E_2 - A07 spoof\n")
    short = tmp_path / "short.txt"
    short.write_text("LA_E_2 -1.0\nLA_E_1 2.5\n")
    joined = read_cm_scores(short, protocol)
    assert joined[["utterance", "attack", "key"]].values.tolist() == [
        ["LA_E_2", "A07", "spoof"], ["LA_E_1", "-", "bonafide"]]
    asv = tmp_path / "asv.txt"
    asv.write_text("bonafide target 0.9\nbonafide nontarget 0.1\nA07 spoof 0.6\n")
    assert read_asv_scores(asv)["key"].tolist() == ["target", "nontarget", "spoof"]

    (tmp_path / "nan.txt").write_text("LA_E_1 - bonafide nan\n")
    with pytest.raises(ValueError, match=r"nan.txt:1: score is nan"):
        read_cm_scores(tmp_path / "nan.txt")
    (tmp_path / "key.txt").write_text("LA_E_1 - bonafide 1\nLA_E_2 - genuine 1\n")
    with pytest.raises(ValueError, match=r"key.txt:2: expected"):
        read_cm_scores(tmp_path / "key.txt")
    (tmp_path / "unknown.txt").write_text("LA_E_9 1.0\n")
    with pytest.raises(ValueError, match="LA_E_9 is not in"):
        read_cm_scores(tmp_path / "unknown.txt", protocol)
    (tmp_path / "twice.txt").write_text("LA_E_1 - bonafide 1\nLA_E_1 - bonafide 2\n")
    with pytest.raises(ValueError, match="scored more than once"):
        read_cm_scores(tmp_path / "twice.txt")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_cm_scores(tmp_path / "missing.txt")


def test_countermeasure_report_per_attack_and_tdcf():
    rng = np.random.default_rng(2)
    import pandas as pd

    cm = pd.DataFrame({"attack": ["-"] * 200 + ["A07"] * 200 + ["A08"] * 200,
                       "key": ["bonafide"] * 200 + ["spoof"] * 400,
                       "score": np.r_[rng.normal(2, 1, 200), rng.normal(0, 1, 200),
                                      rng.normal(1.5, 1, 200)]})
    asv = pd.DataFrame({"key": ["target"] * 300 + ["nontarget"] * 300 + ["spoof"] * 300,
                        "score": np.r_[rng.normal(3, 1, 300), rng.normal(0, 1, 300),
                                       rng.normal(2, 1, 300)]})
    report = evaluate_countermeasure(cm, asv)
    bona = cm.score[cm.key == "bonafide"]
    assert report.metrics["eer_A07"] == compute_eer(bona, cm.score[cm.attack == "A07"])[0]
    assert report.metrics["eer_A07"] < report.metrics["eer"] < report.metrics["eer_A08"]
    assert report.tables["per_attack"]["attack"].tolist() == ["A07", "A08"]
    for suffix in ("", "_legacy"):
        assert 0 < report.metrics[f"min_tdcf{suffix}"] < 1
    assert report.metrics["min_tdcf"] == pytest.approx(reference_min_tdcf(
        bona, cm.score[cm.key == "spoof"], *(asv.score[asv.key == k] for k in
                                             ("target", "nontarget", "spoof")), "revised"))
    assert "det" in report.figures
