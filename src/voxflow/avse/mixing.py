"""Reproducible noisy mixtures of GRID speech: a table of recipes, one row per mixture.

The mixing stage writes a mixture table rather than wav files: each row names the target GRID
utterance, the interferer, where the interferer starts, the requested SNR, the gain and scale
that realise it and the row's seed, so `mix(row, roots)` rebuilds the mixture exactly and DVC
versions the recipe.

Splits. Targets keep the GRID manifest's speaker-disjoint splits (train, dev, test). Two
interference conditions, as in the paper's tables 1-2:
- "noise": a file of the noise manifest; train and dev mixtures draw files of its split "train",
  test mixtures files of its split "test", so test noises are never heard in training.
- "speech": a competing talker, an utterance of the target's split by another speaker (a speaker
  drawn uniformly among the split's others, then one of their utterances). A split with a single
  speaker has no speech mixtures; `mix_corpus` reports it as unmixable.
Train and dev: `mixtures_per_utterance` mixtures per utterance and condition, SNR uniform in
`train_snr_db`. Test: every test utterance at every `test_snr_db`, in every condition.

SNR on active speech (voxflow's convention). The active samples are those inside the target's
word intervals (the manifest's `words`, silences already dropped by ingestion);
SNR = 10 log10(P_target / P_interferer), both powers the mean square over the active samples
only: the SNR a listener faces while the target speaks, independent of how long the sentence's
leading and trailing silences are. The ITU-T P.56 active speech level is the usual
alternative; GRID's alignments make the word intervals exact, so no level detector is needed.

Levels. The interferer gain realises the requested SNR; then target and interferer are scaled
together by `scale` <= 1 so that |mixture| <= `peak` (nothing clips; the SNR is unchanged).
Gain and scale are stored rounded to `STORED_DIGITS` significant digits (the scale rounded
down): float sums may differ in the last bit between CPUs, the rounded values do not, so the
table is byte-identical across machines, and a rebuild uses the stored values.

Interferer segment. The interferer is read as a loop: sample t of the mixture takes the
interferer's sample (offset + t) mod its length. A noise file at least as long as the target
starts at a random offset with no wrap; a shorter one is looped from a random offset. A speech
interferer starts at offset 0, so both sentences (3 s each in GRID) overlap whole.

Seeds. Each mixture's draws (SNR, interferer, offset) come from
`item_seed(config.seed, "avse-mixing", mixture_id)`, so adding utterances leaves the noise
mixtures of the others unchanged (speech mixtures of that split draw from the grown pool).

Audio. GRID's 25 kHz is resampled to `sample_rate` with `scipy.signal.resample_poly`
(deterministic); noise files must already be at `sample_rate` (the noise manifest's 16 kHz) and
are read segment-wise. Mixtures are measured in parallel processes, each reading its two files;
nothing is kept in memory between mixtures, so memory stays flat for the full GRID. A file that
cannot be read, is shorter than its words or its header, or is silent where it matters goes to
the rejects (path, reason) with a logged warning, and the mixtures that need it are skipped.
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf
from scipy.signal import resample_poly

from voxflow.atomic import write_atomically
from voxflow.ingest.manifest import REJECTS_SCHEMA, read_manifest, rejects_path
from voxflow.parallel import run_parallel
from voxflow.synth.corpora.common import item_seed

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
CONDITIONS = ("noise", "speech")
NOISE_SPLIT = {"train": "train", "dev": "train", "test": "test"}   # noise split per GRID split
STORED_DIGITS = 6          # significant digits of the stored gain and scale

# name, type, meaning
COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("mixture_id", pa.string(), "<condition>/<target>/<index> (train, dev) or /<snr>dB (test)"),
    ("split", pa.string(), "the target's GRID split"),
    ("condition", pa.string(), "noise or speech"),
    ("snr_db", pa.float64(), "requested SNR over the target's active samples"),
    ("target", pa.string(), "GRID utt_id"),
    ("target_speaker", pa.string(), "GRID speaker"),
    ("target_path", pa.string(), "audio path relative to the GRID root"),
    ("interferer", pa.string(), "utt_id in its manifest (GRID or noise)"),
    ("interferer_speaker", pa.string(), "GRID speaker (null for noise)"),
    ("noise_category", pa.string(), "noise category (null for speech)"),
    ("interferer_path", pa.string(), "audio path relative to its corpus root"),
    ("offset", pa.int64(), "interferer sample (at sample_rate) under the mixture's first one"),
    ("gain", pa.float64(), "interferer gain realising snr_db, before scale"),
    ("scale", pa.float64(), "common factor <= 1 of target and interferer keeping the peak"),
    ("seed", pa.int64(), "the mixture's seed (item_seed of the config seed and mixture_id)"),
    ("sample_rate", pa.int32(), "Hz of the mixture"),
    ("num_samples", pa.int64(), "mixture length: the target's, at sample_rate"),
]
SCHEMA = pa.schema([(name, kind) for name, kind, _ in COLUMNS])


@dataclass(frozen=True)
class MixingConfig:
    """How the mixtures are drawn (see the module docstring)."""
    sample_rate: int = 16000                           # Hz of the mixtures (the paper's 16 kHz)
    train_snr_db: tuple[float, float] = (-10.0, 10.0)  # uniform SNR range of train and dev
    test_snr_db: tuple[float, ...] = (-5.0, 0.0)       # every test utterance at each of these
    conditions: tuple[str, ...] = CONDITIONS           # interference kinds to mix
    mixtures_per_utterance: int = 1                    # train/dev mixtures per utterance, condition
    peak: float = 0.99                                 # ceiling of |mixture|
    seed: int = 0                                      # root of every mixture's seed

    def __post_init__(self):
        low, high = self.train_snr_db
        if low > high:
            raise ValueError(f"mixing train_snr_db: low {low} above high {high}")
        unknown = set(self.conditions) - set(CONDITIONS)
        if unknown or not self.conditions:
            raise ValueError(f"mixing conditions {list(self.conditions)}: expected some of "
                             f"{', '.join(CONDITIONS)}")
        if not self.test_snr_db:
            raise ValueError("mixing test_snr_db: expected at least one SNR")
        if self.mixtures_per_utterance < 1:
            raise ValueError(f"mixing mixtures_per_utterance {self.mixtures_per_utterance}: "
                             "expected at least 1")
        if not 0 < self.peak <= 1:
            raise ValueError(f"mixing peak {self.peak}: expected a value in (0, 1]")


@dataclass(frozen=True)
class CorpusRoots:
    """The folders the table's relative audio paths start from."""
    grid: Path
    noise: Path


