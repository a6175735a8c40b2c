"""The MLMS evaluation (paper 002, section 4): figures 2 and 3 as tables and bar charts, the
synthesis distortions of the registered system against the WORLD analysis-synthesis bound, the
learned language codes, and the AB preference package of tables 2-3, as one
`voxflow.evaluation.report.Report` (`evaluate_models`, the mlms-evaluate stage's library call).

Models are named as `voxflow.mlms.training.find_models` reads them; each kind is scored on the
dev utterances it speaks:
- an MLMS system (a key of mlms.systems of kind mlms): every dev utterance of its languages, the
  training languages;
- a baseline (`<baselines system>/<speaker>`): its (language, speaker) pair's dev utterances;
- an adaptation (`<held-out language>/<setup>`, setup v1..v4 or scratch): the language's;
- the duration model: every dev utterance, its log frames per phone.
Whatever is present is evaluated: a missing kind leaves its rows, metrics and AB pairs out.

Dev MSE is `voxflow.mlms.training.utterance_mse` (normalised features, each utterance's mean over
its frames and dimensions). A cell's value is the mean over its utterances, each utterance
weighing alike, so that the 95 % Student-t interval over utterances
(`voxflow.evaluation.stats.mean_ci`) is the interval of that very mean. (The training's `dev_mse`,
its model selection, weighs utterances by their frames: it differs a little from these means.)

Metrics (`<name>_ci95`: half-width of the 95 % Student-t interval, NaN (written null) with fewer
than two utterances; `<name>_ci95_low` / `_ci95_high`: the bounds of a 95 % percentile interval of
BOOTSTRAP_RESAMPLES paired bootstrap resamples of the utterances, `scipy.stats.bootstrap`):
- `dev/mse_training_languages`, `_ci95`: mlms.evaluation.synthesis_system's dev MSE over every
  training-language dev utterance; the registry's gate metric (lower is better);
- `dev/mse_ratio_to_baselines`, `_ci95_low`, `_ci95_high`: that system's dev MSE over the
  baselines' on the same utterances (each utterance scored by its own pair's baseline);
- `adapt/<language>/<setup>/mse`, `_ci95`: figure 3's bars;
- `adapt/<language>/<setup>/mse_minus_scratch`, `_ci95`: a v-setup's paired difference with
  scratch over the same utterances (negative: the adaptation beats training from scratch);
- `synthesis/<metric>`, `_ci95`, `synthesis/<metric>_bound`, `synthesis/<metric>_margin`,
  `_margin_ci95` for each metric of `voxflow.mlms.features.METRICS` (mcd_db, f0_rmse_hz,
  vuv_error, bap_db), and `synthesis/utterances`: see "Synthesis" below;
- `duration/mse`, `_ci95`: the duration model's dev MSE.

Tables: `dev_mse` (every scored utterance of every acoustic model), `figure2` (speakers, language,
system, utterances, mse, mse_ci95; speakers "female" as the paper plots, and "all"), `figure3`
(language, setup, utterances, mse, mse_ci95, mse_minus_scratch, mse_minus_scratch_ci95),
`dev_mse_summary` (both figures' cells: the stage's DVC plots CSV), `synthesis` (per utterance),
`language_codes`. Figures: `figure2`, `figure3`, `language_codes`. Files: audio/<model>/<utt_id>.wav
(every utterance synthesised, scored or AB stimulus, by the model that spoke it: `Speech`),
preference/<AB_TEST_ID>/ (the AB package) and preference/<AB_TEST_ID>_key.csv (its hidden key,
outside the served folder).

Choices:
- Synthesis: the synthesis system generates the features of the first mlms.evaluation.utterances
  dev utterances (by utt_id) of each training-language speaker from their oracle durations, as
  the paper does (`voxflow.mlms.synthesis.generate_features`); WORLD synthesises them,
  post-filtered when mlms.evaluation.postfilter as the registered voice speaks; the waveform is
  analysed again and `voxflow.mlms.world.distortions` compares that with the natural features.
  This is the path `voxflow.mlms.features.analysis_synthesis_bound` measures for the natural
  features themselves, so a perfect acoustic model scores exactly the bound and the margin
  (distortion minus bound) is the acoustic model's own share.
- The bound is recomputed on those utterances rather than read from the features stage's
  analysis_synthesis.csv: that table holds the first mlms.evaluation.bound_utterances dev
  utterances of the cache, not necessarily these, and on the same utterances the margin is a
  paired difference with its own interval. It costs one more WORLD round trip per utterance.
- Figure 2 has the female speakers, as the paper ("evaluations were only conducted on the female
  speaker for each language"); the table also has every speaker. FEMALE is the corpus's code.
- AB package: table 2, per training language the first mlms.evaluation.preference_utterances dev
  utterances of its female speakers, the speaker's baseline (system A, as the paper) against the
  synthesis system (B); table 3, per held-out language as many of its dev utterances, every pair
  of TABLE3_SETUPS present (scratch is the paper's baseline A). Stimuli are synthesised as scored
  (oracle durations); `voxflow.evaluation.preference.export_ab_test` balances the orders and
  hides the systems, seeded by mlms.seed.
- Language codes: one panel per MLMS system with its code per training language and, in the
  adaptation source's panel, the code each v-setup learned for its held-out language; a 2-D PCA
  (sklearn) per panel, each system having its own language space.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import stats

from voxflow.evaluation.preference import export_ab_test
from voxflow.evaluation.report import Report
from voxflow.evaluation.stats import mean_ci
from voxflow.mlms.data import SequenceSet, acoustic_set, duration_set
from voxflow.mlms.features import METRICS
from voxflow.mlms.models import ADAPTATION_SETUPS
from voxflow.mlms.params import SCRATCH, MLMSParams
from voxflow.mlms.synthesis import generate_features
from voxflow.mlms.training import DURATION_MODEL, Predictor, load_model, utterance_mse
from voxflow.mlms.world import analyze, distortions, synthesize
from voxflow.wav import write_float_wav

log = logging.getLogger(__name__)

FEMALE = "F"                    # the gender column's code (speakers.tsv of the mlms corpus)
SYSTEM, BASELINE, ADAPTATION = "system", "baseline", "adaptation"     # acoustic model kinds
AB_TEST_ID = "mlms-ab"
TABLE3_SETUPS = (SCRATCH, "v2", "v3")   # the paper's table 3 compares these pairwise
BOOTSTRAP_RESAMPLES = 2000


def evaluate_models(params: MLMSParams, world_dir: Path, linguistic_dir: Path,
                    models: dict[str, Path], out_dir: Path) -> Report:
    """The report of every model of `models` (name -> model.pt, as `find_models` returns) on
    the dev set; writes the audio and the AB package into `out_dir` (the module docstring says
    what is in it)."""
    if not models:
        raise ValueError("no trained MLMS model to evaluate: the models folder has no "
                         "model.pt")
    kinds = {name: model_kind(params, name) for name in models}
    acoustic = {name: kind for name, kind in kinds.items() if kind}
    if not acoustic:
        raise ValueError(f"no acoustic model to evaluate among {', '.join(models)}")
    out_dir = Path(out_dir)
    dev = acoustic_set(Path(world_dir), Path(linguistic_dir), "dev")
    scores = dev_mse_table(models, acoustic, dev)
    figure2, figure3 = figure2_table(scores), figure3_table(scores)
    metrics = {**gate_metrics(params, scores), **adaptation_metrics(figure3)}
    tables = {"dev_mse": scores, "figure2": figure2, "figure3": figure3,
              "dev_mse_summary": summary_table(figure2, figure3)}
    figures = {name: plot(table) for name, plot, table in (
        ("figure2", figure2_plot, figure2), ("figure3", figure3_plot, figure3))
        if not table.empty}
    speech = Speech(params, models, dev, out_dir / "audio")
    if params.evaluation.synthesis_system in models:
        synthesis = synthesis_table(params, speech)
        metrics.update(synthesis_metrics(synthesis))
        tables["synthesis"] = synthesis
    if DURATION_MODEL in models:
        mse = utterance_mse(load_model(models[DURATION_MODEL]),
                            duration_set(Path(linguistic_dir), "dev"))
        metrics["duration/mse"], metrics["duration/mse_ci95"] = mean_ci(mse)
    codes = language_code_table(params, models, acoustic)
    if not codes.empty:
        tables["language_codes"] = codes
        figures["language_codes"] = language_code_plot(codes)
    pairs = preference_pairs(params, models, acoustic, dev)
    if pairs:
        export_preference(params, speech, pairs, out_dir / "preference")
    return Report(metrics=metrics, tables=tables, figures=figures)


def model_kind(params: MLMSParams, name: str) -> str | None:
    """SYSTEM, BASELINE or ADAPTATION for an acoustic model's name, None for the duration
    model; ValueError for a name that none of params.yaml's mlms section accounts for."""
    head, _, tail = name.partition("/")
    if name == DURATION_MODEL:
        return None
    if name in params.systems and params.systems[name].kind == "mlms":
        return SYSTEM
    if tail and head in params.systems and params.systems[head].kind == "baselines":
        return BASELINE
    if head in params.held_out_languages and tail in (*ADAPTATION_SETUPS, SCRATCH):
        return ADAPTATION
    raise ValueError(f"model {name!r}: not an mlms system, baseline (<system>/<speaker>), "
                     f"adaptation (<held-out language>/<setup>) or {DURATION_MODEL!r} of "
                     "params.yaml's mlms section")


