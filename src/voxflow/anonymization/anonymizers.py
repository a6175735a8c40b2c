"""Anonymizers, one interface: `anonymize(waveform, rate, rng) -> waveform` (16 kHz out).

`Origin` is table 1's row 0 (no anonymization: the evaluation's reference); `KnnVCAnonymizer`
is kNN-VC and its variants (IDs 1-3): SSL features of the source, converted by
`voxflow.anonymization.knnvc.KnnVC` towards random target speakers, vocoded (the matched
frames' features or log-mels, params.yaml's `anonymization.vocoder`); the cascade (ID 4) is
`voxflow.anonymization.cascade.CascadeAnonymizer`; `ConversionAnonymizer` the WavLM-feature
conversion (IDs 5-8); `Admixture` draws one of two per utterance
(paper 003 section 2.4). `anonymize_table` runs one over the utterances of a manifest, each
with a random state seeded by (seed, utterance id): the same utterance is anonymized the same
way wherever it runs.
"""
from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from voxflow.anonymization.audio import RATE, load_audio, resample
from voxflow.atomic import write_atomically
from voxflow.parallel import progress_disabled

log = logging.getLogger(__name__)

# the manifest columns an anonymized table keeps (what the evaluation needs)
KEPT_COLUMNS = ("utt_id", "corpus", "split", "speaker", "gender", "text", "emotion")
TABLE, REJECTS = "anonymized.csv", "rejects.csv"
# the target speakers' matching sets, beside the vocoder: {"layer": int, "sets": {speaker:
# (N, D)}, "values": None or {speaker: (N, 80)}, the same frames' log-mels (knnvc.KnnVC),
# "vocoder": one of vocoder.VOCODERS, "griffin_lim_iterations": int, of mel-griffin-lim}
MATCHING_SETS = "matching_sets.pt"


class Anonymizer(Protocol):
    def anonymize(self, waveform: np.ndarray, rate: int, rng: np.random.Generator,
                  speaker: str | None = None) -> np.ndarray:
        """(samples,) float32 at `rate` -> (samples',) float32 at 16 kHz; all randomness from
        `rng`; `speaker`, the source's, is never chosen as a target."""


class Origin:
    """No anonymization (table 1's `origin`): the waveform at 16 kHz."""

    def anonymize(self, waveform: np.ndarray, rate: int, rng: np.random.Generator,
                  speaker: str | None = None) -> np.ndarray:
        return resample(waveform, rate, RATE)


class KnnVCAnonymizer:
    """SSL encoder layer -> kNN-VC conversion -> vocoder, a function (T, D) converted frames ->
    (T * HOP,) 16 kHz audio (`vocoder.vocode` with a HiFi-GAN, or `vocoder.MelGriffinLim`).
    `stored`: the layer's features of some waveforms, computed before (`ssl.features`)."""

    def __init__(self, encoder, layer: int, knnvc, vocoder: Callable[[np.ndarray], np.ndarray],
                 stored: Mapping[str, np.ndarray] | None = None):
        self.encoder, self.layer, self.knnvc, self.vocoder = encoder, layer, knnvc, vocoder
        self.stored = stored

    def anonymize(self, waveform: np.ndarray, rate: int, rng: np.random.Generator,
                  speaker: str | None = None) -> np.ndarray:
        from voxflow.anonymization.ssl import features

        source = features(self.encoder, resample(waveform, rate, RATE), self.layer, self.stored)
        return self.vocoder(self.knnvc.convert(source, rng, exclude=speaker))


class ConversionAnonymizer:
    """SSL encoder layer -> the WavLM-feature converter (`voxflow.anonymization.conversion`,
    paper 003 section 2.2: towards its one target speaker) -> vocoder. With a mel vocoder the
    converted features choose the target's frames as kNN-VC does (its k nearest in the
    target's matching set, their log-mels averaged); with the SSL HiFi-GAN they are vocoded
    themselves."""

    def __init__(self, encoder, layer: int, converter, target_set, target_values,
                 vocoder: Callable[[np.ndarray], np.ndarray], k: int = 4,
                 stored: Mapping[str, np.ndarray] | None = None):
        """target_set (N, D): the target speaker's matching frames; target_values (N, 80) their
        log-mels, or None for a vocoder of features; `stored` as KnnVCAnonymizer's."""
        self.encoder, self.layer, self.converter, self.stored = encoder, layer, converter, stored
        self.target_set, self.target_values, self.vocoder, self.k = (target_set, target_values,
                                                                     vocoder, k)

    def anonymize(self, waveform: np.ndarray, rate: int, rng: np.random.Generator,
                  speaker: str | None = None) -> np.ndarray:
        """Deterministic: one target, no draw from `rng`."""
        import torch

        from voxflow.anonymization.conversion import convert
        from voxflow.anonymization.knnvc import knn_match
        from voxflow.anonymization.ssl import features

        converted = convert(self.converter, features(self.encoder, resample(waveform, rate, RATE),
                                                     self.layer, self.stored))
        if self.target_values is not None:
            converted = knn_match(torch.from_numpy(converted), self.target_set, self.k,
                                  values=self.target_values).numpy()
        return self.vocoder(converted)