@dataclass(frozen=True)
class Mixture:
    """One rebuilt mixture, each (samples,) float32: mixture == target + interferer."""
    mixture: np.ndarray
    target: np.ndarray          # the clean target, scaled
    interferer: np.ndarray      # the interferer segment, with gain and scale


class BadAudio(Exception):
    """A problem audio file: `path` and the `reason` for the rejects table."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


@dataclass(frozen=True)
class _Job:
    """A planned mixture to measure: its row without gain and scale, the target's words
    ((start, end) seconds), the corpus roots and the peak ceiling."""
    row: dict
    words: tuple[tuple[float, float], ...]
    roots: CorpusRoots
    peak: float


# ------------------------------------------------------------------------------ the stage

def mix_corpus(grid_manifest: Path, noise_manifest: Path, out_path: Path,
               config: MixingConfig = MixingConfig(), workers: int | None = None) -> dict:
    """The mixture table of two manifests, written to `out_path` with its rejects beside it
    (`<stem>.rejects.parquet`); returns a summary: mixtures per split and condition, the
    number of rejected files and the unmixable (split, condition) pairs with the reason."""
    grid, grid_root = read_manifest(Path(grid_manifest))
    noise, noise_root = read_manifest(Path(noise_manifest))
    roots = CorpusRoots(grid_root, noise_root)
    table, rejects, unmixable = build_mixture_table(grid.to_pylist(), noise.to_pylist(), roots,
                                                    config, workers)
    write_mixture_table(table, Path(out_path), roots, config)
    rejects_table = pa.Table.from_pylist(rejects, schema=REJECTS_SCHEMA)
    write_atomically(rejects_path(out_path), lambda tmp: pq.write_table(rejects_table, tmp))
    mixtures: dict[str, dict[str, int]] = {}
    for (split, condition), count in table.groupby(["split", "condition"]).size().items():
        mixtures.setdefault(split, {})[condition] = int(count)
    return {"mixtures": mixtures, "rejected_files": len(rejects), "unmixable": unmixable}


def build_mixture_table(grid_rows: Sequence[Mapping], noise_rows: Sequence[Mapping],
                        roots: CorpusRoots, config: MixingConfig = MixingConfig(),
                        workers: int | None = None
                        ) -> tuple[pd.DataFrame, list[dict], dict[str, str]]:
    """(table of COLUMNS sorted by mixture_id, rejects as {path, reason}, unmixable
    "<split>/<condition>" -> reason) of manifest rows (`pyarrow.Table.to_pylist()` of the GRID
    and noise manifests). The powers need the audio: mixtures are measured in `workers`
    processes (default: one per core), with a progress bar."""
    jobs, rejects, unmixable = _plan(grid_rows, noise_rows, roots, config)
    measured = run_parallel(_measure, jobs, desc="mixing", workers=workers, unit="mixture")
    rows = [row for row, _ in measured if row is not None]
    rejects += [reject for _, reject in measured if reject is not None]
    rejects = [{"path": path, "reason": reason}
               for path, reason in sorted({(r["path"], r["reason"]) for r in rejects})]
    for reject in rejects:
        log.warning("skipped %s: %s", reject["path"], reject["reason"])
    table = pa.Table.from_pylist(sorted(rows, key=lambda r: r["mixture_id"]), schema=SCHEMA)
    log.info("%d mixtures (%d planned), %d files rejected", len(rows), len(jobs), len(rejects))
    return table.to_pandas(), rejects, unmixable


def write_mixture_table(table: pd.DataFrame, path: Path, roots: CorpusRoots,
                        config: MixingConfig) -> None:
    """The table as Parquet, atomically; the corpus roots are kept relative to the table's
    folder (as a manifest keeps its root), so the same inputs give the same bytes anywhere."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {f"voxflow.{name}_root": os.path.relpath(Path(root).resolve(),
                                                         path.parent.resolve())
                for name, root in asdict(roots).items()}
    metadata["voxflow.mixing"] = json.dumps(asdict(config), sort_keys=True)
    metadata["voxflow.schema"] = json.dumps([(name, meaning) for name, _, meaning in COLUMNS])
    arrow = pa.Table.from_pandas(table, schema=SCHEMA, preserve_index=False)
    arrow = arrow.replace_schema_metadata(metadata)
    write_atomically(path, lambda tmp: pq.write_table(arrow, tmp))


