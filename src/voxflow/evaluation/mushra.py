"""MUSHRA listening tests (ITU-R BS.1534-3) run with webMUSHRA (github.com/audiolabs/webMUSHRA).

Export (`export_test`): a long table of stimuli (item, system, path[, metadata such as voice and
style]; system `reference` is the item's reference) becomes a webMUSHRA test folder:

    <out>/configs/<test_id>.yaml                                   the test configuration
    <out>/configs/resources/audio/<test_id>/<item>/<stimulus>.wav  16-bit mono WAV
    <out>/<test_id>_items.csv                                      trial_id -> item, metadata

Per item the stimuli are the reference (played from the reference button; webMUSHRA adds it as
the hidden reference among the conditions by itself, rated as `reference`), the low-pass anchors
`anchor35` and `anchor70` made here from the reference (webMUSHRA's own anchor names, so its
`createAnchor35/70` stay off) and one stimulus per system. Every stimulus of an item is resampled
to the reference's rate, cut or zero-padded to its length and loudness-normalized (ITU-R BS.1770,
pyloudnorm) to one target for the whole test; the target is lowered when a stimulus would
otherwise peak above `peak_dbfs`, so nothing clips.

Analysis (`read_ratings`, `analyze_ratings`): webMUSHRA's mushra.csv results are post-screened
(BS.1534-3 sec. 4.1.2: a listener who rates the hidden reference below 90 for more than 15% of
the items is dropped), then summarized per system (mean, 95% CI, relative MUSHRA = mean / mean of
the reference, as in the universal Parallel WaveNet vocoder paper), compared pairwise by paired
two-sided t-tests with Holm-Bonferroni correction, and broken down by item metadata (tables 2 and
3 of that paper).
"""
from __future__ import annotations

import logging
import math
import os
import re
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pyloudnorm
import soundfile as sf
import yaml
from scipy import signal as sps
from scipy import stats as sps_stats

from voxflow.evaluation.pairs import read_mono
from voxflow.evaluation.report import Report, read_table, require_columns
from voxflow.evaluation.stats import holm, mean_ci

log = logging.getLogger(__name__)

REFERENCE = "reference"
# webMUSHRA's names for the BS.1534-3 low-pass anchors, with their cut-off frequencies (Hz);
# listed from the better (7 kHz) to the worse anchor, the order used in tables and figures
ANCHORS = {"anchor70": 7000.0, "anchor35": 3500.0}
ANCHOR_STOPBAND_DB = 80.0      # attenuation of the anchors' filters from the cut-off up
ANCHOR_TRANSITION = 0.05       # transition band width, as a fraction of the cut-off
MAX_CONDITIONS = 12            # webMUSHRA's limit per page (hidden reference and anchors count)
MAX_DURATION_S = 300.0         # webMUSHRA's limit per stimulus
STIMULI_COLUMNS = ("item", "system", "path")
RATINGS_COLUMNS = ("listener", "trial_id", "stimulus", "score")
WEBMUSHRA_COLUMNS = ("session_test_id", "trial_id", "rating_stimulus", "rating_score")
INSTRUCTIONS = ("Please listen to the reference and to every condition, then rate the naturalness "
                "and audio quality (glitches, clicks, noise, ...) of each condition from 0 (bad) "
                "to 100 (excellent). One of the conditions is the reference itself.")
# item and system names become folder, file and YAML key names
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# ---------------------------------------------------------------------------------- export

def read_stimuli(csv: Path) -> pd.DataFrame:
    """The stimuli table of a CSV (item,system,path[,metadata...]); relative paths are taken
    relative to the CSV's folder."""
    csv = Path(csv)
    table = read_table(csv, STIMULI_COLUMNS, "stimuli", optional="metadata...")
    # absolute, not resolved: a DVC-linked file keeps its workspace name
    table["path"] = [os.path.abspath(p if Path(p).is_absolute() else csv.parent / p)
                     for p in table["path"]]
    return table


