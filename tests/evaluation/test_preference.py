"""AB preference tests: the export (balanced orders, loudness, one rate, anonymous trials, the
key) and the analysis of a hand-made ratings file checked against counts worked out by hand."""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyloudnorm
import pytest
import soundfile as sf
from scipy import stats as sps_stats

from voxflow.cli import main
from voxflow.evaluation.preference import (
    ALPHA,
    analyze_ratings,
    export_ab_test,
    markdown_table,
    read_key,
    read_pairs,
    read_ratings,
)

# ------------------------------------------------------------------------------ analysis

# Hand-made test of 16 trials rated by listeners L1-L5 (20 votes per group and pair):
# (trial, group, system_a, system_b, system at position 1, choices of L1-L5; n = neutral)
HAND_MADE = [
    ("t01", "pl", "A", "v3", "A", "2 2 2 2 1"),    # v3 4, A 1
    ("t02", "pl", "A", "v3", "v3", "1 1 1 1 n"),   # v3 4, neutral 1
    ("t03", "pl", "A", "v3", "A", "2 2 2 n n"),    # v3 3, neutral 2
    ("t04", "pl", "A", "v3", "v3", "1 1 1 1 2"),   # v3 4, A 1
    ("t05", "pl", "A", "v2", "A", "2 2 2 2 1"),    # v2 4, A 1
    ("t06", "pl", "A", "v2", "v2", "1 1 1 2 n"),   # v2 3, A 1, neutral 1
    ("t07", "pl", "A", "v2", "A", "2 2 2 n n"),    # v2 3, neutral 2
    ("t08", "pl", "A", "v2", "v2", "1 1 1 1 2"),   # v2 4, A 1
    ("t09", "pt", "A", "v2", "A", "1 1 2 2 n"),    # A 2, v2 2, neutral 1
    ("t10", "pt", "A", "v2", "v2", "1 1 1 2 n"),   # v2 3, A 1, neutral 1
    ("t11", "pt", "A", "v2", "A", "1 2 2 n n"),    # A 1, v2 2, neutral 2
    ("t12", "pt", "A", "v2", "v2", "1 1 1 2 n"),   # v2 3, A 1, neutral 1
    ("t13", "pt", "v2", "v3", "v2", "1 1 1 1 n"),  # v2 4, neutral 1
    ("t14", "pt", "v2", "v3", "v3", "2 2 2 2 2"),  # v2 5
    ("t15", "pt", "v2", "v3", "v2", "1 1 1 2 n"),  # v2 3, v3 1, neutral 1
    ("t16", "pt", "v2", "v3", "v3", "2 2 2 2 n"),  # v2 4, neutral 1
]
# summed from the comments above: (votes for A, votes for B, neutral) per (group, A, B)
COUNTS = {("pl", "A", "v2"): (3, 14, 3), ("pl", "A", "v3"): (2, 15, 3),
          ("pt", "A", "v2"): (5, 10, 5), ("pt", "v2", "v3"): (16, 1, 3)}


def hand_made_key(trials=HAND_MADE) -> pd.DataFrame:
    rows = []
    for trial, group, a, b, first, _ in trials:
        rows.append({"trial_id": trial, "item": f"utt_{trial}", "group": group, "system_a": a,
                     "system_b": b, "system_1": first, "system_2": b if first == a else a})
    return pd.DataFrame(rows)


def write_ratings(path: Path, trials=HAND_MADE) -> Path:
    """The ratings file of `trials`' choices: listener,trial_id,choice lines."""
    lines = ["listener,trial_id,choice"]
    for trial, *_, choices in trials:
        for listener, choice in enumerate(choices.split(), start=1):
            lines.append(f"L{listener},{trial},{'neutral' if choice == 'n' else choice}")
    path.write_text("\n".join(lines) + "\n")
    return path