def read_mixture_table(path: Path) -> tuple[pd.DataFrame, CorpusRoots]:
    """(table, corpus roots) of a table written by `write_mixture_table`."""
    arrow = pq.read_table(path)
    metadata = arrow.schema.metadata or {}
    if b"voxflow.grid_root" not in metadata:
        raise ValueError(f"{path}: not a mixture table (no voxflow.grid_root metadata)")
    folder = Path(path).parent
    roots = CorpusRoots(*((folder / metadata[f"voxflow.{name}_root".encode()].decode()).resolve()
                          for name in ("grid", "noise")))
    return arrow.to_pandas(), roots


# ------------------------------------------------------------------------------ one mixture

def mix(row: Mapping, roots: CorpusRoots) -> Mixture:
    """The mixture of a table row, rebuilt from its files with the stored gain and scale;
    `BadAudio` for a file that cannot be read as the row expects."""
    target, interferer = _sources(row, roots)
    scaled_target = (row["scale"] * target).astype(np.float32)
    scaled_interferer = (row["scale"] * row["gain"] * interferer).astype(np.float32)
    return Mixture(scaled_target + scaled_interferer, scaled_target, scaled_interferer)


def active_mask(words: Sequence[tuple[float, float]], num_samples: int, sample_rate: int
                ) -> np.ndarray:
    """(num_samples,) bool: True inside the word intervals (start, end seconds)."""
    mask = np.zeros(num_samples, dtype=bool)
    for start, end in words:
        mask[round(start * sample_rate):round(end * sample_rate)] = True
    return mask


def _measure(job: _Job) -> tuple[dict | None, dict | None]:
    """(the row with its gain and scale, None), or (None, the reject of the bad file)."""
    row = job.row
    try:
        target, interferer = _sources(row, job.roots)
        last_end = round(max(end for _, end in job.words) * row["sample_rate"])
        if last_end > len(target):
            raise BadAudio(job.roots.grid / row["target_path"],
                           f"{len(target)} samples at {row['sample_rate']} Hz end before its "
                           f"last word does (sample {last_end})")
        active = active_mask(job.words, len(target), row["sample_rate"])
        target_power, interferer_power = _power(target, active), _power(interferer, active)
        if target_power == 0:
            raise BadAudio(job.roots.grid / row["target_path"], "silent inside its words")
        if interferer_power == 0:
            root = job.roots.noise if row["condition"] == "noise" else job.roots.grid
            raise BadAudio(root / row["interferer_path"],
                           f"silent while {row['target']} speaks (offset {row['offset']})")
    except BadAudio as bad:
        return None, {"path": bad.path, "reason": bad.reason}
    exact_gain = math.sqrt(target_power / (interferer_power * 10 ** (row["snr_db"] / 10)))
    gain = _significant(exact_gain, ROUND_HALF_EVEN)
    loudest = float(np.abs(target + gain * interferer).max())
    # rounded down, so that the stored scale never lifts the peak above the ceiling
    scale = 1.0 if loudest <= job.peak else _significant(job.peak / loudest, ROUND_FLOOR)
    return {**row, "gain": gain, "scale": scale}, None