def export_test(stimuli: pd.DataFrame, out_dir: Path, test_id: str, target_lufs: float = -23.0,
                seed: int = 0, peak_dbfs: float = -1.0,
                instructions: str = INSTRUCTIONS) -> Path:
    """Write a webMUSHRA MUSHRA test for `stimuli` (see the module docstring) under `out_dir`;
    returns the path of its YAML configuration.

    `peak_dbfs` is the highest sample peak allowed after normalization (1 dB below full scale
    by default, headroom for inter-sample peaks). `seed` shuffles which item gets which trial
    id (trial1, trial2, ...), so ids do not follow the stimuli table; webMUSHRA shuffles the page
    and condition order for each listener itself."""
    check_test_id(test_id)
    table = _check_stimuli(stimuli)
    out_dir = Path(out_dir)
    items = list(dict.fromkeys(table["item"]))
    loudness, target = _loudness_and_target(table, items, target_lufs, peak_dbfs)
    trial_ids = _trial_ids(items, seed)
    audio_root = Path("configs", "resources", "audio", test_id)
    pages = []
    for item in sorted(items, key=trial_ids.get):
        rate, signals = _item_signals(table, item)
        paths = {}
        for name, audio in signals.items():
            gain = 10 ** ((target - loudness[item, name]) / 20)
            paths[name] = (audio_root / item / f"{name}.wav").as_posix()
            write_pcm16(out_dir / paths[name], gain * audio, rate)
        pages.append(_mushra_page(trial_ids[item], paths, instructions))
    config = out_dir / "configs" / f"{test_id}.yaml"
    config.write_text(yaml.safe_dump(_test_config(test_id, pages), sort_keys=False,
                                     allow_unicode=True, width=1000), encoding="utf-8")
    _items_table(table, items, trial_ids).to_csv(out_dir / f"{test_id}_items.csv", index=False)
    log.info("webMUSHRA test %s: %d items x (reference, %d anchors, %d systems) at %.1f LUFS",
             test_id, len(items), len(ANCHORS), table["system"].nunique() - 1, target)
    return config


def check_test_id(test_id: str) -> None:
    """ValueError unless `test_id` can name files and folders (letters, digits, '_-.')."""
    if not _NAME.match(test_id):
        raise ValueError(f"test id {test_id!r}: use letters, digits, '_', '-' and '.' only")


def _check_stimuli(stimuli: pd.DataFrame) -> pd.DataFrame:
    """The stimuli table as strings, after checking everything that can be checked without
    reading audio; errors name the item."""
    require_columns(stimuli, STIMULI_COLUMNS, "stimuli")
    if stimuli.empty:
        raise ValueError("stimuli: the table is empty")
    table = stimuli.astype({c: str for c in STIMULI_COLUMNS})
    for column in ("item", "system"):
        bad = [v for v in dict.fromkeys(table[column]) if not _NAME.match(v)]
        if bad:
            raise ValueError(f"stimuli: {column} name(s) {', '.join(map(repr, bad))}: use "
                             "letters, digits, '_', '-' and '.' only")
    reserved = sorted(set(table["system"]) & set(ANCHORS))
    if reserved:
        raise ValueError(f"stimuli: system name {reserved[0]!r} is reserved for the anchor made "
                         "from the reference")
    duplicated = table[table.duplicated(["item", "system"])]
    if not duplicated.empty:
        row = duplicated.iloc[0]
        raise ValueError(f"item {row['item']}: more than one row for system {row['system']!r}")
    systems = {item: set(group["system"]) for item, group in table.groupby("item", sort=False)}
    expected = next(iter(systems.values()))
    for item, present in systems.items():
        if REFERENCE not in present:
            raise ValueError(f"item {item}: no {REFERENCE!r} row (its reference)")
        if present != expected:
            raise ValueError(f"item {item}: systems {sorted(present)} differ from the first "
                             f"item's {sorted(expected)}")
    if len(expected) + len(ANCHORS) > MAX_CONDITIONS:
        raise ValueError(f"stimuli: {len(expected) - 1} systems; webMUSHRA shows at most "
                         f"{MAX_CONDITIONS} conditions per page, hidden reference and "
                         f"{len(ANCHORS)} anchors included")
    for column in _metadata_columns(table):
        varying = table.groupby("item", sort=False)[column].nunique(dropna=False) > 1
        if varying.any():
            raise ValueError(f"item {varying.idxmax()}: {column} differs between its rows")
    return table


def _metadata_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in STIMULI_COLUMNS]