def sign_test_by_hand(k: int, n: int) -> float:
    """Two-sided exact sign test: twice the binomial(n, 1/2) tail beyond the smaller count."""
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    ratings = read_ratings(write_ratings(tmp_path_factory.mktemp("ratings") / "ratings.csv"))
    return analyze_ratings(ratings, hand_made_key()).set_index(["group", "system_a", "system_b"])


def test_votes_are_counted_per_group_and_pair(analysis):
    assert sorted(analysis.index) == sorted(COUNTS)
    for cell, counts in COUNTS.items():
        row = analysis.loc[cell]
        assert (row["votes_a"], row["votes_b"], row["votes_neutral"], row["n"]) == (*counts, 20)


def test_shares_are_percentages_of_all_votes(analysis):
    for cell, (a, b, neutral) in COUNTS.items():
        row = analysis.loc[cell]
        assert row["a_percent"] == pytest.approx(100 * a / 20)
        assert row["b_percent"] == pytest.approx(100 * b / 20)
        assert row["neutral_percent"] == pytest.approx(100 * neutral / 20)


def test_p_value_is_the_exact_two_sided_sign_test_on_the_non_neutral_votes(analysis):
    for cell, (a, b, _) in COUNTS.items():
        p = analysis.loc[cell, "p_value"]
        assert p == pytest.approx(sign_test_by_hand(a, a + b))
        assert p == pytest.approx(sps_stats.binomtest(a, a + b, 0.5).pvalue)


def test_significant_only_below_alpha_with_the_winner_named(analysis):
    # 2 vs 15 (p = 0.0047) and 16 vs 1 are significant; 3 vs 14 (p = 0.0127) is not
    assert sign_test_by_hand(3, 17) > ALPHA > sign_test_by_hand(2, 17)
    assert analysis["significant"].to_dict() == {
        ("pl", "A", "v2"): False, ("pl", "A", "v3"): True, ("pt", "A", "v2"): False,
        ("pt", "v2", "v3"): True}
    assert analysis["winner"].to_dict() == {
        ("pl", "A", "v2"): "", ("pl", "A", "v3"): "v3", ("pt", "A", "v2"): "",
        ("pt", "v2", "v3"): "v2"}


def test_markdown_has_the_shape_of_the_papers_table_3(analysis):
    lines = markdown_table(analysis.reset_index()).splitlines()
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines
            if line.startswith("|") and not line.startswith("|---")]
    assert rows[0] == ["group", "A", "v2", "v3", "Neutral", "n", "p"]
    # one column per system, "-" where it is not in the pair, bold when preferred at p < 0.01
    assert [r[:5] for r in rows[1:]] == [
        ["pl", "15.0", "70.0", "-", "15.0"],
        ["", "10.0", "-", "**75.0**", "15.0"],
        ["pt", "25.0", "50.0", "-", "25.0"],
        ["", "-", "**80.0**", "5.0", "15.0"]]
    assert {r[5] for r in rows[1:]} == {"20"}


def test_no_decisive_vote_leaves_the_test_undefined():
    trials = [("t1", "en", "A", "B", "A", "n n"), ("t2", "en", "A", "B", "B", "n n")]
    key = hand_made_key(trials)
    ratings = pd.DataFrame({"listener": ["L1", "L2"] * 2, "trial_id": ["t1", "t1", "t2", "t2"],
                            "choice": "neutral"})
    row = analyze_ratings(ratings, key).iloc[0]
    assert row["neutral_percent"] == 100 and math.isnan(row["p_value"])
    assert not row["significant"] and row["winner"] == ""


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns="choice"), "missing column.*choice"),
    (lambda t: t.assign(choice=t["choice"].where(t.index != 3, "A")),
     "listener 'L4', trial t01: 'A' is not one of 1, 2, neutral"),
    (lambda t: pd.concat([t, t.iloc[[7]]]), "listener 'L3' rated trial t02 more than once"),
    (lambda t: t.assign(trial_id=t["trial_id"].replace("t16", "t99")), "not in the key: t99"),
    (lambda t: t.iloc[:0], "empty"),
])
def test_rating_errors_name_the_problem(tmp_path, change, message):
    table = pd.read_csv(write_ratings(tmp_path / "ratings.csv"), dtype=str)
    with pytest.raises(ValueError, match=message):
        analyze_ratings(change(table), hand_made_key())