def _power(signal: np.ndarray, active: np.ndarray) -> float:
    return float(np.mean(np.square(signal[active], dtype=np.float64)))


def _significant(value: float, rounding: str) -> float:
    """`value` > 0 to STORED_DIGITS significant digits."""
    exponent = math.floor(math.log10(value)) - STORED_DIGITS + 1
    return float(Decimal(value).quantize(Decimal(1).scaleb(exponent), rounding=rounding))


def _sources(row: Mapping, roots: CorpusRoots) -> tuple[np.ndarray, np.ndarray]:
    """(target, interferer segment) of a row, each (num_samples,) float64 at its sample rate,
    unscaled."""
    rate, length = row["sample_rate"], row["num_samples"]
    target_path = roots.grid / row["target_path"]
    target = _read_resampled(target_path, rate)
    if len(target) != length:
        raise BadAudio(target_path, f"{len(target)} samples at {rate} Hz where its header "
                                    f"promised {length}")
    if row["condition"] == "noise":
        interferer = _read_looped(roots.noise / row["interferer_path"], row["offset"], length,
                                  rate)
    else:
        speech = _read_resampled(roots.grid / row["interferer_path"], rate)
        interferer = np.take(speech, row["offset"] + np.arange(length), mode="wrap")
    return target, interferer


