"""The MLMS system's training data: the linguistic feature stage, normalisation, and utterance
sets in memory.

`extract_linguistic` is the cached linguistic stage (`voxflow.features.cache`): per utterance of
the mlms manifest with WORLD features, `<split>/<utt_id>.phones.npy` (phones, D_phone) float32
(`voxflow.mlms.linguistic.phone_features`) and `.durations.npy` (phones,) int64, frames per
phone from the alignment (the paper's oracle durations), summing to the utterance's WORLD frame
count; listed in `index.parquet` (INDEX_COLUMNS). Beside them `spec.json` (the phone inventory:
the union of every language's phones, the held-out languages' included, so an adapted model
reads them) and `lexicon.json` (from the train split). Frame-level inputs are expanded from
the phone features when a batch is drawn (`frame_features`: 4 columns more), which keeps the
cache small.

`SequenceSet` holds one split's utterances as (inputs, targets) sequences with their language
and speaker: the acoustic model's (frames: linguistic -> 49 WORLD parameters,
`acoustic_set`) or the duration model's (phones: linguistic -> log frames, `duration_set`).
`Normaliser` is the zero-mean unit-variance normalisation of the paper's section 3, fitted on
training data.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from voxflow.features.cache import Computed, Rejected, Utterance, cache_features, read_index
from voxflow.ingest.manifest import read_manifest
from voxflow.mlms.features import read_features
from voxflow.mlms.lexicon import Lexicon
from voxflow.mlms.linguistic import (AlignmentError, LinguisticSpec, frame_features,
                                     phone_durations, phone_features, utterance_segments)

INDEX_COLUMNS = ["utt_id", "split", "speaker", "language", "gender", "frames", "phones",
                 "phones_path", "durations_path"]
SPEC, LEXICON = "spec.json", "lexicon.json"
MIN_STD = 1e-4          # a dimension that never varies in training (an unseen phone) keeps std 1


def extract_linguistic(manifest: Path, world_dir: Path, out_dir: Path,
                       workers: int | None = None) -> pd.DataFrame:
    """Phone-level linguistic features and oracle durations of every utterance of the mlms
    `manifest` that has WORLD features in `world_dir` (see the module docstring); returns the
    index."""
    table = read_manifest(Path(manifest))[0].to_pandas()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = LinguisticSpec.from_manifest(table)
    (out_dir / SPEC).write_text(spec.to_json())
    lexicon = Lexicon.from_manifest(table[table["split"] == "train"])
    (out_dir / LEXICON).write_text(lexicon.to_json())
    frames = read_index(Path(world_dir)).set_index("utt_id")["frames"]
    table = table[table["utt_id"].isin(frames.index)]   # the others are WORLD's rejects
    jobs = [Utterance(row["utt_id"], row["audio_path"],
                      fields={"split": row["split"], "speaker": row["speaker"],
                              "language": row["language"], "gender": row["gender"],
                              "frames": int(frames[row["utt_id"]]),
                              "alignment": {k: row[k] for k in ("words", "phones", "duration")}},
                      arrays={"phones_path": f"{row['split']}/{row['utt_id']}.phones.npy",
                              "durations_path": f"{row['split']}/{row['utt_id']}.durations.npy"})
            for row in table.to_dict("records")]
    return cache_features(jobs, partial(_utterance_linguistic, spec=spec), out_dir,
                          INDEX_COLUMNS, desc="linguistic features", workers=workers)


def _utterance_linguistic(utterance: Utterance, spec: LinguisticSpec) -> Computed:
    alignment = utterance.fields["alignment"]
    try:
        segments = utterance_segments({"utt_id": utterance.utt_id, **alignment})
        durations = phone_durations(segments, utterance.fields["frames"])
        phones = phone_features(segments, spec)
    except (AlignmentError, ValueError) as err:
        raise Rejected(str(err)) from err
    return ({"phones_path": phones, "durations_path": durations}, {"phones": len(segments)})


def read_spec(linguistic_dir: Path) -> LinguisticSpec:
    return LinguisticSpec.from_json((Path(linguistic_dir) / SPEC).read_text())


def read_lexicon(linguistic_dir: Path) -> Lexicon:
    return Lexicon.from_json((Path(linguistic_dir) / LEXICON).read_text())


@dataclass(frozen=True)
class Normaliser:
    """Per-dimension mean and standard deviation, (D,) each."""
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, arrays) -> Normaliser:
        """From (T_i, D) arrays (any iterable), every row weighted alike; one array in memory
        at a time (a corpus's frame-level inputs would take gigabytes at once)."""
        count, total, squares = 0, 0.0, 0.0
        for array in arrays:
            array = np.asarray(array, np.float64)
            count += len(array)
            total = total + array.sum(axis=0)
            squares = squares + np.square(array).sum(axis=0)
        if count == 0:
            raise ValueError("no frame to fit a normaliser on")
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - np.square(mean), 0.0))
        return cls(mean.astype(np.float32), np.where(std < MIN_STD, 1.0, std).astype(np.float32))

    def as_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Normaliser:
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))