def test_read_ratings_names_the_file(tmp_path):
    path = write_ratings(tmp_path / "ratings.csv")
    path.write_text(path.read_text().replace("L1,t01,2", "L1,t01,B"))
    with pytest.raises(ValueError, match=f"{path}: 1 bad choice"):
        read_ratings(path)


@pytest.mark.parametrize("change, message", [
    (lambda k: k.assign(system_1=k["system_1"].where(k.index != 2, "v2")),
     "trial t03: positions"),
    (lambda k: pd.concat([k, k.iloc[:1]]), "trial t01 is listed more than once"),
    (lambda k: k.drop(columns="system_2"), "missing column.*system_2"),
])
def test_key_errors_name_the_trial(tmp_path, change, message):
    path = tmp_path / "key.csv"
    change(hand_made_key()).to_csv(path, index=False)
    with pytest.raises(ValueError, match=message):
        read_key(path)


# -------------------------------------------------------------------------------- export

RATE = 16000
LEVELS = {"base": 0.02, "mlms": 0.3}  # far apart, so that normalization has work to do


def tone(frequency: float, rate: int, level: float, seconds: float = 1.0) -> np.ndarray:
    return level * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)


def write_pairs(folder: Path, groups: dict[str, int], rates: dict[str, int] | None = None
                ) -> tuple[Path, dict[tuple[str, str], float]]:
    """WAVs, a tone per (item, system) at a frequency of its own, and a pairs CSV (relative
    paths) comparing base (A) with mlms (B) on `groups[g]` items of each group g; returns the
    CSV and {(item, system): tone frequency}."""
    rates = {"base": RATE, "mlms": RATE, **(rates or {})}
    (folder / "wav").mkdir(parents=True, exist_ok=True)
    rows, frequencies = [], {}
    for group, count in groups.items():
        for k in range(count):
            row = {"item": f"{group}_{k}", "group": group}
            for side, system in (("a", "base"), ("b", "mlms")):
                frequencies[row["item"], system] = 200.0 + 30 * len(frequencies)
                name = f"wav/{row['item']}_{system}.wav"
                sf.write(folder / name, tone(frequencies[row["item"], system], rates[system],
                                             LEVELS[system]), rates[system])
                row.update({f"system_{side}": system, f"path_{side}": name})
            rows.append(row)
    csv = folder / "pairs.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv, frequencies


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    # an odd (en) and an even (fr) number of trials; base at 16 kHz, mlms at 22.05 kHz
    return write_pairs(tmp_path_factory.mktemp("pairs"), {"en": 5, "fr": 4},
                       rates={"mlms": 22050})


@pytest.fixture(scope="module")
def exported(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("ab")
    config = export_ab_test(read_pairs(source[0]), out, "mlms_ab", seed=0)
    return out, config


def key_of(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "mlms_ab_key.csv", dtype=str)


def trials_of(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "mlms_ab" / "trials.csv", dtype=str)


def dominant_frequency(path: Path) -> float:
    audio, rate = sf.read(path)
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[spectrum.argmax()])


def test_both_orders_are_balanced_per_group_and_pair(exported):
    key = key_of(exported[0])
    for (group, a, b), cell in key.groupby(["group", "system_a", "system_b"]):
        a_first = int((cell["system_1"] == a).sum())
        assert len(cell) // 2 <= a_first <= (len(cell) + 1) // 2, group
        assert 0 < a_first < len(cell), group  # both orders present
        assert set(cell.loc[cell["system_1"] != a, "system_1"]) == {b}