def _label(name: str, kind: str) -> str:
    """The bar a model's scores belong to: the system, the baselines system or the setup."""
    head, _, tail = name.partition("/")
    return {SYSTEM: name, BASELINE: head, ADAPTATION: tail}[kind]


def _scored_utterances(model: Predictor, name: str, kind: str, dev: SequenceSet) -> SequenceSet:
    """The dev utterances a model speaks: its languages' (an adaptation: its held-out
    language's) of its speakers."""
    languages = [name.partition("/")[0]] if kind == ADAPTATION else model.net.languages
    return dev.where(language=languages, speaker=model.net.speakers)


def dev_mse_table(models: dict[str, Path], kinds: dict[str, str], dev: SequenceSet
                  ) -> pd.DataFrame:
    """One row per (acoustic model of `kinds`, dev utterance it speaks): model, kind, system
    (its bar), utt_id, language, speaker, gender, mse."""
    parts = []
    for name in kinds:
        model = load_model(models[name])
        data = _scored_utterances(model, name, kinds[name], dev)
        rows = data.rows[["utt_id", "language", "speaker", "gender"]].copy()
        rows.insert(0, "system", _label(name, kinds[name]))
        rows.insert(0, "kind", kinds[name])
        rows.insert(0, "model", name)
        rows["mse"] = utterance_mse(model, data)
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def _cells(scores: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean dev MSE with its interval and the utterance count per group of `by`."""
    rows = []
    for keys, group in scores.groupby(by, sort=True):
        mean, ci95 = mean_ci(group["mse"])
        rows.append({**dict(zip(by, keys)), "utterances": len(group), "mse": mean,
                     "mse_ci95": ci95})
    return pd.DataFrame(rows, columns=[*by, "utterances", "mse", "mse_ci95"])


def figure2_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Figure 2: the systems' and the baselines' dev MSE per training language, of the female
    speakers and of all: speakers, language, system, utterances, mse, mse_ci95."""
    training = scores[scores["kind"].isin([SYSTEM, BASELINE])]
    female = _cells(training[training["gender"] == FEMALE], ["language", "system"])
    every = _cells(training, ["language", "system"])
    return pd.concat([female.assign(speakers="female"), every.assign(speakers="all")],
                     ignore_index=True)[["speakers", *every.columns]]


def figure3_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Figure 3: each setup's dev MSE per held-out language, and a v-setup's paired difference
    with scratch: language, setup, utterances, mse, mse_ci95, mse_minus_scratch, _ci95."""
    adapted = scores[scores["kind"] == ADAPTATION].rename(columns={"system": "setup"})
    table = _cells(adapted, ["language", "setup"])
    # an utterance belongs to one language: pairing on utt_id pairs within a language
    paired = adapted[adapted["setup"] != SCRATCH].merge(
        adapted.loc[adapted["setup"] == SCRATCH, ["utt_id", "mse"]], on="utt_id",
        suffixes=("", "_scratch"))
    differences = {cell: mean_ci(group["mse"] - group["mse_scratch"])
                   for cell, group in paired.groupby(["language", "setup"])}
    cells = [differences.get(cell, (np.nan, np.nan))
             for cell in zip(table["language"], table["setup"])]
    table["mse_minus_scratch"] = [mean for mean, _ in cells]
    table["mse_minus_scratch_ci95"] = [ci95 for _, ci95 in cells]
    return table


def summary_table(figure2: pd.DataFrame, figure3: pd.DataFrame) -> pd.DataFrame:
    """Both figures' cells in one table: figure, speakers, language, system, utterances,
    mse_ci95, mse (last: the column DVC plots by default)."""
    columns = ["figure", "speakers", "language", "system", "utterances", "mse_ci95", "mse"]
    adapted = figure3.rename(columns={"setup": "system"}).assign(speakers="all")
    return pd.concat([figure2.assign(figure="figure2"), adapted.assign(figure="figure3")],
                     ignore_index=True)[columns]


def gate_metrics(params: MLMSParams, scores: pd.DataFrame) -> dict[str, float]:
    """dev/mse_training_languages and dev/mse_ratio_to_baselines of the synthesis system (none
    without it; no ratio without baselines)."""
    system = scores[scores["model"] == params.evaluation.synthesis_system]
    if system.empty:
        return {}
    metrics = dict(zip(("dev/mse_training_languages", "dev/mse_training_languages_ci95"),
                       mean_ci(system["mse"])))
    paired = system.merge(scores[scores["kind"] == BASELINE], on="utt_id",
                          suffixes=("", "_baseline"))
    if not paired.empty:
        ratio = "dev/mse_ratio_to_baselines"
        metrics[ratio] = float(paired["mse"].mean() / paired["mse_baseline"].mean())
        metrics[f"{ratio}_ci95_low"], metrics[f"{ratio}_ci95_high"] = _ratio_interval(
            paired["mse"].to_numpy(), paired["mse_baseline"].to_numpy(), params.seed)
    return metrics


def _ratio_interval(numerator: np.ndarray, denominator: np.ndarray, seed: int
                    ) -> tuple[float, float]:
    """95 % percentile interval of mean(numerator) / mean(denominator) over paired bootstrap
    resamples of the utterances; NaN for fewer than two utterances."""
    if len(numerator) < 2:
        return np.nan, np.nan
    interval = stats.bootstrap(
        (numerator, denominator), lambda a, b, axis: a.mean(axis) / b.mean(axis),
        paired=True, vectorized=True, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
        random_state=seed).confidence_interval
    return float(interval.low), float(interval.high)


def adaptation_metrics(figure3: pd.DataFrame) -> dict[str, float]:
    """adapt/<language>/<setup>/mse, _ci95 and, for a v-setup, mse_minus_scratch, _ci95."""
    metrics = {}
    for cell in figure3.itertuples():
        prefix = f"adapt/{cell.language}/{cell.setup}"
        metrics[f"{prefix}/mse"], metrics[f"{prefix}/mse_ci95"] = cell.mse, cell.mse_ci95
        if cell.setup != SCRATCH and not np.isnan(cell.mse_minus_scratch):
            metrics[f"{prefix}/mse_minus_scratch"] = cell.mse_minus_scratch
            metrics[f"{prefix}/mse_minus_scratch_ci95"] = cell.mse_minus_scratch_ci95
    return metrics


class Speech:
    """Dev utterances spoken by models from their oracle durations (`generate_features`, then
    WORLD, post-filtered when mlms.evaluation.postfilter), each (model, utterance) synthesised
    once in an evaluation and kept as audio_dir/<model name>/<utt_id>.wav: 32-bit float at
    world.sample_rate, as an untrained model's speech may exceed full scale."""

    def __init__(self, params: MLMSParams, models: dict[str, Path], dev: SequenceSet,
                 audio_dir: Path):
        self.params, self.models, self.dev, self.audio_dir = params, models, dev, audio_dir
        self._loaded: dict[str, Predictor] = {}
        self._written: set[Path] = set()

    def model(self, name: str) -> Predictor:
        if name not in self._loaded:
            self._loaded[name] = load_model(self.models[name])
        return self._loaded[name]

    def path(self, name: str, i: int) -> Path:
        """The WAV of dev utterance `i` (a row position of `dev`) spoken by model `name`."""
        rows = self.dev.rows
        path = self.audio_dir / name / f"{rows.at[i, 'utt_id']}.wav"
        if path not in self._written:
            features = generate_features(self.model(name), self.dev.phones[i],
                                         self.dev.durations[i], rows.at[i, "language"],
                                         rows.at[i, "speaker"])
            write_float_wav(path, synthesize(features, self.params.world,
                                             self.params.evaluation.postfilter),
                            self.params.world.sample_rate)
            self._written.add(path)
        return path

    def waveform(self, name: str, i: int) -> np.ndarray:
        """(samples,) float32: the WAV of `path`."""
        return sf.read(self.path(name, i), dtype="float32")[0]


def _first_utterances(rows: pd.DataFrame, count: int, by: str) -> list[int]:
    """Row positions of the first `count` utterances (by utt_id) of each value of `by`."""
    ordered = rows.sort_values("utt_id")
    return ordered.groupby(by, sort=True).head(count).index.tolist()


def synthesis_table(params: MLMSParams, speech: Speech) -> pd.DataFrame:
    """The synthesis distortions and their bound (module docstring) of the synthesis system on
    the first mlms.evaluation.utterances dev utterances of each of its speakers: utt_id,
    language, speaker, gender, <metric>, <metric>_bound per metric."""
    system = params.evaluation.synthesis_system
    net, dev = speech.model(system).net, speech.dev
    spoken = dev.rows[dev.rows["language"].isin(net.languages)
                      & dev.rows["speaker"].isin(net.speakers)]
    rows = []
    for i in _first_utterances(spoken, params.evaluation.utterances, "speaker"):
        natural = dev.targets[i]
        scores = distortions(natural, analyze(speech.waveform(system, i), params.world))
        bound = distortions(natural, analyze(synthesize(natural, params.world, postfilter=False),
                                             params.world))
        rows.append({**dev.rows.loc[i, ["utt_id", "language", "speaker", "gender"]],
                     **scores, **{f"{name}_bound": value for name, value in bound.items()}})
    log.info("%d dev utterances of %s scored against the WORLD bound", len(rows), system)
    return pd.DataFrame(rows)


def synthesis_metrics(synthesis: pd.DataFrame) -> dict[str, float]:
    """synthesis/<metric>, _ci95, _bound, _margin, _margin_ci95 per metric (module
    docstring)."""
    metrics: dict[str, float] = {"synthesis/utterances": len(synthesis)}
    for name in METRICS:
        prefix = f"synthesis/{name}"
        metrics[prefix], metrics[f"{prefix}_ci95"] = mean_ci(synthesis[name])
        metrics[f"{prefix}_bound"] = mean_ci(synthesis[f"{name}_bound"])[0]
        metrics[f"{prefix}_margin"], metrics[f"{prefix}_margin_ci95"] = mean_ci(
            synthesis[name] - synthesis[f"{name}_bound"])
    return metrics


def language_code_table(params: MLMSParams, models: dict[str, Path], kinds: dict[str, str]
                        ) -> pd.DataFrame:
    """The code vectors of every MLMS system (each training language) and of every v-setup (its
    held-out language, in the adaptation source's panel): panel, model, language, setup (empty
    for a system's own codes), pc1, pc2 (a PCA per panel), code_0..code_<L-1>."""
    rows = []
    for name, kind in kinds.items():
        if kind == BASELINE or (kind == ADAPTATION and name.endswith(f"/{SCRATCH}")):
            continue        # a baseline has no language space
        codes = load_model(models[name]).net.codes.codes
        language, _, setup = name.partition("/")
        chosen = [language] if kind == ADAPTATION else list(codes)
        panel = params.adaptation.source if kind == ADAPTATION else name
        rows += [{"panel": panel, "model": name, "language": lang, "setup": setup,
                  **{f"code_{k}": float(v) for k, v in enumerate(codes[lang].detach())}}
                 for lang in chosen]
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    vectors = [c for c in table.columns if c.startswith("code_")]
    for _, group in table.groupby("panel"):
        table.loc[group.index, ["pc1", "pc2"]] = _pca_2d(group[vectors].to_numpy())
    return table.sort_values(["panel", "setup", "model", "language"], ignore_index=True)[
        ["panel", "model", "language", "setup", "pc1", "pc2", *vectors]]


def _pca_2d(vectors: np.ndarray) -> np.ndarray:
    """(n, L) -> (n, 2) coordinates on the first two principal components (zeros where there
    are fewer components)."""
    from sklearn.decomposition import PCA

    points = np.zeros((len(vectors), 2))
    components = min(2, *vectors.shape)
    if len(vectors) > 1:
        points[:, :components] = PCA(components).fit_transform(vectors)
    return points


def preference_pairs(params: MLMSParams, models: dict[str, Path], kinds: dict[str, str],
                     dev: SequenceSet) -> list[dict]:
    """The AB comparisons of tables 2-3 (module docstring) whose models are present: dicts of
    item (dev row position), group (language), model_a, system_a, model_b, system_b."""
    system = params.evaluation.synthesis_system
    count = params.evaluation.preference_utterances
    rows = dev.rows
    pairs = []
    baselines = {name.partition("/")[2]: name for name, kind in kinds.items() if kind == BASELINE}
    if system in models:
        female = rows[(rows["gender"] == FEMALE) & rows["speaker"].isin(baselines)]
        for i in _first_utterances(female, count, "language"):
            baseline = baselines[rows.at[i, "speaker"]]
            pairs.append({"item": i, "group": rows.at[i, "language"], "model_a": baseline,
                          "system_a": _label(baseline, BASELINE), "model_b": system,
                          "system_b": system})
    held_out = rows[rows["language"].isin(params.held_out_languages)]
    for i in _first_utterances(held_out, count, "language"):
        language = rows.at[i, "language"]
        present = [setup for setup in TABLE3_SETUPS if f"{language}/{setup}" in models]
        pairs += [{"item": i, "group": language, "model_a": f"{language}/{a}", "system_a": a,
                   "model_b": f"{language}/{b}", "system_b": b}
                  for k, a in enumerate(present) for b in present[k + 1:]]
    return pairs


def export_preference(params: MLMSParams, speech: Speech, pairs: list[dict], out_dir: Path
                      ) -> Path:
    """Both sides of every pair spoken (`speech`) and exported as the AB package into `out_dir`
    (`export_ab_test`); returns its config.json."""
    table = []
    for pair in pairs:
        paths = {side: str(speech.path(pair[f"model_{side}"], pair["item"])) for side in "ab"}
        table.append({"item": speech.dev.rows.at[pair["item"], "utt_id"], "group": pair["group"],
                      "system_a": pair["system_a"], "path_a": paths["a"],
                      "system_b": pair["system_b"], "path_b": paths["b"]})
    return export_ab_test(pd.DataFrame(table), out_dir, AB_TEST_ID, seed=params.seed)


def _bar_chart(axis, table: pd.DataFrame, groups: str, bars: str, title: str) -> None:
    """Grouped bars of table.mse with mse_ci95 error bars: one group per value of `groups`, one
    bar per value of `bars`."""
    names = sorted(table[groups].unique())
    kinds = sorted(table[bars].unique())
    width = 0.8 / max(len(kinds), 1)
    for k, kind in enumerate(kinds):
        cells = table[table[bars] == kind].set_index(groups).reindex(names)
        axis.bar(np.arange(len(names)) + (k - (len(kinds) - 1) / 2) * width, cells["mse"],
                 width, yerr=cells["mse_ci95"].fillna(0), capsize=2, label=kind)
    axis.set_xticks(np.arange(len(names)), names)
    axis.set_ylabel("dev MSE (normalised)")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7)