def _read_resampled(path: Path, sample_rate: int) -> np.ndarray:
    """The whole file as (samples,) float64 at `sample_rate`, its channels averaged."""
    try:
        audio, file_rate = sf.read(path, dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise BadAudio(path, f"cannot read audio ({err})") from err
    if len(audio) == 0:
        raise BadAudio(path, "no samples")
    audio = audio.mean(axis=1)
    if file_rate == sample_rate:
        return audio
    ratio = Fraction(sample_rate, file_rate)
    return resample_poly(audio, ratio.numerator, ratio.denominator)


def _read_looped(path: Path, offset: int, length: int, sample_rate: int) -> np.ndarray:
    """Samples (offset + t) mod the file's length, t < `length`, as (length,) float64 of a
    file at `sample_rate`: a file long enough is read from `offset` only."""
    try:
        with sf.SoundFile(path) as file:
            if file.samplerate != sample_rate:
                raise BadAudio(path, f"sample rate {file.samplerate} Hz, expected {sample_rate}")
            looped = offset + length > file.frames
            expected = file.frames if looped else length
            if not looped:
                file.seek(offset)
            audio = file.read(expected, dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise BadAudio(path, f"cannot read audio ({err})") from err
    if len(audio) < expected or expected == 0:
        raise BadAudio(path, f"{len(audio)} samples readable from sample "
                             f"{0 if looped else offset}, its header promised {expected}")
    audio = audio.mean(axis=1)
    return np.take(audio, offset + np.arange(length), mode="wrap") if looped else audio


def _resampled_length(num_samples: int, file_rate: int, sample_rate: int) -> int:
    """Length of `resample_poly`'s output: ceil(num_samples * sample_rate / file_rate)."""
    ratio = Fraction(sample_rate, file_rate)
    return -(-num_samples * ratio.numerator // ratio.denominator)


# ------------------------------------------------------------------------------ planning

def _noise_pools(noise_rows: Sequence[Mapping], roots: CorpusRoots, config: MixingConfig
                 ) -> tuple[dict[str, list[Mapping]], list[dict]]:
    """(noise split -> its usable rows sorted by utt_id, rejects): noise is read without
    resampling, so a file at another rate is rejected."""
    unknown = {row["split"] for row in noise_rows} - set(NOISE_SPLIT.values())
    if unknown:
        raise ValueError(f"noise manifest: unknown split(s) {sorted(unknown)}; expected "
                         "train and test")
    pools: dict[str, list[Mapping]] = {split: [] for split in NOISE_SPLIT.values()}
    rejects = []
    for row in sorted(noise_rows, key=lambda r: r["utt_id"]):
        path = str(roots.noise / row["audio_path"])
        if row["sample_rate"] != config.sample_rate:
            rejects.append({"path": path, "reason": f"sample rate {row['sample_rate']} Hz, "
                                                    f"expected {config.sample_rate}"})
        elif row["num_samples"] == 0:
            rejects.append({"path": path, "reason": "no samples"})
        else:
            pools[row["split"]].append(row)
    return pools, rejects


def _talker_pools(grid_rows: Sequence[Mapping]) -> dict[str, dict[str, list[Mapping]]]:
    """GRID split -> speaker -> their rows sorted by utt_id."""
    pools: dict[str, dict[str, list[Mapping]]] = {split: {} for split in SPLITS}
    for row in sorted(grid_rows, key=lambda r: r["utt_id"]):
        pools[row["split"]].setdefault(row["speaker"], []).append(row)
    return pools


def _plan(grid_rows: Sequence[Mapping], noise_rows: Sequence[Mapping], roots: CorpusRoots,
          config: MixingConfig) -> tuple[list[_Job], list[dict], dict[str, str]]:
    """(the mixtures to measure, rejects, unmixable "<split>/<condition>" -> reason)."""
    unknown = {row["split"] for row in grid_rows} - set(SPLITS)
    if unknown:
        raise ValueError(f"GRID manifest: unknown split(s) {sorted(unknown)}; expected "
                         f"{', '.join(SPLITS)}")
    noise, rejects = _noise_pools(noise_rows, roots, config)
    talkers = _talker_pools(grid_rows)
    jobs, unmixable = [], {}
    for target in sorted(grid_rows, key=lambda r: r["utt_id"]):
        if not target["words"]:
            rejects.append({"path": str(roots.grid / target["audio_path"]),
                            "reason": "no word alignment (the SNR is defined on the words)"})
            continue
        split, speaker = target["split"], target["speaker"]
        words = tuple((word["start"], word["end"]) for word in target["words"])
        length = _resampled_length(target["num_samples"], target["sample_rate"],
                                   config.sample_rate)
        requests = ([(f"{snr:+g}dB", float(snr)) for snr in config.test_snr_db]
                    if split == "test" else
                    [(str(index), None) for index in range(config.mixtures_per_utterance)])
        for condition in config.conditions:
            if condition == "noise":
                candidates = noise[NOISE_SPLIT[split]]
                missing = f"the noise manifest has no usable {NOISE_SPLIT[split]} file"
            else:
                candidates = sorted(s for s in talkers[split] if s != speaker)
                missing = f"no speaker of split {split} besides {speaker}"
            if not candidates:
                unmixable[f"{split}/{condition}"] = missing
                continue
            for key, snr_db in requests:
                mixture_id = f"{condition}/{target['utt_id']}/{key}"
                seed = item_seed(config.seed, "avse-mixing", mixture_id)
                rng = np.random.default_rng(seed)
                if snr_db is None:
                    snr_db = float(rng.uniform(*config.train_snr_db))
                if condition == "noise":
                    interferer = candidates[rng.integers(len(candidates))]
                    frames = interferer["num_samples"]
                    # a long file starts where its whole segment fits; a short one loops
                    offset = int(rng.integers(frames - length + 1 if frames >= length
                                              else frames))
                else:
                    utterances = talkers[split][candidates[rng.integers(len(candidates))]]
                    interferer, offset = utterances[rng.integers(len(utterances))], 0
                row = {"mixture_id": mixture_id, "split": split, "condition": condition,
                       "snr_db": snr_db, "target": target["utt_id"], "target_speaker": speaker,
                       "target_path": target["audio_path"], "interferer": interferer["utt_id"],
                       "interferer_speaker": interferer["speaker"]
                       if condition == "speech" else None,
                       "noise_category": interferer["category"] if condition == "noise"
                       else None,
                       "interferer_path": interferer["audio_path"], "offset": offset,
                       "gain": None, "scale": None, "seed": seed,
                       "sample_rate": config.sample_rate, "num_samples": length}
                jobs.append(_Job(row, words, roots, config.peak))
    for key, reason in sorted(unmixable.items()):
        log.warning("no %s mixtures: %s", key, reason)
    return jobs, rejects, unmixable