def test_the_key_maps_each_position_back_to_its_system(exported, source):
    out, _ = exported
    _, frequencies = source
    trials = trials_of(out).set_index("trial_id")
    for trial in key_of(out).itertuples():
        for position, system in ((1, trial.system_1), (2, trial.system_2)):
            path = out / "mlms_ab" / trials.loc[trial.trial_id, f"stimulus_{position}"]
            assert dominant_frequency(path) == pytest.approx(frequencies[trial.item, system],
                                                             abs=3), (trial.trial_id, position)


def test_stimuli_are_loudness_normalized_16_bit_at_the_highest_rate(exported):
    out, _ = exported
    meter = pyloudnorm.Meter(22050)
    trials = trials_of(out)
    for path in [*trials["stimulus_1"], *trials["stimulus_2"]]:
        info = sf.info(out / "mlms_ab" / path)
        assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
        audio, _ = sf.read(out / "mlms_ab" / path)
        assert meter.integrated_loudness(audio) == pytest.approx(-23.0, abs=0.5), path


def test_the_package_shows_trials_without_the_systems(exported):
    out, config = exported
    folder = out / "mlms_ab"
    assert config == folder / "config.json"
    settings = json.loads(config.read_text())
    assert (settings["test_id"], settings["trials"]) == ("mlms_ab", "trials.csv")
    assert list(settings["choices"]) == ["1", "2", "neutral"] and settings["question"]
    trials = trials_of(out)
    assert list(trials.columns) == ["trial_id", "group", "stimulus_1", "stimulus_2"]
    assert trials["trial_id"].tolist() == [f"trial{k}" for k in range(1, 10)]
    assert sorted(trials["group"]) == ["en"] * 5 + ["fr"] * 4
    assert set(key_of(out)["trial_id"]) == set(trials["trial_id"])
    served = [p for p in folder.rglob("*") if p.is_file()]
    assert len(served) == 2 + 2 * len(trials)
    for path in served:
        text = path.name if path.suffix == ".wav" else path.read_text()
        assert "base" not in text and "mlms" not in text.replace("mlms_ab", ""), path


def test_the_trial_order_is_shuffled(exported, source):
    # the pairs CSV lists en_0..en_4, fr_0..fr_3; trial1.. must not follow it
    items = key_of(exported[0]).sort_values("trial_id")["item"].tolist()
    assert items != pd.read_csv(source[0])["item"].tolist()


def test_the_same_seed_writes_the_same_package(exported, source, tmp_path):
    out, _ = exported
    export_ab_test(read_pairs(source[0]), tmp_path, "mlms_ab", seed=0)
    assert (tmp_path / "mlms_ab_key.csv").read_text() == (out / "mlms_ab_key.csv").read_text()
    for path in (out / "mlms_ab").rglob("*.wav"):
        relative = path.relative_to(out)
        assert (tmp_path / relative).read_bytes() == path.read_bytes(), relative


def test_another_seed_draws_another_order(exported, source, tmp_path):
    export_ab_test(read_pairs(source[0]), tmp_path, "mlms_ab", seed=1)
    columns = ["item", "system_1"]
    first = key_of(exported[0]).sort_values("item")[columns].to_numpy().tolist()
    second = key_of(tmp_path).sort_values("item")[columns].to_numpy().tolist()
    assert first != second


