"""MUSHRA: webMUSHRA export (audio, anchors, loudness, YAML) and ratings analysis checked against
numbers worked out by hand."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyloudnorm
import pytest
import soundfile as sf
import yaml
from scipy import signal as sps
from scipy import stats as sps_stats

from voxflow.evaluation.mushra import (
    analyze_ratings,
    export_test,
    read_ratings,
    read_stimuli,
)
from voxflow.evaluation.pairs import PairError

# ------------------------------------------------------------------------------ analysis

# Hand-made ratings, 3 trials per listener in the order [t1, t2, t3]. L4 rates the hidden
# reference below 90 on 2 of 3 items and must be dropped; its other ratings would move every
# mean if it were kept.
RATINGS = {
    "reference": {"L1": [100, 100, 100], "L2": [100, 95, 100], "L3": [90, 100, 100],
                  "L4": [80, 85, 100]},
    "UPW": {"L1": [80, 70, 60], "L2": [75, 85, 65], "L3": [90, 70, 50], "L4": [0, 0, 0]},
    "SDPW": {"L1": [60, 65, 55], "L2": [70, 60, 50], "L3": [80, 55, 45], "L4": [100, 100, 100]},
    "anchor35": {"L1": [20, 10, 15], "L2": [25, 20, 15], "L3": [10, 20, 30], "L4": [90, 90, 90]},
    "anchor70": {"L1": [40, 50, 45], "L2": [35, 45, 50], "L3": [55, 40, 50], "L4": [90, 90, 90]},
}
TRIALS = ["t1", "t2", "t3"]
ITEMS = pd.DataFrame({"trial_id": TRIALS, "item": ["a", "b", "c"], "voice": ["v1", "v1", "v2"],
                      "style": ["neutral", "news", "news"]})
T_975_8 = 2.306004135  # Student t quantile, 0.975, 8 degrees of freedom (tables)


def long_table(ratings: dict) -> pd.DataFrame:
    """{system: {listener: scores of trials t1, t2, ...}} as a long ratings table."""
    return pd.DataFrame([(listener, f"t{i + 1}", system, s)
                         for system, by_listener in ratings.items()
                         for listener, scores in by_listener.items()
                         for i, s in enumerate(scores)],
                        columns=["listener", "trial_id", "stimulus", "score"])


def write_webmushra_csv(path: Path, table: pd.DataFrame, with_uuid: bool) -> Path:
    """The table in webMUSHRA's mushra.csv layout (questionnaire email, age; session_uuid
    only in newer versions)."""
    out = pd.DataFrame({"session_test_id": "vocoders", "email": table["listener"] + "@x.org",
                        "age": "30"})
    if with_uuid:
        out["session_uuid"] = "uuid-" + table["listener"]
    out = out.assign(trial_id=table["trial_id"], rating_stimulus=table["stimulus"],
                     rating_score=table["score"], rating_time=1234, rating_comment="")
    out.to_csv(path, index=False)
    return path


def textbook_t(differences) -> float:
    """Paired t statistic: mean of the differences over its standard error."""
    d = [float(x) for x in differences]
    n = len(d)
    mean = sum(d) / n
    s = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    return mean / (s / math.sqrt(n))


def two_sided_p(t: float, n: int) -> float:
    return 2 * sps_stats.t.sf(abs(t), n - 1)


def holm_of_two(p1: float, p2: float) -> tuple[float, float]:
    """Holm by hand for two tests: the smaller p times 2, the larger at least that."""
    small = min(2 * min(p1, p2), 1.0)
    large = max(small, max(p1, p2))
    return (small, large) if p1 <= p2 else (large, small)


@pytest.fixture(scope="module")
def report():
    return analyze_ratings(long_table(RATINGS), ITEMS)


def test_read_ratings_identifies_listeners(tmp_path):
    table = long_table(RATINGS)
    new = read_ratings(write_webmushra_csv(tmp_path / "new.csv", table, with_uuid=True))
    assert list(new.columns) == ["listener", "trial_id", "stimulus", "score"]
    assert sorted(new["listener"].unique()) == ["uuid-L1", "uuid-L2", "uuid-L3", "uuid-L4"]
    old = read_ratings(write_webmushra_csv(tmp_path / "old.csv", table, with_uuid=False))
    assert min(old["listener"]) == "L1@x.org | 30"
    explicit = read_ratings(tmp_path / "old.csv", listener="email")
    assert min(explicit["listener"]) == "L1@x.org"
    assert explicit["score"].tolist() == table["score"].astype(float).tolist()
    # two result files of one test are read as one table
    assert len(read_ratings(tmp_path / "new.csv", tmp_path / "new.csv")) == 2 * len(table)


def test_read_ratings_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"session_test_id": ["x"], "trial_id": ["t1"], "rating_score": [50]}).to_csv(
        bad, index=False)
    with pytest.raises(ValueError, match="missing column.*rating_stimulus"):
        read_ratings(bad)
    no_listener = tmp_path / "no_listener.csv"
    pd.DataFrame({"session_test_id": ["x"], "trial_id": ["t1"], "rating_stimulus": ["a"],
                  "rating_score": [50]}).to_csv(no_listener, index=False)
    with pytest.raises(ValueError, match="listener"):
        read_ratings(no_listener)
    other = write_webmushra_csv(tmp_path / "other.csv", long_table(RATINGS), with_uuid=True)
    pd.read_csv(other).assign(session_test_id="other_test").to_csv(other, index=False)
    with pytest.raises(ValueError, match="several tests"):
        read_ratings(write_webmushra_csv(tmp_path / "a.csv", long_table(RATINGS), True), other)


def test_post_screening_drops_the_listener_who_misses_the_hidden_reference(report):
    listeners = report.tables["listeners"].set_index("listener")
    assert listeners["kept"].to_dict() == {"L1": True, "L2": True, "L3": True, "L4": False}
    assert listeners.loc["L4", "reference_below"] == 2 and listeners.loc["L4", "items"] == 3
    assert "2 of 3" in listeners.loc["L4", "reason"]
    # L3's reference score of exactly 90 is not below the threshold
    assert listeners.loc["L3", "reference_below"] == 0
    assert report.metrics["listeners_kept"] == 3 and report.metrics["listeners_dropped"] == 1
    assert report.metrics["ratings"] == 5 * 3 * 3


def test_post_screening_borderline_fraction():
    # "border": 1 of 7 items below 90 (14.3% <= 15%) is kept; "over": 1 of 6 (16.7%) is not
    ratings = {"reference": {"border": [100, 90, 100, 95, 100, 100, 85],
                             "over": [100, 100, 100, 100, 100, 89]},
               "UPW": {"border": [70] * 7, "over": [60] * 6}}
    listeners = analyze_ratings(long_table(ratings)).tables["listeners"].set_index("listener")
    assert listeners.loc["border", "kept"] and not listeners.loc["over", "kept"]
    assert listeners.loc["border", "fraction_below"] == pytest.approx(1 / 7)
    assert listeners.loc["over", "fraction_below"] == pytest.approx(1 / 6)


def test_means_confidence_intervals_and_relative_mushra(report):
    systems = report.tables["systems"].set_index("system")
    # order: reference, systems by mean, anchors (better one first)
    assert list(systems.index) == ["reference", "UPW", "SDPW", "anchor70", "anchor35"]
    # sums of the 9 kept ratings (L1-L3 x 3 trials)
    means = {"reference": 885 / 9, "UPW": 645 / 9, "SDPW": 540 / 9, "anchor35": 165 / 9,
             "anchor70": 410 / 9}
    for system, mean in means.items():
        assert systems.loc[system, "mean"] == pytest.approx(mean)
        assert systems.loc[system, "n"] == 9
        assert report.metrics[f"mushra_mean_{system}"] == pytest.approx(mean)
        assert report.metrics[f"mushra_rel_{system}"] == pytest.approx(mean / (885 / 9))
    assert systems.loc["UPW", "rel"] == pytest.approx(645 / 885)
    # CI half-width t_{.975,8} * s / sqrt(9), s^2 = sum of squared deviations / 8:
    # reference: 7 x (100 - 98 1/3)^2 + (95 - 98 1/3)^2 + (90 - 98 1/3)^2 = 100
    ss_reference = 7 * (5 / 3) ** 2 + (10 / 3) ** 2 + (25 / 3) ** 2
    assert ss_reference == pytest.approx(100)
    # UPW: sum x^2 - (sum x)^2 / n = 47475 - 645^2 / 9 = 1250; SDPW: 33300 - 540^2 / 9 = 900
    for system, ss in {"reference": 100, "UPW": 1250, "SDPW": 900}.items():
        half = T_975_8 * math.sqrt(ss / 8) / 3
        assert systems.loc[system, "ci95"] == pytest.approx(half, rel=1e-6)
        assert report.metrics[f"mushra_ci95_{system}"] == pytest.approx(half, rel=1e-6)
    assert report.metrics["mushra_ci95_UPW"] == pytest.approx(T_975_8 * 12.5 / 3, rel=1e-6)


def test_paired_t_test(report):
    pairs = report.tables["pairs"]
    # anchors and the reference are not compared: one pair
    assert len(pairs) == 1
    row = pairs.iloc[0]
    assert (row["system_a"], row["system_b"], row["n_pairs"]) == ("UPW", "SDPW", 9)
    # differences UPW - SDPW per (listener, trial): sum 105, mean 35/3; sum d^2 = 1675,
    # SS = 1675 - 105^2/9 = 450, s = sqrt(450/8) = 7.5, SE = 7.5/3 = 2.5, t = (35/3)/2.5
    differences = [20, 5, 5, 5, 25, 15, 10, 15, 5]
    t = (35 / 3) / 2.5
    assert textbook_t(differences) == pytest.approx(t)
    assert row["mean_difference"] == pytest.approx(35 / 3)
    assert row["t"] == pytest.approx(t)
    assert row["p"] == pytest.approx(two_sided_p(t, 9))
    assert row["p"] < 0.01
    assert row["p_holm"] == pytest.approx(row["p"])  # a family of one test


def test_breakdown_by_voice_and_style(report):
    voice = report.tables["by_voice"].set_index("voice")
    assert list(voice.index) == ["v1", "v2", "Overall"]
    # v1 = trials t1, t2 (6 ratings per system), v2 = t3 (3)
    assert voice.loc["v1", "mean_reference"] == pytest.approx(585 / 6)
    assert voice.loc["v1", "mean_UPW"] == pytest.approx(470 / 6)
    assert voice.loc["v1", "mean_SDPW"] == pytest.approx(390 / 6)
    assert voice.loc["v2", "rel_UPW"] == pytest.approx((175 / 3) / 100)
    assert voice.loc["Overall", "rel_UPW"] == pytest.approx(645 / 885)
    assert voice.loc["v2", "n_trials"] == 1
    # v1 differences: sum 80, mean 40/3, SS = 1400 - 80^2/6, SE = sqrt(SS/5/6) = 10/3 -> t = 4
    # v2 differences: [5, 15, 5], mean 25/3, SS = 275 - 25^2/3, SE = 10/3 -> t = 2.5
    t_v1, t_v2 = textbook_t([20, 5, 5, 25, 10, 15]), textbook_t([5, 15, 5])
    assert (t_v1, t_v2) == (pytest.approx(4.0), pytest.approx(2.5))
    p_v1, p_v2 = holm_of_two(two_sided_p(t_v1, 6), two_sided_p(t_v2, 3))
    assert voice.loc["v1", "p_UPW_vs_SDPW"] == pytest.approx(p_v1)
    assert voice.loc["v2", "p_UPW_vs_SDPW"] == pytest.approx(p_v2)
    assert voice.loc["Overall", "p_UPW_vs_SDPW"] == pytest.approx(two_sided_p((35 / 3) / 2.5, 9))

    style = report.tables["by_style"].set_index("style")
    assert list(style.index) == ["neutral", "news", "Overall"]
    # neutral = t1: differences [20, 5, 10]; news = t2, t3: [5, 5, 25, 15, 15, 5], t = 3.5
    t_neutral, t_news = textbook_t([20, 5, 10]), textbook_t([5, 5, 25, 15, 15, 5])
    assert t_news == pytest.approx(3.5)
    p_neutral, p_news = holm_of_two(two_sided_p(t_neutral, 3), two_sided_p(t_news, 6))
    assert style.loc["neutral", "p_UPW_vs_SDPW"] == pytest.approx(p_neutral)
    assert style.loc["news", "p_UPW_vs_SDPW"] == pytest.approx(p_news)
    assert style.loc["news", "mean_anchor35"] == pytest.approx((10 + 15 + 20 + 15 + 20 + 30) / 6)


def test_boxplot_and_written_report(report, tmp_path):
    axes = report.figures["ratings"].axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == [
        "reference", "UPW", "SDPW", "anchor70", "anchor35"]
    written = {p.name for p in report.write(tmp_path)}
    assert {"metrics.json", "listeners.csv", "systems.csv", "pairs.csv", "by_voice.csv",
            "by_style.csv", "ratings.png"} <= written


def test_three_systems_holm_over_all_pairs():
    ratings = dict(RATINGS, WGlow={"L1": [50, 50, 40], "L2": [55, 45, 40], "L3": [60, 30, 50],
                                   "L4": [0, 0, 0]})
    pairs = analyze_ratings(long_table(ratings)).tables["pairs"]
    assert list(zip(pairs["system_a"], pairs["system_b"])) == [
        ("UPW", "SDPW"), ("UPW", "WGlow"), ("SDPW", "WGlow")]
    p = pairs["p"].tolist()
    # Holm by hand: sort, multiply by 3, 2, 1, keep the running maximum
    order = sorted(range(3), key=p.__getitem__)
    adjusted, running = [0.0] * 3, 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * p[index]))
        adjusted[index] = running
    assert pairs["p_holm"].tolist() == pytest.approx(adjusted)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns="score"), "missing column.*score"),
    (lambda t: t.assign(score=t["score"].where(t.index != 3, 101)), "not in 0-100"),
    (lambda t: t.assign(score=t["score"].where(t.index != 3, -1)), "not in 0-100"),
    (lambda t: t[t["stimulus"] != "reference"], "no ratings of the hidden reference"),
    (lambda t: t.assign(score=t["score"].where(t["stimulus"] != "reference", 50)),
     "excluded every listener"),
    (lambda t: t.assign(trial_id=t["trial_id"].replace("t3", "t9")), "not in items: t9"),
    (lambda t: pd.concat([t, t.iloc[:1]]), "more than once"),
])
def test_analysis_errors(change, message):
    with pytest.raises(ValueError, match=message):
        analyze_ratings(change(long_table(RATINGS)), ITEMS)


# -------------------------------------------------------------------------------- export

RATE = 24000


def noise(seconds: float, rate: int, seed: int, level: float = 0.05) -> np.ndarray:
    return level * np.random.default_rng(seed).standard_normal(int(seconds * rate))


def write_stimuli(folder: Path, items: dict[str, dict[str, tuple[np.ndarray, int]]],
                  metadata: dict[str, dict[str, str]]) -> Path:
    """WAVs and a stimuli CSV (relative paths) for {item: {system: (audio, rate)}}."""
    rows = []
    for item, systems in items.items():
        for system, (audio, rate) in systems.items():
            path = folder / "wav" / f"{item}_{system}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, audio, rate, subtype="PCM_16")
            rows.append({"item": item, "system": system, "path": f"wav/{path.name}",
                         **metadata.get(item, {})})
    csv = folder / "stimuli.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


@pytest.fixture(scope="module")
def stimuli_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stimuli")
    items = {item: {"reference": (noise(1.0, RATE, 3 * k), RATE),
                    # a 16 kHz vocoder, a bit long; a 24 kHz one, a bit short and louder
                    "sysA": (noise(1.02, 16000, 3 * k + 1, 0.02), 16000),
                    "sysB": (noise(0.97, RATE, 3 * k + 2, 0.2), RATE)}
             for k, item in enumerate(["utt1", "utt2"])}
    metadata = {"utt1": {"voice": "F1", "style": "neutral"},
                "utt2": {"voice": "M1", "style": "news"}}
    return write_stimuli(folder, items, metadata)


@pytest.fixture(scope="module")
def exported(stimuli_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("test")
    config = export_test(read_stimuli(stimuli_csv), out, "vocoders", seed=0)
    return out, config


def mushra_pages(config: Path) -> list[dict]:
    pages = yaml.safe_load(config.read_text())["pages"]
    return pages[1][1:]


def band_energy(audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    return sps.welch(audio, rate, nperseg=2048)


def test_export_yaml_structure(exported):
    out, config = exported
    assert config == out / "configs" / "vocoders.yaml"
    cfg = yaml.safe_load(config.read_text())
    assert {k: cfg[k] for k in ("testId", "bufferSize", "stopOnErrors", "showButtonPreviousPage",
                                "remoteService")} == {
        "testId": "vocoders", "bufferSize": 2048, "stopOnErrors": True,
        "showButtonPreviousPage": True, "remoteService": "service/write.php"}
    assert cfg["testname"]
    first, block, finish = cfg["pages"]
    assert first["type"] == "generic"
    assert block[0] == "random" and len(block) == 3
    assert finish["type"] == "finish" and finish["writeResults"] is True
    assert finish["questionnaire"][0]["name"] == "email"
    items = pd.read_csv(out / "vocoders_items.csv", dtype=str)
    assert list(items.columns) == ["trial_id", "item", "voice", "style"]
    assert sorted(items["item"]) == ["utt1", "utt2"]
    assert dict(zip(items["item"], items["voice"])) == {"utt1": "F1", "utt2": "M1"}
    trial_item = dict(zip(items["trial_id"], items["item"]))
    for page in block[1:]:
        assert page["type"] == "mushra"
        assert (page["showWaveform"], page["enableLooping"]) == (True, True)
        assert (page["createAnchor35"], page["createAnchor70"]) == (False, False)
        assert set(page["stimuli"]) == {"anchor35", "anchor70", "sysA", "sysB"}
        item = trial_item[page["id"]]
        assert page["reference"] == f"configs/resources/audio/vocoders/{item}/reference.wav"
        for path in [page["reference"], *page["stimuli"].values()]:
            assert path.startswith(f"configs/resources/audio/vocoders/{item}/")
            assert (out / path).is_file(), path


def test_export_audio_rate_length_loudness_no_clipping(exported):
    out, config = exported
    meter = pyloudnorm.Meter(RATE)
    for page in mushra_pages(config):
        paths = [page["reference"], *page["stimuli"].values()]
        infos = [sf.info(out / p) for p in paths]
        assert {(i.samplerate, i.frames, i.channels, i.subtype) for i in infos} == {
            (RATE, RATE, 1, "PCM_16")}
        for path in paths:
            pcm, _ = sf.read(out / path, dtype="int16")
            assert np.abs(pcm.astype(int)).max() <= 10 ** (-1 / 20) * 32767, path
            audio, _ = sf.read(out / path)
            assert meter.integrated_loudness(audio) == pytest.approx(-23.0, abs=0.5), path


@pytest.mark.parametrize("anchor, cutoff", [("anchor35", 3500), ("anchor70", 7000)])
def test_export_anchors_are_low_passed_reference(exported, anchor, cutoff):
    out, config = exported
    for page in mushra_pages(config):
        reference, _ = sf.read(out / page["reference"])
        low, _ = sf.read(out / page["stimuli"][anchor])
        freqs, p_ref = band_energy(reference, RATE)
        _, p_low = band_energy(low, RATE)
        # (almost) nothing from the cut-off up: less than -50 dB of the anchor's power
        assert p_low[freqs >= cutoff].sum() / p_low.sum() < 1e-5
        # the band below keeps the reference's spectrum up to one gain (loudness normalization)
        ratio_db = 10 * np.log10(p_low / p_ref)[(freqs > 100) & (freqs < 0.93 * cutoff)]
        assert np.abs(ratio_db - np.median(ratio_db)).max() < 0.5
        # ...and is aligned with it in time (zero-phase filter)
        gain = 10 ** (np.median(ratio_db) / 20)
        band = sps.sosfiltfilt(sps.butter(8, 0.8 * cutoff, fs=RATE, output="sos"), reference)
        low_band = sps.sosfiltfilt(sps.butter(8, 0.8 * cutoff, fs=RATE, output="sos"), low)
        mid = slice(RATE // 10, -RATE // 10)
        assert np.corrcoef(band[mid], low_band[mid])[0, 1] > 0.999
        assert np.std(low_band[mid]) == pytest.approx(gain * np.std(band[mid]), rel=0.05)


def test_export_is_deterministic(stimuli_csv, exported, tmp_path):
    out, config = exported
    again = export_test(read_stimuli(stimuli_csv), tmp_path, "vocoders", seed=0)
    assert again.read_text() == config.read_text()
    assert (tmp_path / "vocoders_items.csv").read_text() == (
        out / "vocoders_items.csv").read_text()
    for page in mushra_pages(config):
        for path in [page["reference"], *page["stimuli"].values()]:
            assert (tmp_path / path).read_bytes() == (out / path).read_bytes()


def test_export_lowers_the_target_instead_of_clipping(tmp_path, caplog):
    quiet = 0.01 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)
    spiky = quiet.copy()
    spiky[RATE // 2] = 0.9  # at -23 LUFS this click would peak far above full scale
    csv = write_stimuli(tmp_path, {"utt1": {"reference": (noise(1.0, RATE, 0), RATE),
                                            "sysA": (spiky, RATE)}}, {})
    with caplog.at_level(logging.WARNING, logger="voxflow.evaluation.mushra"):
        config = export_test(read_stimuli(csv), tmp_path / "out", "clip")
    assert "target loudness lowered" in caplog.text
    page = mushra_pages(config)[0]
    meter = pyloudnorm.Meter(RATE)
    loudness, peaks = [], []
    for path in [page["reference"], *page["stimuli"].values()]:
        audio, _ = sf.read(tmp_path / "out" / path)
        loudness.append(meter.integrated_loudness(audio))
        peaks.append(np.abs(audio).max())
    # one lower target for every stimulus, the click just at the -1 dBFS ceiling
    assert max(loudness) < -30
    assert max(loudness) - min(loudness) < 0.5
    assert max(peaks) == pytest.approx(10 ** (-1 / 20), rel=1e-3)


@pytest.fixture
def good_table(tmp_path):
    sf.write(tmp_path / "ref.wav", noise(1.0, RATE, 0), RATE)
    sf.write(tmp_path / "sys.wav", noise(1.0, RATE, 1), RATE)
    return pd.DataFrame({"item": ["u1", "u1", "u2", "u2"],
                         "system": ["reference", "sysA", "reference", "sysA"],
                         "path": [str(tmp_path / n) for n in ["ref.wav", "sys.wav"] * 2]})


@pytest.mark.parametrize("change, error, message", [
    (lambda t: t.drop(columns="path"), ValueError, "missing column.*path"),
    (lambda t: t.assign(system=["reference", "sysA", "sysA", "sysB"]), ValueError,
     "item u2: no 'reference'"),
    (lambda t: t.assign(system=["reference", "sysA", "reference", "sysB"]), ValueError,
     "item u2: systems"),
    (lambda t: t.assign(system=["reference", "anchor35"] * 2), ValueError, "reserved"),
    (lambda t: pd.concat([t, t.iloc[:1]]), ValueError, "item u1: more than one row"),
    (lambda t: t.assign(item=["u/1", "u/1", "u2", "u2"]), ValueError, "item name"),
    (lambda t: t.assign(voice=["F", "M", "F", "F"]), ValueError, "item u1: voice differs"),
    (lambda t: t.assign(path=[t["path"][0], "/nonexistent/x.wav", *t["path"][2:]]), PairError,
     "/nonexistent/x.wav"),
])
def test_export_errors(good_table, tmp_path, change, error, message):
    with pytest.raises(error, match=message):
        export_test(change(good_table), tmp_path / "out", "t")


def test_export_rejects_a_reference_too_narrow_for_the_anchors(good_table, tmp_path):
    sf.write(tmp_path / "ref.wav", noise(1.0, 8000, 0), 8000)
    with pytest.raises(ValueError, match="item u1: .*8000 Hz"):
        export_test(good_table, tmp_path / "out", "t")
    with pytest.raises(ValueError, match="test id"):
        export_test(good_table, tmp_path / "out", "my test")