def _vocoder(vocoder_dir: Path, matching: dict) -> Callable[[np.ndarray], np.ndarray]:
    """The matching sets' vocoder: Griffin-Lim, or the HiFi-GAN saved in `vocoder_dir`."""
    from voxflow.anonymization.vocoder import VOCODER_FILE, MelGriffinLim, load_vocoder, vocode

    return (MelGriffinLim(matching["griffin_lim_iterations"])
            if matching["vocoder"] == "mel-griffin-lim"
            else partial(vocode, load_vocoder(Path(vocoder_dir) / VOCODER_FILE)))


def conversion_target(matching: dict, target: str | None) -> str:
    """The converter's target speaker: `target`, or the matching sets' first in sorted order."""
    speakers = sorted(matching["sets"])
    if target is None:
        return speakers[0]
    if target not in speakers:
        raise ValueError(f"the conversion target {target!r} has no matching set (the sets are "
                         f"{', '.join(speakers)})")
    return target


def _stored(features_file: Path | None, layer: int) -> dict[str, np.ndarray] | None:
    from voxflow.anonymization.ssl import load_stored_features

    return None if features_file is None else load_stored_features(Path(features_file), layer)


def load_conversion_anonymizer(ssl_file: Path, vocoder_dir: Path, converter_file: Path,
                               target: str, features_file: Path | None = None
                               ) -> ConversionAnonymizer:
    """A ConversionAnonymizer from the files the DAG writes: the encoder (ssl.pt), the matching
    sets and vocoder of `vocoder_dir`, the converter (conversion.CONVERTER_FILE) trained
    towards `target`, and optionally anon-features's stored source features."""
    import torch

    from voxflow.anonymization.conversion import load_converter
    from voxflow.anonymization.ssl import load_encoder

    matching = torch.load(Path(vocoder_dir) / MATCHING_SETS, weights_only=True)
    values = matching["values"]
    return ConversionAnonymizer(load_encoder(Path(ssl_file)), matching["layer"],
                                load_converter(Path(converter_file)), matching["sets"][target],
                                None if values is None else values[target],
                                _vocoder(vocoder_dir, matching),
                                stored=_stored(features_file, matching["layer"]))


def load_knnvc_anonymizer(ssl_file: Path, vocoder_dir: Path, config,
                          features_file: Path | None = None) -> KnnVCAnonymizer:
    """A KnnVCAnonymizer with `config` (a KnnVCConfig) from the files the DAG writes: the encoder
    (ssl.pt) and `vocoder_dir`'s matching sets (MATCHING_SETS) with, for a HiFi-GAN, its
    weights (vocoder.VOCODER_FILE), and optionally anon-features's stored source features."""
    import torch

    from voxflow.anonymization.knnvc import KnnVC
    from voxflow.anonymization.ssl import load_encoder

    matching = torch.load(Path(vocoder_dir) / MATCHING_SETS, weights_only=True)
    return KnnVCAnonymizer(load_encoder(Path(ssl_file)), matching["layer"],
                           KnnVC(matching["sets"], config, matching["values"]),
                           _vocoder(vocoder_dir, matching),
                           stored=_stored(features_file, matching["layer"]))


def utterance_rng(seed: int, utt_id: str) -> np.random.Generator:
    """The random state of one utterance's anonymization: (seed, crc32 of its id)."""
    return np.random.default_rng([seed, zlib.crc32(utt_id.encode())])


def admixture_draw(rng: np.random.Generator) -> float:
    """The uniform draw in [0, 1) that picks an admixture's system, from a child stream of `rng`
    (`Generator.spawn`), which leaves `rng` itself untouched: the system drawn then anonymizes
    exactly as it does alone, and one draw per utterance serves every p (the utterances given
    to the first system at p = 0.2 are among those at p = 0.4)."""
    return float(rng.spawn(1)[0].random())


class Admixture:
    """Random admixture (paper 003 section 2.4): per utterance `first` with probability `p`,
    `second` otherwise (`admixture_draw`)."""

    def __init__(self, first: Anonymizer, second: Anonymizer, p: float):
        if not 0 <= p <= 1:
            raise ValueError(f"the admixture's p must be in [0, 1], got {p}")
        self.first, self.second, self.p = first, second, p

    def anonymize(self, waveform: np.ndarray, rate: int, rng: np.random.Generator,
                  speaker: str | None = None) -> np.ndarray:
        chosen = self.first if admixture_draw(rng) < self.p else self.second
        return chosen.anonymize(waveform, rate, rng, speaker)


