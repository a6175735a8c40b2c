"""AB preference listening tests with a neutral option, as in tables 2-3 of Li & Zen 2016
(multi-language multi-speaker LSTM TTS): export of a test package and analysis of its ratings.

Export (`read_pairs`, `export_ab_test`): a pairs table, one row per comparison (item, group,
system_a, path_a, system_b, path_b; group is e.g. the language), becomes a folder that a web page
can present without knowing the systems:

    <out>/<test_id>/config.json         test id, question, choices, the trials file's name
    <out>/<test_id>/trials.csv          trial_id, group, stimulus_1, stimulus_2 (paths relative
                                        to the folder), in a seeded random order
    <out>/<test_id>/audio/<trial_id>_<1|2>.wav   16-bit mono WAVs
    <out>/<test_id>_key.csv             hidden key: trial_id, item, group, system_a, system_b,
                                        system_1, system_2 (the systems at positions 1 and 2)

Choices the paper leaves open, and why:
- Order: per (group, system_a, system_b) exactly half the trials play system A first (one more
  or less for an odd count, the seed decides which), so a bias for the first or second sample
  cancels within every cell of the tables.
- Anonymity: trial ids are numbered in the shuffled order, and every trial gets its own files
  named by trial and position, so neither names, order nor a file shared between trials tell
  the systems apart. The key lies outside the folder that is served. Every stimulus is
  resampled to one rate for the whole test, the highest among them (no system loses bandwidth),
  so file headers and sample-rate switches do not give the systems away either; lengths are
  kept (an AB page needs no equal lengths).
- Loudness: every stimulus is normalized (ITU-R BS.1770, pyloudnorm) to one target, lowered
  when a stimulus would otherwise peak above `peak_dbfs` (the MUSHRA export's rule).
- The group is shown in the trials table because the paper lets only native listeners of a
  language rate it: the web page routes listeners by group.

Analysis (`read_ratings`, `read_key`, `analyze_ratings`, `markdown_table`): one vote per
(listener, trial), choice "1", "2" or "neutral". Per group and system pair: the shares of votes
for A, for B and neutral (percent of all votes, summing to 100 as in tables 2-3), and a two-sided
exact sign test of A against B on the non-neutral votes (neutral votes are ties, dropped as the
sign test does; p is NaN without any non-neutral vote). A system is marked as significantly
preferred at p < ALPHA = 0.01, the paper's level, each cell on its own (the paper applies no
multiple-comparison correction); votes are taken as independent, as the paper does.
"""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import stats as sps_stats

from voxflow.evaluation.mushra import LoudnessTarget, check_test_id, resample, write_pcm16
from voxflow.evaluation.pairs import read_mono
from voxflow.evaluation.report import read_table, require_columns

log = logging.getLogger(__name__)

PAIRS_COLUMNS = ("item", "group", "system_a", "path_a", "system_b", "path_b")
KEY_COLUMNS = ("trial_id", "item", "group", "system_a", "system_b", "system_1", "system_2")
RATINGS_COLUMNS = ("listener", "trial_id", "choice")
# the answers a listener can give, with the label a page shows for each
CHOICES = {"1": "Sample 1", "2": "Sample 2", "neutral": "No preference"}
ALPHA = 0.01  # significance level of the sign test, the paper's p < 0.01
QUESTION = ("Please listen to both samples, then choose the one that sounds more natural, or "
            "'No preference' if you cannot tell them apart.")
_CELLS = ["group", "system_a", "system_b"]  # one analysis row (a cell of tables 2-3) each


# ---------------------------------------------------------------------------------- export

def read_pairs(csv: Path) -> pd.DataFrame:
    """The pairs table of a CSV (item,group,system_a,path_a,system_b,path_b), checked; relative
    paths are taken relative to the CSV's folder."""
    csv = Path(csv)
    table = read_table(csv, PAIRS_COLUMNS, "pairs")
    for column in ("path_a", "path_b"):
        # absolute, not resolved: a DVC-linked file keeps its workspace name; an absolute path
        # replaces the folder in the join; an empty cell stays empty for the check to name it
        table[column] = [os.path.abspath(csv.parent / p) if p else p for p in table[column]]
    return _check_pairs(table, str(csv))