class SequenceSet:
    """Utterances as input and target sequences with a language and a speaker each.

    `batch(indices, spans)` -> {"x": (batch, T, D_in), "y": (batch, T, D_out) float32 zero-padded
    to the longest, "lengths": (batch,) int64, "languages", "speakers": lists of names},
    unnormalised; spans (start, length) cut windows. `inputs(i)` expands utterance i's inputs
    (phone features repeated over frames for the acoustic model)."""

    def __init__(self, rows: pd.DataFrame, phones: list[np.ndarray], durations: list[np.ndarray],
                 targets: list[np.ndarray], frame_level: bool):
        self.rows = rows.reset_index(drop=True)
        self.phones, self.durations, self.targets = phones, durations, targets
        self.frame_level = frame_level

    def __len__(self) -> int:
        return len(self.rows)

    def inputs(self, i: int) -> np.ndarray:
        return frame_features(self.phones[i], self.durations[i]) if self.frame_level \
            else self.phones[i]

    def select(self, mask) -> SequenceSet:
        """The utterances where the boolean `mask` (over rows) holds."""
        keep = np.flatnonzero(np.asarray(mask))
        return SequenceSet(self.rows.iloc[keep], [self.phones[i] for i in keep],
                           [self.durations[i] for i in keep], [self.targets[i] for i in keep],
                           self.frame_level)

    def where(self, **values) -> SequenceSet:
        """The utterances whose columns (e.g. language=, speaker=) have these values; a list
        value: any of them."""
        mask = np.ones(len(self), bool)
        for column, value in values.items():
            mask &= self.rows[column].isin(value if isinstance(value, list) else [value])
        return self.select(mask)

    def first(self, count: int | None) -> SequenceSet:
        """The first `count` utterances by utt_id (all of them for None)."""
        order = np.argsort(self.rows["utt_id"].to_numpy(), kind="stable")
        mask = np.zeros(len(self), bool)
        mask[order[:count]] = True
        return self.select(mask)

    def normalisers(self) -> tuple[Normaliser, Normaliser]:
        """(inputs, targets) normalisers fitted on every frame of this set."""
        return (Normaliser.fit(self.inputs(i) for i in range(len(self))),
                Normaliser.fit(self.targets))

    def batch(self, indices, spans=None) -> dict:
        indices = list(indices)
        spans = spans or [(0, len(self.targets[i])) for i in indices]
        longest = max(length for _, length in spans)
        x = np.zeros((len(indices), longest, self.inputs(indices[0]).shape[1]), np.float32)
        y = np.zeros((len(indices), longest, self.targets[indices[0]].shape[1]), np.float32)
        for row, (i, (start, length)) in enumerate(zip(indices, spans)):
            x[row, :length] = self.inputs(i)[start:start + length]
            y[row, :length] = self.targets[i][start:start + length]
        return {"x": torch.from_numpy(x), "y": torch.from_numpy(y),
                "lengths": torch.tensor([length for _, length in spans]),
                "languages": [self.rows.at[i, "language"] for i in indices],
                "speakers": [self.rows.at[i, "speaker"] for i in indices]}

    def sampler(self, batch_size: int, segment: int):
        """The training loop's `sample_batch(generator)`: `batch_size` random utterances, each a
        random window of `segment` steps (all of it when shorter, or when segment is 0)."""
        if len(self) == 0:
            raise ValueError("no utterance to train on")

        def sample(generator: torch.Generator) -> dict:
            indices = torch.randint(len(self), (batch_size,), generator=generator).tolist()
            spans = []
            for i in indices:
                total = len(self.targets[i])
                length = min(segment, total) if segment else total
                start = int(torch.randint(total - length + 1, (1,), generator=generator))
                spans.append((start, length))
            return self.batch(indices, spans)
        return sample


def _load(linguistic_dir: Path, split: str) -> tuple:
    index = read_index(Path(linguistic_dir))
    rows = index[index["split"] == split].sort_values("utt_id").reset_index(drop=True)
    phones = [np.load(Path(linguistic_dir) / p) for p in rows["phones_path"]]
    durations = [np.load(Path(linguistic_dir) / p) for p in rows["durations_path"]]
    return rows, phones, durations


def acoustic_set(world_dir: Path, linguistic_dir: Path, split: str) -> SequenceSet:
    """The acoustic model's frames of one split: linguistic frame features -> (frames, 49)."""
    rows, phones, durations = _load(linguistic_dir, split)
    world = read_index(Path(world_dir)).set_index("utt_id")
    targets = [read_features(Path(world_dir), world.loc[utt_id].to_dict() | {"utt_id": utt_id})
               for utt_id in rows["utt_id"]]
    return SequenceSet(rows, phones, durations, targets, frame_level=True)


def duration_set(linguistic_dir: Path, split: str) -> SequenceSet:
    """The duration model's phones of one split: phone features -> (phones, 1) log frames."""
    rows, phones, durations = _load(linguistic_dir, split)
    targets = [np.log(d.astype(np.float32))[:, None] for d in durations]
    return SequenceSet(rows, phones, durations, targets, frame_level=False)


def spec_summary(linguistic_dir: Path) -> dict:
    """Sizes of the linguistic inputs, for the stage's metrics."""
    spec = read_spec(linguistic_dir)
    return {"phone_inventory": len(spec.phones), "phone_features": len(spec.phone_feature_names()),
            "frame_features": len(spec.frame_feature_names()),
            "languages": len(spec.language_phones)}