def _item_signals(table: pd.DataFrame, item: str) -> tuple[int, dict[str, np.ndarray]]:
    """(rate, {stimulus name: samples}) of one item: reference, anchors, then the systems, all
    at the reference's rate and length."""
    rows = table[table["item"] == item].set_index("system")["path"]
    reference, rate = read_mono(rows[REFERENCE])
    if len(reference) > MAX_DURATION_S * rate:
        raise ValueError(f"item {item}: reference is longer than webMUSHRA's {MAX_DURATION_S:g} s")
    signals = {REFERENCE: reference}
    for name, cutoff in ANCHORS.items():
        signals[name] = _lowpass(reference, rate, cutoff, f"item {item}")
    for system, path in rows.drop(REFERENCE).items():
        audio, system_rate = read_mono(path)
        signals[system] = _conform(audio, system_rate, rate, len(reference), f"item {item}, "
                                   f"system {system}")
    return rate, signals


def _lowpass(audio: np.ndarray, rate: int, cutoff: float, where: str) -> np.ndarray:
    """BS.1534-3 anchor: `audio` low-passed at `cutoff` Hz by a zero-phase linear-phase FIR
    (Kaiser window) that passes up to 0.95 x cutoff and attenuates by >= 80 dB from the cut-off
    up, so the anchor has no content above the cut-off and keeps the band below unchanged."""
    if cutoff >= rate / 2:
        raise ValueError(f"{where}: the reference's rate ({rate} Hz) cannot hold content above "
                         f"the {cutoff / 1000:g} kHz anchor's cut-off")
    width = ANCHOR_TRANSITION * cutoff
    taps, beta = sps.kaiserord(ANCHOR_STOPBAND_DB, width / (rate / 2))
    taps |= 1  # odd length: the 'same' convolution below then removes the delay exactly
    kernel = sps.firwin(taps, cutoff - width / 2, window=("kaiser", beta), fs=rate)
    return sps.oaconvolve(audio, kernel, mode="same")


def _conform(audio: np.ndarray, rate: int, target_rate: int, length: int,
             where: str) -> np.ndarray:
    """`audio` resampled to `target_rate` and cut or zero-padded to `length` samples
    (webMUSHRA requires the same rate and length for all stimuli of a page)."""
    audio = resample(audio, rate, target_rate)
    if abs(len(audio) - length) > 0.1 * target_rate:
        log.warning("%s: length %.2f s differs from the reference's %.2f s; cut/padded", where,
                    len(audio) / target_rate, length / target_rate)
    return np.pad(audio[:length], (0, max(0, length - len(audio))))