def export_ab_test(pairs: pd.DataFrame, out_dir: Path, test_id: str, target_lufs: float = -23.0,
                   seed: int = 0, peak_dbfs: float = -1.0, question: str = QUESTION) -> Path:
    """Write the AB test of `pairs` (see the module docstring) under `out_dir`; returns the path
    of its config.json.

    `seed` draws which trials play system A first and the trial order. `peak_dbfs` is the
    highest sample peak allowed after normalization (headroom for inter-sample peaks)."""
    check_test_id(test_id)
    table = _check_pairs(pairs, "pairs")
    rate = _test_rate(table)
    paths = list(dict.fromkeys([*table["path_a"], *table["path_b"]]))
    # a first pass measures, the second writes: a whole test's audio may not fit in memory
    target = LoudnessTarget(target_lufs, peak_dbfs)
    loudness = {path: target.measure(_read(path, rate), rate, path) for path in paths}
    lufs = target.lufs()
    plan = _plan(table, seed)
    folder = Path(out_dir) / test_id
    stimuli = {1: [], 2: []}
    for trial in plan.itertuples():
        for position, path in ((1, trial.path_1), (2, trial.path_2)):
            stimulus = f"audio/{trial.trial_id}_{position}.wav"
            gain = 10 ** ((lufs - loudness[path]) / 20)
            write_pcm16(folder / stimulus, gain * _read(path, rate), rate)
            stimuli[position].append(stimulus)
    trials = pd.DataFrame({"trial_id": plan["trial_id"], "group": plan["group"],
                           "stimulus_1": stimuli[1], "stimulus_2": stimuli[2]})
    trials.to_csv(folder / "trials.csv", index=False)
    plan[list(KEY_COLUMNS)].to_csv(Path(out_dir) / f"{test_id}_key.csv", index=False)
    config = folder / "config.json"
    config.write_text(json.dumps({"test_id": test_id, "question": question, "choices": CHOICES,
                                  "trials": "trials.csv"}, indent=2, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    log.info("AB test %s: %d trials, %d groups, %d Hz, %.1f LUFS; key in %s_key.csv", test_id,
             len(plan), plan["group"].nunique(), rate, lufs, test_id)
    return config


def _check_pairs(pairs: pd.DataFrame, where: str) -> pd.DataFrame:
    """The pairs table as strings, after checking everything but the audio itself; errors name
    `where` (the file or "pairs") and the item."""
    require_columns(pairs, PAIRS_COLUMNS, where)
    if pairs.empty:
        raise ValueError(f"{where}: the table is empty")
    table = pairs[list(PAIRS_COLUMNS)].astype(str).reset_index(drop=True)
    for row in table.itertuples():
        empty = [c for c in PAIRS_COLUMNS if not getattr(row, c).strip()]
        if empty:
            raise ValueError(f"{where}: item {row.item!r}: empty {', '.join(empty)}")
        if row.system_a == row.system_b:
            raise ValueError(f"{where}: item {row.item}: system_a and system_b are both "
                             f"{row.system_a!r}")
        for system, path in ((row.system_a, row.path_a), (row.system_b, row.path_b)):
            if not Path(path).is_file():
                raise ValueError(f"{where}: item {row.item}, system {system}: {path}: file not "
                                 "found")
    duplicated = table[table.duplicated(_CELLS + ["item"])]
    if not duplicated.empty:
        row = duplicated.iloc[0]
        raise ValueError(f"{where}: item {row['item']}: {row['system_a']} vs {row['system_b']} "
                         f"in group {row['group']} is listed more than once")
    cells = set(zip(table["group"], table["system_a"], table["system_b"]))
    for group, a, b in sorted(cells):
        if (group, b, a) in cells:
            raise ValueError(f"{where}: group {group}: {a} and {b} are compared both as (A, B) "
                             "and as (B, A); name the same system A in every row of a pair")
    return table


def _test_rate(table: pd.DataFrame) -> int:
    """The highest sample rate among the stimuli (Hz), which all of them are resampled to."""
    rates = {}
    for path in dict.fromkeys([*table["path_a"], *table["path_b"]]):
        try:
            rates[path] = sf.info(path).samplerate
        except (sf.LibsndfileError, RuntimeError, OSError) as err:
            raise ValueError(f"{path}: cannot read audio ({err})") from err
    rate = max(rates.values())
    slower = sorted({r for r in rates.values() if r != rate})
    if slower:
        log.info("stimuli at %s Hz are resampled to the test's %d Hz",
                 ", ".join(map(str, slower)), rate)
    return rate


def _read(path: str, rate: int) -> np.ndarray:
    """The mono samples of `path` at `rate`."""
    audio, file_rate = read_mono(path)
    return resample(audio, file_rate, rate)


def _plan(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The pairs in trial order with trial_id, system_1, path_1, system_2, path_2: per
    (group, system_a, system_b) half the trials (a random one more for an odd count) play A
    first; the order is shuffled and trial ids (trial1, trial2, ..., zero-padded) follow it."""
    rng = np.random.default_rng(seed)
    a_first = np.zeros(len(table), bool)
    for _, rows in sorted(table.groupby(_CELLS).indices.items()):
        count = len(rows) // 2 + (int(rng.integers(2)) if len(rows) % 2 else 0)
        a_first[rng.permutation(rows)[:count]] = True
    order = rng.permutation(len(table))
    plan = table.iloc[order].reset_index(drop=True)
    a_first = a_first[order]
    width = len(str(len(plan)))
    plan.insert(0, "trial_id", [f"trial{k + 1:0{width}d}" for k in range(len(plan))])
    for position, (first, second) in ((1, ("a", "b")), (2, ("b", "a"))):
        for kind in ("system", "path"):
            plan[f"{kind}_{position}"] = np.where(a_first, plan[f"{kind}_{first}"],
                                                  plan[f"{kind}_{second}"])
    return plan


# -------------------------------------------------------------------------------- analysis

def read_ratings(csv: Path) -> pd.DataFrame:
    """The ratings of a CSV (listener,trial_id,choice; choice one of 1, 2, neutral), checked."""
    csv = Path(csv)
    return _check_ratings(read_table(csv, RATINGS_COLUMNS, "ratings"), str(csv))


def read_key(csv: Path) -> pd.DataFrame:
    """The hidden key an export wrote (<test_id>_key.csv), checked."""
    csv = Path(csv)
    return _check_key(read_table(csv, KEY_COLUMNS, "key"), str(csv))


def analyze_ratings(ratings: pd.DataFrame, key: pd.DataFrame) -> pd.DataFrame:
    """Preference shares and sign tests, one row per (group, system_a, system_b) rated.

    `ratings`: listener, trial_id, choice (as from `read_ratings`); `key`: the export's key (as
    from `read_key`). Columns: group, system_a, system_b, n (votes), votes_a, votes_b,
    votes_neutral, a_percent, b_percent, neutral_percent (of n), p_value (two-sided exact sign
    test of A vs B on the votes_a + votes_b non-neutral votes), significant (p_value < ALPHA),
    winner (the preferred system when significant, else "")."""
    ratings = _check_ratings(ratings, "ratings")
    key = _check_key(key, "key")
    unknown = sorted(set(ratings["trial_id"]) - set(key["trial_id"]))
    if unknown:
        raise ValueError(f"ratings for trial(s) not in the key: {', '.join(unknown[:5])}"
                         f"{' ...' if len(unknown) > 5 else ''} (ratings of another test?)")
    votes = ratings.merge(key, on="trial_id")
    chosen = np.where(votes["choice"] == "1", votes["system_1"], votes["system_2"])
    votes["vote"] = np.select([votes["choice"] == "neutral", chosen == votes["system_a"]],
                              ["neutral", "a"], "b")
    return pd.DataFrame([_cell(*names, cell["vote"])
                         for names, cell in votes.groupby(_CELLS, sort=True)])


def _cell(group: str, system_a: str, system_b: str, votes: pd.Series) -> dict:
    """One analysis row from the votes ("a", "b" or "neutral") of one cell."""
    counts = {v: int((votes == v).sum()) for v in ("a", "b", "neutral")}
    decisive = counts["a"] + counts["b"]
    p = (sps_stats.binomtest(counts["a"], decisive, 0.5).pvalue if decisive else math.nan)
    significant = bool(p < ALPHA)  # False for NaN
    winner = (system_a if counts["a"] > counts["b"] else system_b) if significant else ""
    n = len(votes)
    return {"group": group, "system_a": system_a, "system_b": system_b, "n": n,
            "votes_a": counts["a"], "votes_b": counts["b"], "votes_neutral": counts["neutral"],
            "a_percent": 100 * counts["a"] / n, "b_percent": 100 * counts["b"] / n,
            "neutral_percent": 100 * counts["neutral"] / n, "p_value": float(p),
            "significant": significant, "winner": winner}


def markdown_table(analysis: pd.DataFrame) -> str:
    """The analysis as a Markdown table in the shape of the paper's tables 2-3: one row per
    (group, pair), one column per system (its share where it is in the pair, "-" elsewhere,
    bold when significantly preferred), Neutral, n and p; the group named on its first row."""
    systems = list(dict.fromkeys(s for row in analysis.itertuples()
                                 for s in (row.system_a, row.system_b)))
    lines = [f"Subjective preference (%); bold: preferred at p < {ALPHA:g} (two-sided sign test "
             "on the non-neutral votes)", "",
             "| group | " + " | ".join(systems) + " | Neutral | n | p |",
             "|---|" + "---|" * (len(systems) + 3)]
    previous_group = None
    for row in analysis.itertuples():
        shares = {row.system_a: row.a_percent, row.system_b: row.b_percent}
        cells = []
        for system in systems:
            cell = f"{shares[system]:.1f}" if system in shares else "-"
            cells.append(f"**{cell}**" if system == row.winner else cell)
        p = "-" if math.isnan(row.p_value) else f"{row.p_value:.2g}"
        group = "" if row.group == previous_group else row.group
        previous_group = row.group
        lines.append(f"| {group} | " + " | ".join(cells) +
                     f" | {row.neutral_percent:.1f} | {row.n} | {p} |")
    return "\n".join(lines) + "\n"


def _check_ratings(ratings: pd.DataFrame, where: str) -> pd.DataFrame:
    """The ratings columns as strings, checked; errors name `where`, the listener and trial."""
    require_columns(ratings, RATINGS_COLUMNS, where)
    if ratings.empty:
        raise ValueError(f"{where}: the table is empty")
    table = ratings[list(RATINGS_COLUMNS)].astype(str).reset_index(drop=True)
    bad = table[~table["choice"].isin(list(CHOICES))]
    if not bad.empty:
        row = bad.iloc[0]
        raise ValueError(f"{where}: {len(bad)} bad choice(s), e.g. listener {row['listener']!r}, "
                         f"trial {row['trial_id']}: {row['choice']!r} is not one of "
                         f"{', '.join(CHOICES)}")
    duplicated = table[table.duplicated(["listener", "trial_id"])]
    if not duplicated.empty:
        row = duplicated.iloc[0]
        raise ValueError(f"{where}: listener {row['listener']!r} rated trial {row['trial_id']} "
                         "more than once")
    return table


def _check_key(key: pd.DataFrame, where: str) -> pd.DataFrame:
    """The key columns as strings, checked: one row per trial, positions holding its pair."""
    require_columns(key, KEY_COLUMNS, where)
    table = key[list(KEY_COLUMNS)].astype(str).reset_index(drop=True)
    duplicated = table["trial_id"][table["trial_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"{where}: trial {duplicated.iloc[0]} is listed more than once")
    for row in table.itertuples():
        if {row.system_1, row.system_2} != {row.system_a, row.system_b} or \
                row.system_a == row.system_b:
            raise ValueError(f"{where}: trial {row.trial_id}: positions ({row.system_1}, "
                             f"{row.system_2}) do not hold the pair ({row.system_a}, "
                             f"{row.system_b})")
    return table