@pytest.fixture
def good_pairs(tmp_path):
    for name, system in (("a.wav", "base"), ("b.wav", "mlms")):
        sf.write(tmp_path / name, tone(300, RATE, LEVELS[system]), RATE)
    return pd.DataFrame({"item": ["u1", "u2"], "group": "en", "system_a": "base",
                         "path_a": str(tmp_path / "a.wav"), "system_b": "mlms",
                         "path_b": str(tmp_path / "b.wav")})


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns="path_b"), "pairs: missing column.*path_b"),
    (lambda t: t.iloc[:0], "pairs: the table is empty"),
    (lambda t: t.assign(item=["u1", " "]), "empty item"),
    (lambda t: t.assign(path_a=["/nonexistent/x.wav", t["path_a"][1]]),
     "item u1, system base: /nonexistent/x.wav: file not found"),
    (lambda t: t.assign(system_b="base"), "item u1: system_a and system_b are both 'base'"),
    (lambda t: pd.concat([t, t.iloc[:1]]), "item u1: base vs mlms in group en is listed more"),
    (lambda t: t.assign(system_a=["base", "mlms"], system_b=["mlms", "base"]),
     r"group en: .* both as \(A, B\) and as \(B, A\)"),
])
def test_pair_errors_name_the_problem(good_pairs, tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        export_ab_test(change(good_pairs), tmp_path / "out", "t")


def test_unreadable_audio_and_bad_test_ids_are_errors(good_pairs, tmp_path):
    (tmp_path / "b.wav").write_text("not audio")
    with pytest.raises(ValueError, match=r"b\.wav: cannot read audio"):
        export_ab_test(good_pairs, tmp_path / "out", "t")
    with pytest.raises(ValueError, match="test id"):
        export_ab_test(good_pairs, tmp_path / "out", "my test")


def test_read_pairs_names_the_file_and_resolves_relative_paths(source, tmp_path):
    csv, _ = source
    table = read_pairs(csv)
    assert Path(table["path_a"][0]) == csv.parent / "wav" / "en_0_base.wav"
    bad = tmp_path / "pairs.csv"
    pd.read_csv(csv).drop(columns="group").to_csv(bad, index=False)
    with pytest.raises(ValueError, match=f"{bad}: missing column.*group"):
        read_pairs(bad)


# ----------------------------------------------------------------------------------- CLI

def test_export_then_analysis_from_the_command_line(tmp_path):
    csv, _ = write_pairs(tmp_path / "pairs", {"en": 5, "fr": 2})
    out = tmp_path / "test"
    assert main(["eval", "preference-export", "--pairs", str(csv), "--out", str(out),
                 "--test-id", "demo", "--seed", "3"]) == 0
    key = pd.read_csv(out / "demo_key.csv", dtype=str)
    # l1 and l2 prefer mlms wherever it plays, l3 has no preference
    lines = ["listener,trial_id,choice"]
    for trial in key.itertuples():
        mlms = "1" if trial.system_1 == "mlms" else "2"
        lines += [f"l1,{trial.trial_id},{mlms}", f"l2,{trial.trial_id},{mlms}",
                  f"l3,{trial.trial_id},neutral"]
    (tmp_path / "ratings.csv").write_text("\n".join(lines) + "\n")
    analysis = tmp_path / "analysis"
    assert main(["eval", "preference-analyze", "--ratings", str(tmp_path / "ratings.csv"),
                 "--key", str(out / "demo_key.csv"), "--out", str(analysis)]) == 0
    table = pd.read_csv(analysis / "preferences.csv", keep_default_na=False).set_index("group")
    assert table["b_percent"].tolist() == pytest.approx([200 / 3, 200 / 3])
    # en: 10 of 10 decisive votes for mlms (p = 2 / 2^10); fr: 4 of 4 (p = 2 / 2^4)
    assert table.loc["en", "p_value"] == pytest.approx(2 / 2 ** 10)
    assert table["winner"].to_dict() == {"en": "mlms", "fr": ""}
    assert "| en | 0.0 | **66.7** | 33.3 | 15 |" in (analysis / "preferences.md").read_text()


def test_bad_ratings_on_the_command_line_name_the_file(tmp_path, caplog):
    key = tmp_path / "key.csv"
    hand_made_key().to_csv(key, index=False)
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("listener,trial_id,choice\nL1,t01,maybe\n")
    with caplog.at_level(logging.ERROR):
        assert main(["eval", "preference-analyze", "--ratings", str(ratings), "--key", str(key),
                     "--out", str(tmp_path / "o")]) == 2
    assert f"{ratings}: 1 bad choice" in caplog.text and "'maybe'" in caplog.text
    assert not (tmp_path / "o").exists()