def resample(audio: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """`audio` (samples at `rate`) resampled to `target_rate` (polyphase, scipy's default
    Kaiser window)."""
    if rate == target_rate:
        return audio
    common = math.gcd(rate, target_rate)
    return sps.resample_poly(audio, target_rate // common, rate // common)


def _loudness(audio: np.ndarray, rate: int, where: str) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770) of `audio`."""
    try:
        value = pyloudnorm.Meter(rate).integrated_loudness(audio)
    except ValueError as err:  # shorter than one 400 ms gating block
        raise ValueError(f"{where}: cannot measure loudness ({err})") from None
    if not np.isfinite(value):
        raise ValueError(f"{where}: silent (below the BS.1770 absolute gate)")
    return float(value)


class LoudnessTarget:
    """The one loudness all stimuli of a test are normalized to: `target_lufs`, or lower by the
    headroom the loudest-peaking stimulus needs to stay at or below `peak_dbfs` (sample peak).

    `measure` every stimulus first, then read `lufs()`; the gain of a stimulus is
    10 ** ((lufs() - its loudness) / 20)."""

    def __init__(self, target_lufs: float, peak_dbfs: float):
        self.target_lufs = target_lufs
        self.peak_dbfs = peak_dbfs
        self._worst_peak, self._worst = -math.inf, ""

    def measure(self, audio: np.ndarray, rate: int, where: str) -> float:
        """Integrated loudness (LUFS, ITU-R BS.1770) of `audio`; its peak counts for `lufs`."""
        loudness = _loudness(audio, rate, where)
        peak = 20 * np.log10(np.abs(audio).max()) + self.target_lufs - loudness
        if peak > self._worst_peak:
            self._worst_peak, self._worst = peak, where
        return loudness

    def lufs(self) -> float:
        """The target loudness of every stimulus measured so far."""
        if self._worst_peak <= self.peak_dbfs:
            return self.target_lufs
        target = self.target_lufs - (self._worst_peak - self.peak_dbfs)
        log.warning("target loudness lowered from %.1f to %.2f LUFS: at %.1f LUFS %s would peak "
                    "at %+.1f dBFS (limit %+.1f dBFS)", self.target_lufs, target,
                    self.target_lufs, self._worst, self._worst_peak, self.peak_dbfs)
        return target


def _loudness_and_target(table: pd.DataFrame, items: list[str], target_lufs: float,
                         peak_dbfs: float) -> tuple[dict[tuple[str, str], float], float]:
    """({(item, stimulus): loudness}, the test's target loudness, see `LoudnessTarget`).

    A first pass over the audio, which is read again for writing rather than kept: a whole
    test's audio may not fit in memory."""
    target, loudness = LoudnessTarget(target_lufs, peak_dbfs), {}
    for item in items:
        rate, signals = _item_signals(table, item)
        for name, audio in signals.items():
            loudness[item, name] = target.measure(audio, rate, f"item {item}, stimulus {name}")
    return loudness, target.lufs()


def write_pcm16(path: Path, audio: np.ndarray, rate: int) -> None:
    """`audio` (floats in [-1, 1]) as a 16-bit mono WAV at `path` (folders made)."""
    # quantized here rather than by libsndfile so that the scaling (and no clipping) is explicit
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.round(audio * 32767).astype(np.int16), rate, subtype="PCM_16")


def _trial_ids(items: list[str], seed: int) -> dict[str, str]:
    """{item: trial id}: trial1, trial2, ... (zero-padded) in a seeded random order."""
    width = len(str(len(items)))
    order = np.random.default_rng(seed).permutation(len(items))
    return {items[i]: f"trial{k + 1:0{width}d}" for k, i in enumerate(order)}


def _mushra_page(trial_id: str, paths: dict[str, str], instructions: str) -> dict:
    """One webMUSHRA mushra page; `paths` maps stimulus names (reference first) to paths."""
    return {"type": "mushra", "id": trial_id, "name": "MUSHRA", "content": instructions,
            "showWaveform": True, "enableLooping": True, "reference": paths[REFERENCE],
            "createAnchor35": False, "createAnchor70": False,
            "stimuli": {name: path for name, path in paths.items() if name != REFERENCE}}


def _test_config(test_id: str, pages: list[dict]) -> dict:
    """The webMUSHRA configuration (as in its configs/default.yaml): a welcome page, the mushra
    pages in a random block, a finish page that sends the results with a listener field."""
    return {
        "testname": f"MUSHRA {test_id}", "testId": test_id, "bufferSize": 2048,
        "stopOnErrors": True, "showButtonPreviousPage": True,
        "remoteService": "service/write.php",
        "pages": [
            {"type": "generic", "id": "welcome", "name": "Welcome",
             "content": "Welcome to this listening test. Please use headphones in a quiet room "
                        "and set a comfortable volume before you start; keep it unchanged."},
            ["random", *pages],
            {"type": "finish", "name": "Thank you", "content": "Thank you for taking part!",
             "popupContent": "Your results were sent. Thank you!", "showResults": False,
             "writeResults": True,
             "questionnaire": [{"type": "text", "label": "Listener ID or e-mail",
                                "name": "email"}]},
        ],
    }


def _items_table(table: pd.DataFrame, items: list[str], trial_ids: dict[str, str]
                 ) -> pd.DataFrame:
    """trial_id, item and the item's metadata columns, one row per trial."""
    metadata = table.drop_duplicates("item").set_index("item")[_metadata_columns(table)]
    rows = pd.DataFrame({"trial_id": [trial_ids[i] for i in items], "item": items})
    rows = rows.join(metadata, on="item")
    return rows.sort_values("trial_id", ignore_index=True)


# -------------------------------------------------------------------------------- analysis

def read_ratings(*csv_paths: Path, listener: str | None = None) -> pd.DataFrame:
    """Ratings (listener, trial_id, stimulus, score) of webMUSHRA mushra.csv result files.

    Those files hold session_test_id, the finish page's questionnaire answers, session_uuid
    (newer webMUSHRA), trial_id, rating_stimulus, rating_score, rating_time, rating_comment.
    The listener is the `listener` column if given, else session_uuid, else the questionnaire
    answers joined by " | " (older webMUSHRA writes no session id)."""
    if not csv_paths:
        raise ValueError("no ratings file given")
    table = pd.concat([_read_ratings_file(Path(p), listener) for p in csv_paths],
                      ignore_index=True)
    tests = sorted(table.pop("test_id").unique())
    if len(tests) > 1:
        raise ValueError(f"ratings of several tests ({', '.join(tests)}): trial ids are only "
                         "meaningful within one test")
    return table


def _read_ratings_file(path: Path, listener: str | None) -> pd.DataFrame:
    raw = read_table(path, WEBMUSHRA_COLUMNS, "ratings (webMUSHRA mushra.csv)")
    columns = list(raw.columns)
    if listener is not None:
        require_columns(raw, (listener,), str(path))
        who = raw[listener]
    elif "session_uuid" in columns:
        who = raw["session_uuid"]
    else:
        questionnaire = columns[columns.index("session_test_id") + 1:columns.index("trial_id")]
        if not questionnaire:
            raise ValueError(f"{path}: neither session_uuid nor questionnaire columns tell the "
                             "listeners apart; pass the listener column")
        who = raw[questionnaire].agg(" | ".join, axis=1)
    score = pd.to_numeric(raw["rating_score"], errors="coerce")
    if score.isna().any():
        row = int(score.isna().to_numpy().argmax())
        raise ValueError(f"{path}: line {row + 2}: rating_score "
                         f"{raw['rating_score'].iloc[row]!r} is not a number")
    return pd.DataFrame({"test_id": raw["session_test_id"], "listener": who,
                         "trial_id": raw["trial_id"], "stimulus": raw["rating_stimulus"],
                         "score": score.astype(float)})


def analyze_ratings(ratings: pd.DataFrame, items: pd.DataFrame | None = None,
                    reference: str = REFERENCE, threshold: float = 90,
                    max_fraction: float = 0.15, by=("voice", "style"),
                    systems=None) -> Report:
    """Post-screening, per-system statistics, paired t-tests and breakdowns of MUSHRA ratings.

    `ratings`: columns listener, trial_id, stimulus, score (0-100), as from `read_ratings`.
    `items`: the export's items table (trial_id and metadata), needed for the breakdowns by the
    `by` columns it has. `systems`: the stimuli compared pairwise; by default every one but the
    reference and the anchors (their gap to the systems is large and not in question).

    Tables: listeners (screening: items, hidden reference below `threshold`, kept, reason),
    systems (n, mean, ci95, rel = mean / reference mean over the kept ratings), pairs (paired
    two-sided t-tests on (listener, trial), p and p_holm: Holm-Bonferroni over all pairs), and
    by_<column>: per group the means, rel and Holm-adjusted p of each pair, corrected over all
    (group, pair) tests of that table; its Overall row repeats the pairs table's p_holm.
    Figure: boxplot of the ratings per system."""
    ratings = _check_ratings(ratings)
    if items is not None:
        ratings = _join_items(ratings, items, [c for c in by if c in items.columns])
    screening = _screen(ratings, reference, threshold, max_fraction)
    kept = ratings[ratings["listener"].isin(screening.loc[screening["kept"], "listener"])]
    order = _system_order(kept, reference)
    compared = list(systems) if systems is not None else [
        s for s in order if s != reference and s not in ANCHORS]
    unknown = [s for s in compared if s not in order]
    if unknown:
        raise ValueError(f"system(s) {', '.join(unknown)} have no ratings (rated: "
                         f"{', '.join(order)})")
    summary = _summary(kept, order, reference)
    pairs = _pair_tests(kept, compared)
    pairs["p_holm"] = _holm_finite(pairs["p"])
    tables = {"listeners": screening, "systems": summary, "pairs": pairs}
    for column in (c for c in by if c in kept.columns):
        tables[f"by_{column}"] = _breakdown(kept, column, order, reference, compared, pairs)
    metrics = {"listeners_kept": int(screening["kept"].sum()),
               "listeners_dropped": int((~screening["kept"]).sum()), "ratings": len(kept)}
    for row in summary.itertuples():
        metrics.update({f"mushra_mean_{row.system}": row.mean,
                        f"mushra_ci95_{row.system}": row.ci95,
                        f"mushra_rel_{row.system}": row.rel})
    return Report(metrics=metrics, tables=tables, figures={"ratings": _boxplot(kept, order)})


def _check_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """The ratings columns, typed (ids as strings, score as float) and checked."""
    require_columns(ratings, RATINGS_COLUMNS, "ratings")
    if ratings.empty:
        raise ValueError("ratings: the table is empty")
    table = ratings[list(RATINGS_COLUMNS)].astype({"listener": str, "trial_id": str,
                                                   "stimulus": str})
    table["score"] = pd.to_numeric(table["score"], errors="coerce")
    bad = table[~table["score"].between(0, 100)]  # NaN is not between either
    if not bad.empty:
        row = bad.iloc[0]
        raise ValueError(f"ratings: {len(bad)} score(s) not in 0-100, e.g. {row['score']} by "
                         f"listener {row['listener']} for {row['stimulus']} in {row['trial_id']}")
    duplicated = table[table.duplicated(["listener", "trial_id", "stimulus"])]
    if not duplicated.empty:
        row = duplicated.iloc[0]
        raise ValueError(f"ratings: listener {row['listener']!r} rated {row['stimulus']} in "
                         f"{row['trial_id']} more than once (did one listener id cover several "
                         "sessions? choose another listener column)")
    return table


def _join_items(ratings: pd.DataFrame, items: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`ratings` with the items' `columns` joined on trial_id."""
    require_columns(items, ("trial_id", *columns), "items")
    items = items.astype({"trial_id": str})
    if items["trial_id"].duplicated().any():
        raise ValueError(f"items: trial {items['trial_id'][items['trial_id'].duplicated()].iloc[0]}"
                         " is listed more than once")
    unknown = sorted(set(ratings["trial_id"]) - set(items["trial_id"]))
    if unknown:
        raise ValueError(f"ratings for trial(s) not in items: {', '.join(unknown[:5])}"
                         f"{' ...' if len(unknown) > 5 else ''}")
    return ratings.merge(items[["trial_id", *columns]], on="trial_id", how="left")


def _screen(ratings: pd.DataFrame, reference: str, threshold: float,
            max_fraction: float) -> pd.DataFrame:
    """One row per listener: items (trials with a hidden reference rating), reference_below
    (those rated below `threshold`), fraction_below, kept, reason (empty when kept)."""
    hidden = ratings[ratings["stimulus"] == reference]
    if hidden.empty:
        raise ValueError(f"no ratings of the hidden reference {reference!r} (stimuli rated: "
                         f"{', '.join(sorted(ratings['stimulus'].unique()))})")
    rows = []
    for listener in sorted(ratings["listener"].unique()):
        scores = hidden.loc[hidden["listener"] == listener, "score"]
        below = int((scores < threshold).sum())
        fraction = below / len(scores) if len(scores) else math.nan
        if scores.empty:
            reason = "no hidden reference ratings"
        elif fraction > max_fraction:
            reason = (f"hidden reference below {threshold:g} in {below} of {len(scores)} items "
                      f"({fraction:.1%} > {max_fraction:.1%})")
        else:
            reason = ""
        rows.append({"listener": listener, "items": len(scores), "reference_below": below,
                     "fraction_below": fraction, "kept": not reason, "reason": reason})
    table = pd.DataFrame(rows)
    for row in table[~table["kept"]].itertuples():
        log.info("listener %s dropped: %s", row.listener, row.reason)
    if not table["kept"].any():
        raise ValueError("post-screening excluded every listener: " + "; ".join(
            f"{row.listener}: {row.reason}" for row in table.itertuples()))
    return table


def _system_order(ratings: pd.DataFrame, reference: str) -> list[str]:
    """Reference, the systems by decreasing mean, then the anchors."""
    means = ratings.groupby("stimulus")["score"].mean()
    systems = sorted((s for s in means.index if s != reference and s not in ANCHORS),
                     key=lambda s: (-means[s], s))
    return [reference, *systems, *(a for a in ANCHORS if a in means.index)]


def _summary(ratings: pd.DataFrame, order: list[str], reference: str) -> pd.DataFrame:
    """system, n, mean, ci95 (half-width), rel (mean / the reference's mean)."""
    rows = []
    for system in order:
        scores = ratings.loc[ratings["stimulus"] == system, "score"]
        mean, ci95 = mean_ci(scores)
        rows.append({"system": system, "n": len(scores), "mean": mean, "ci95": ci95})
    table = pd.DataFrame(rows)
    table["rel"] = table["mean"] / table.loc[table["system"] == reference, "mean"].iloc[0]
    return table


def _pair_tests(ratings: pd.DataFrame, systems: list[str]) -> pd.DataFrame:
    """Paired two-sided t-test of every pair of `systems`, paired on (listener, trial): columns
    system_a, system_b, n_pairs, mean_a, mean_b, mean_difference (a - b), t, p. t and p are NaN
    when undefined: fewer than 2 pairs, or differences without variance."""
    wide = ratings.pivot(index=["listener", "trial_id"], columns="stimulus", values="score")
    rows = []
    for a, b in combinations(systems, 2):
        both = wide.reindex(columns=[a, b]).dropna()
        t = p = math.nan
        if len(both) >= 2 and np.ptp(both[a] - both[b]) > 0:
            t, p = sps_stats.ttest_rel(both[a], both[b])
        rows.append({"system_a": a, "system_b": b, "n_pairs": len(both),
                     "mean_a": both[a].mean(), "mean_b": both[b].mean(),
                     "mean_difference": (both[a] - both[b]).mean(), "t": float(t),
                     "p": float(p)})
    return pd.DataFrame(rows, columns=["system_a", "system_b", "n_pairs", "mean_a", "mean_b",
                                       "mean_difference", "t", "p"])


def _holm_finite(p_values) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values over the finite ones (undefined tests stay NaN)."""
    p = np.asarray(p_values, float)
    adjusted = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    adjusted[finite] = holm(p[finite])
    return adjusted


def _means(ratings: pd.DataFrame, order: list[str], reference: str) -> dict[str, float]:
    """mean_<system> for every system and rel_<system> for every one but the reference."""
    means = ratings.groupby("stimulus")["score"].mean().reindex(order)
    row = {f"mean_{s}": means[s] for s in order}
    row.update({f"rel_{s}": means[s] / means[reference] for s in order if s != reference})
    return row


def _breakdown(ratings: pd.DataFrame, column: str, order: list[str], reference: str,
               compared: list[str], overall_pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per value of `column` and an Overall row: n_trials, means, rel, and
    p_<a>_vs_<b>, Holm-adjusted over all (group, pair) tests of this table; the Overall row
    takes the overall tests' adjusted p (pairs table)."""
    groups = list(ratings.groupby(column, sort=True, dropna=False))
    tests = pd.concat([_pair_tests(group, compared).assign(group=i)
                       for i, (_, group) in enumerate(groups)], ignore_index=True)
    tests["p_holm"] = _holm_finite(tests["p"])
    rows = []
    for i, (value, group) in enumerate(groups):
        rows.append({column: value, "n_trials": group["trial_id"].nunique(),
                     **_means(group, order, reference),
                     **_p_columns(tests[tests["group"] == i])})
    rows.append({column: "Overall", "n_trials": ratings["trial_id"].nunique(),
                 **_means(ratings, order, reference), **_p_columns(overall_pairs)})
    return pd.DataFrame(rows)


def _p_columns(tests: pd.DataFrame) -> dict[str, float]:
    return {f"p_{row.system_a}_vs_{row.system_b}": row.p_holm for row in tests.itertuples()}


def _boxplot(ratings: pd.DataFrame, order: list[str]):
    """Box plot (with means as triangles) of the ratings of each system, in `order`."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1.0 + 0.9 * len(order), 4.5))
    axes = figure.add_subplot()
    axes.boxplot([ratings.loc[ratings["stimulus"] == s, "score"] for s in order],
                 showmeans=True)
    axes.set_xticks(range(1, len(order) + 1), order, rotation=30, ha="right")
    axes.set_ylim(-2, 102)
    axes.set_ylabel("MUSHRA score")
    axes.set_title(f"{ratings['listener'].nunique()} listeners, "
                   f"{ratings['trial_id'].nunique()} trials")
    axes.grid(axis="y", alpha=0.3)
    return figure