def _figure(panels: int, width: float = 6.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, max(panels, 1), squeeze=False, figsize=(width * max(panels, 1), 3.5))


def figure2_plot(figure2: pd.DataFrame):
    """Figure 2's bars: female speakers (the paper's) and all speakers, per training language."""
    figure, axes = _figure(2)
    for axis, speakers in zip(axes[0], ("female", "all")):
        _bar_chart(axis, figure2[figure2["speakers"] == speakers], "language", "system",
                   f"Figure 2: dev MSE per training language, {speakers} speakers")
    figure.tight_layout()
    return figure


def figure3_plot(figure3: pd.DataFrame):
    """Figure 3's bars: each setup per held-out language."""
    figure, axes = _figure(1)
    _bar_chart(axes[0][0], figure3, "language", "setup",
               "Figure 3: dev MSE of the adaptations to held-out languages")
    figure.tight_layout()
    return figure


def language_code_plot(codes: pd.DataFrame):
    """A 2-D PCA scatter of each panel's language codes, adapted codes labelled with their
    setup."""
    panels = sorted(codes["panel"].unique())
    figure, axes = _figure(len(panels), width=4.5)
    for axis, panel in zip(axes[0], panels):
        points = codes[codes["panel"] == panel]
        for adapted, marker in ((False, "o"), (True, "^")):
            chosen = points[(points["setup"] != "") == adapted]
            axis.scatter(chosen["pc1"], chosen["pc2"], marker=marker,
                         label="adapted" if adapted else "training")
            for row in chosen.itertuples():
                label = f"{row.language} ({row.setup})" if adapted else row.language
                axis.annotate(label, (row.pc1, row.pc2), fontsize=7)
        axis.set_xlabel("PC 1")
        axis.set_ylabel("PC 2")
        axis.set_title(f"language codes of {panel}", fontsize=9)
        axis.legend(fontsize=7)
    figure.tight_layout()
    return figure