def admix_folders(first_dir: Path, second_dir: Path, out_dir: Path, p: float,
                  seed: int) -> pd.DataFrame:
    """What `Admixture(first, second, p)` writes through `anonymize_table`, from the folders
    `anonymize_table` wrote for first and second alone (same seed) without anonymizing again:
    each utterance's row (or reject) of the system `admixture_draw` picks, in utterance id
    order, `from_first` saying which. The table's audio_path points into those folders
    (relative to out_dir: no audio is copied); written to out_dir/anonymized.csv and
    rejects.csv like anonymize_table's, and returned."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables, rejected = [], []
    for folder in (first_dir, second_dir):
        table = pd.read_csv(Path(folder) / TABLE, dtype={"speaker": str})
        table["audio_path"] = [os.path.relpath(Path(folder) / path, out_dir)
                               for path in table["audio_path"]]
        tables.append(table.set_index("utt_id", drop=False))
        rejected.append(pd.read_csv(Path(folder) / REJECTS).set_index("utt_id", drop=False))
    utterances = sorted(set().union(*(t.index for t in tables + rejected)))
    rows, rejects = [], []
    for utt_id in utterances:
        chosen = 0 if admixture_draw(utterance_rng(seed, utt_id)) < p else 1
        if utt_id in tables[chosen].index:
            rows.append({**tables[chosen].loc[utt_id].to_dict(), "from_first": chosen == 0})
        elif utt_id in rejected[chosen].index:
            rejects.append(rejected[chosen].loc[utt_id])
        else:
            raise ValueError(f"{utt_id}: anonymized by {(first_dir, second_dir)[chosen]} "
                             f"only partly: in neither its {TABLE} nor its {REJECTS}")
    result = pd.DataFrame(rows, columns=[*tables[0].columns, "from_first"])
    result.to_csv(out_dir / TABLE, index=False)
    pd.DataFrame(rejects, columns=["utt_id", "path", "reason"]).to_csv(out_dir / REJECTS,
                                                                       index=False)
    log.info("admixture p=%s of %s and %s: %d utterances in %s", p, first_dir, second_dir,
             len(result), out_dir)
    return result


def anonymize_table(anonymizer: Anonymizer, table: pd.DataFrame, root: Path, out_dir: Path,
                    seed: int, desc: str = "anonymize") -> pd.DataFrame:
    """Anonymize every utterance of the manifest `table` (audio under `root`) into
    `out_dir/wav/<utt_id>.wav` (16 kHz, 16-bit); the table of what was written (KEPT_COLUMNS +
    audio_path relative to out_dir, duration) to out_dir/anonymized.csv and returned. A file
    that cannot be read or anonymized goes to out_dir/rejects.csv with the reason; the others
    are written."""
    out_dir = Path(out_dir)
    (out_dir / "wav").mkdir(parents=True, exist_ok=True)
    rows, rejects = [], []
    for row in tqdm(table.itertuples(index=False), total=len(table), desc=desc, unit="utt",
                    leave=False, disable=progress_disabled()):
        source = Path(root) / row.audio_path
        try:
            audio = load_audio(source, RATE)
            anonymized = anonymizer.anonymize(audio, RATE, utterance_rng(seed, row.utt_id),
                                              speaker=getattr(row, "speaker", None))
        except ValueError as err:
            rejects.append({"utt_id": row.utt_id, "path": str(source), "reason": str(err)})
            continue
        relative = f"wav/{row.utt_id}.wav"
        (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(out_dir / relative, lambda tmp: sf.write(
            tmp, np.clip(anonymized, -1, 1), RATE, subtype="PCM_16", format="WAV"))
        rows.append({**{c: getattr(row, c, None) for c in KEPT_COLUMNS},
                     "audio_path": relative, "duration": len(anonymized) / RATE})
    result = pd.DataFrame(rows, columns=[*KEPT_COLUMNS, "audio_path", "duration"])
    result.to_csv(out_dir / TABLE, index=False)
    pd.DataFrame(rejects, columns=["utt_id", "path", "reason"]).to_csv(out_dir / REJECTS,
                                                                       index=False)
    for reject in rejects:
        log.warning("%s: skipped (%s)", reject["path"], reject["reason"])
    log.info("%d utterances anonymized into %s (%d rejected)", len(result), out_dir, len(rejects))
    return result


def folder_table(in_dir: Path) -> pd.DataFrame:
    """The audio files (.wav, .flac) under `in_dir` as a table for `anonymize_table`: utt_id =
    the path relative to `in_dir` without its suffix (so the output keeps the folder layout)."""
    paths = sorted(p for p in Path(in_dir).rglob("*") if p.suffix.lower() in (".wav", ".flac"))
    if not paths:
        raise ValueError(f"{in_dir}: no .wav or .flac file in it")
    relative = [p.relative_to(in_dir) for p in paths]
    return pd.DataFrame({"utt_id": [str(r.with_suffix("")) for r in relative],
                         "audio_path": [str(r) for r in relative]})


def read_anonymized(out_dir: Path) -> pd.DataFrame:
    """anonymize_table's table, audio_path made absolute."""
    table = pd.read_csv(Path(out_dir) / TABLE, dtype={"speaker": str})
    table["audio_path"] = [str(Path(out_dir) / p) for p in table["audio_path"]]
    return table
