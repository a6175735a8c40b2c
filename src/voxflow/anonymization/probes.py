"""Linear probes on frozen features: how much phone and speaker information each layer carries.

kNN-VC (Baas et al. 2023) takes WavLM Large's layer 6 because early-to-middle layers were found
to carry both phonetic and speaker information; here that is measured on the features at hand
(Alain & Bengio 2016's linear probes, as in the layer-wise analyses of Pasad et al. 2021): for
each feature set (e.g. a trained SSL encoder, the same architecture randomly initialised, MFCCs
as one "layer") and each of its layers, a logistic regression on standardised frozen features of
the training utterances, scored on held-out utterances of the same speakers:

- phone: frame-level, the label of frame t of the 20 ms grid is the phone whose interval covers
  its centre (t + 0.5) * 0.02 s; at most `frames_per_utterance` labelled frames per utterance
  (seeded, the same frames for every feature set) keep a probe to seconds;
- speaker: utterance-level, the mean of the utterance's frames, closed set.

Intervals are 95 % Wilson score intervals over the held-out items: utterances for the speaker
task, frames for the phone task, where frames of one utterance are treated as independent
although they are not, so the phone interval is narrower than an utterance-level one would be.

    table = probe_layers({"ssl": lambda i: layer_features(trained, waves[i]),
                          "random": lambda i: layer_features(untrained, waves[i]),
                          "mfcc": lambda i: [mfcc39(waves[i])]},
                         speakers, phones, held_out_split(speakers, 0.25, seed=0))
    best_layer(table, task="phone", features="ssl")
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from voxflow.anonymization.audio import HOP, RATE

TASKS = ("phone", "speaker")
COLUMNS = ["features", "layer", "task", "accuracy", "ci_low", "ci_high", "n_test"]

# utterance i -> its layers [(frames, dim)]: a function, or a list indexed by utterance
LayerSource = Callable[[int], Sequence[np.ndarray]] | Sequence[Sequence[np.ndarray]]


@dataclass
class ProbeConfig:
    frames_per_utterance: int = 30  # phone task: labelled frames drawn per utterance (bounds
    #                                 the probe's cost; the rest of the frames are unused)
    c: float = 1.0                  # inverse L2 strength of the logistic regression (sklearn C)
    max_iter: int = 1000            # lbfgs iterations of the logistic regression
    confidence: float = 0.95        # of the Wilson intervals

    def __post_init__(self):
        if self.frames_per_utterance < 1:
            raise ValueError(f"frames_per_utterance must be >= 1, got "
                             f"{self.frames_per_utterance}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")


def frame_labels(phones, frames: int, hop_s: float = HOP / RATE) -> list[str | None]:
    """The label of each of `frames` frames: that of the interval (start, end, label) in seconds
    (tuples, or mappings with those keys as in the manifest's `phones`) covering the frame's
    centre (t + 0.5) * hop_s, start included; None where no interval covers it."""
    centres = (np.arange(frames) + 0.5) * hop_s
    labels: list[str | None] = [None] * frames
    for interval in phones:
        start, end, label = ((interval["start"], interval["end"], interval["label"])
                             if isinstance(interval, Mapping) else interval)
        if not end > start:
            raise ValueError(f"phone interval {interval} ends before it starts")
        for t in np.flatnonzero((centres >= start) & (centres < end)):
            labels[t] = label
    return labels


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion correct / n."""
    if n < 1 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n and n >= 1, got correct={correct}, n={n}")
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def held_out_split(speakers: Sequence[str], share: float, seed: int) -> np.ndarray:
    """(utterances,) bool, True for the held-out ones: `share` of each speaker's utterances
    (rounded, at least one, never all), drawn with `seed`."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share}")
    speakers = np.asarray(speakers)
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(speakers), bool)
    for speaker in sorted(set(speakers.tolist())):
        rows = np.flatnonzero(speakers == speaker)
        if len(rows) < 2:
            raise ValueError(f"speaker {speaker!r} has {len(rows)} utterance: a closed-set probe "
                             "needs one to train on and one to test")
        count = min(len(rows) - 1, max(1, round(share * len(rows))))
        held_out[rng.choice(rows, count, replace=False)] = True
    return held_out


def probe_layers(feature_sets: dict[str, LayerSource], speakers: Sequence[str],
                 phones: Sequence, held_out: Sequence[bool], config: ProbeConfig = ProbeConfig(),
                 seed: int = 0, tasks: Sequence[str] = TASKS) -> pd.DataFrame:
    """Probe accuracy of every layer of every feature set on held-out utterances.

    `feature_sets[name]` gives utterance i's layers [(frames, dim)], the same number for every
    utterance; `speakers[i]` its speaker, `phones[i]` its phone intervals (None: unaligned,
    left out of the phone task), `held_out[i]` True for test utterances. Returns a table with
    columns features, layer, task, accuracy, ci_low, ci_high, n_test (held-out frames or
    utterances)."""
    n = len(speakers)
    speakers = np.asarray(speakers)
    held_out = np.asarray(held_out, bool)
    if len(phones) != n or len(held_out) != n:
        raise ValueError(f"speakers ({n}), phones ({len(phones)}) and held_out "
                         f"({len(held_out)}) must have one entry per utterance")
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not feature_sets:
        raise ValueError(f"need feature sets and tasks among {TASKS}; got tasks {list(tasks)}, "
                         f"{len(feature_sets)} feature sets")
    if not held_out.any() or held_out.all():
        raise ValueError("held_out must mark some utterances, not all")
    if "speaker" in tasks:
        unseen = sorted(set(speakers[held_out]) - set(speakers[~held_out]))
        if unseen:
            raise ValueError(f"held-out speakers without training utterances: {unseen[:10]} "
                             "(the speaker probe is closed-set)")
    rows = []
    for name, source in feature_sets.items():
        get = source if callable(source) else source.__getitem__
        frames, frame_y, frame_utt, means = _collect(name, get, n, phones, config, seed)
        for layer in range(len(means)):
            if "phone" in tasks:
                test = held_out[frame_utt]
                rows.append(_row(name, layer, "phone", frames[layer], frame_y, test, config,
                                 seed))
            if "speaker" in tasks:
                rows.append(_row(name, layer, "speaker", means[layer], speakers, held_out,
                                 config, seed))
    return pd.DataFrame(rows, columns=COLUMNS)


def _collect(name: str, get: Callable[[int], Sequence[np.ndarray]], n: int, phones,
             config: ProbeConfig, seed: int):
    """Per layer: the drawn labelled frames (stacked) and the utterance means; the frames'
    labels and utterance indices."""
    frames: list[list[np.ndarray]] = []
    means: list[list[np.ndarray]] = []
    frame_y: list[str] = []
    frame_utt: list[int] = []
    for i in range(n):
        layers = [np.asarray(a, np.float32) for a in get(i)]
        if not frames:
            frames, means = [[] for _ in layers], [[] for _ in layers]
        if len(layers) != len(means) or not layers:
            raise ValueError(f"feature set {name!r}: utterance {i} has {len(layers)} layers, "
                             f"utterance 0 has {len(means)}")
        if any(a.ndim != 2 or len(a) != len(layers[0]) or len(a) == 0 for a in layers):
            raise ValueError(f"feature set {name!r}: utterance {i}'s layers must be non-empty "
                             f"(frames, dim) arrays of one frame count, got shapes "
                             f"{[a.shape for a in layers]}")
        picked, labels = _pick_frames(phones[i], len(layers[0]), config, seed, i)
        for layer, a in enumerate(layers):
            frames[layer].append(a[picked])
            means[layer].append(a.mean(axis=0))
        frame_y += labels
        frame_utt += [i] * len(picked)
    return ([np.concatenate(f) for f in frames], np.asarray(frame_y, dtype=object),
            np.asarray(frame_utt, int), [np.stack(m) for m in means])


def _pick_frames(phones, frames: int, config: ProbeConfig, seed: int, utterance: int
                 ) -> tuple[np.ndarray, list[str]]:
    """Up to frames_per_utterance labelled frames, drawn by (seed, utterance) alone so every
    feature set of the same frame count is probed on the same frames."""
    if phones is None:
        return np.zeros(0, int), []
    labels = frame_labels(phones, frames)
    labelled = np.array([t for t, label in enumerate(labels) if label is not None], int)
    rng = np.random.default_rng([seed, utterance])
    count = min(config.frames_per_utterance, len(labelled))
    picked = np.sort(rng.choice(labelled, count, replace=False))
    return picked, [labels[t] for t in picked]


def _row(name: str, layer: int, task: str, x: np.ndarray, y: np.ndarray, test: np.ndarray,
         config: ProbeConfig, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes = set(y[~test].tolist())
    if len(classes) < 2 or not test.any():
        raise ValueError(f"feature set {name!r}, {task} task: needs training items of at least "
                         f"two classes and held-out items, got {len(classes)} classes and "
                         f"{int(test.sum())} held-out items")
    probe = make_pipeline(StandardScaler(),
                          LogisticRegression(C=config.c, max_iter=config.max_iter,
                                             random_state=seed))
    probe.fit(x[~test], y[~test])
    correct = int((probe.predict(x[test]) == y[test]).sum())
    n_test = int(test.sum())
    low, high = wilson_interval(correct, n_test, config.confidence)
    return {"features": name, "layer": layer, "task": task, "accuracy": correct / n_test,
            "ci_low": low, "ci_high": high, "n_test": n_test}


def best_layer(table: pd.DataFrame, task: str = "phone", features: str = "ssl") -> int:
    """The layer of `features` with the highest `task` accuracy (the lowest such layer on
    ties)."""
    rows = table[(table["task"] == task) & (table["features"] == features)]
    if rows.empty:
        raise ValueError(f"the table has no rows for features {features!r}, task {task!r}")
    rows = rows.sort_values("layer", kind="stable")
    return int(rows["layer"].iloc[int(np.argmax(rows["accuracy"].to_numpy()))])
