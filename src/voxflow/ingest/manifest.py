"""The utterance manifest: one Parquet schema for every corpus, validated when written.

A manifest has one row per utterance. Paths are relative to the corpus root, which is kept in
the file's metadata (`voxflow.root`, relative to the manifest's folder), so a manifest stays valid
when the corpus moves with it and is byte-identical across checkouts.
Problem files never stop ingestion: they go to `<stem>.rejects.parquet` beside the manifest with
the path and the reason. Both files are written to temporary names and renamed, so a crash never
leaves a partial manifest.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf
from tqdm import tqdm

from voxflow.atomic import write_atomically
from voxflow.parallel import progress_disabled

INTERVAL = pa.struct([("start", pa.float64()), ("end", pa.float64()), ("label", pa.string())])

# name, type, required (non-null in every row), meaning
COLUMNS: list[tuple[str, pa.DataType, bool, str]] = [
    ("utt_id", pa.string(), True, "unique utterance id, the corpus's own"),
    ("corpus", pa.string(), True, "libritts, grid, asvspoof, iemocap, mlms or noise"),
    ("split", pa.string(), True, "the corpus's own split, or a derived speaker-disjoint one"),
    ("audio_path", pa.string(), True, "path relative to the corpus root"),
    ("sample_rate", pa.int32(), True, "Hz, from the file header"),
    ("num_samples", pa.int64(), True, "frames, from the file header"),
    ("duration", pa.float64(), True, "seconds"),
    ("speaker", pa.string(), False, "speaker id (null for noise)"),
    ("gender", pa.string(), False, "F or M where known"),
    ("language", pa.string(), False, "language code, e.g. en-us"),
    ("text", pa.string(), False, "transcript (LibriTTS: normalized text)"),
    ("key", pa.string(), False, "ASVspoof: bonafide or spoof"),
    ("attack", pa.string(), False, "ASVspoof: A01..A19, '-' for bona fide"),
    ("emotion", pa.string(), False, "IEMOCAP emotion code (4-class label when mapped)"),
    ("valence", pa.float64(), False, "IEMOCAP dimensional label"),
    ("arousal", pa.float64(), False, "IEMOCAP dimensional label"),
    ("dominance", pa.float64(), False, "IEMOCAP dimensional label"),
    ("video_path", pa.string(), False, "GRID: video relative to the corpus root"),
    ("words", pa.list_(INTERVAL), False, "word alignment, seconds (GRID, MLMS)"),
    ("phones", pa.list_(INTERVAL), False, "phone alignment, seconds (MLMS)"),
    ("category", pa.string(), False, "noise category"),
]
SCHEMA = pa.schema([pa.field(name, kind, nullable=not required)
                    for name, kind, required, _ in COLUMNS])
REJECTS_SCHEMA = pa.schema([pa.field("path", pa.string(), nullable=False),
                            pa.field("reason", pa.string(), nullable=False)])


class LayoutError(ValueError):
    """The corpus root is missing or does not look like the expected release."""


@dataclass
class Ingested:
    rows: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)

    def reject(self, path: Path | str, reason: str) -> None:
        self.rejects.append({"path": str(path), "reason": reason})


@dataclass(frozen=True)
class AudioHeader:
    sample_rate: int
    num_samples: int


def read_headers(paths: Sequence[Path], desc: str, workers: int = 8
                 ) -> list[AudioHeader | str]:
    """Header-only reads in parallel threads: an AudioHeader per path, or the error as text."""
    def read(path: Path) -> AudioHeader | str:
        try:
            info = sf.info(str(path))
        except (RuntimeError, sf.LibsndfileError, OSError) as err:
            return f"unreadable audio: {err}"
        return AudioHeader(info.samplerate, info.frames)

    with ThreadPoolExecutor(workers) as pool:
        return list(tqdm(pool.map(read, paths), total=len(paths), desc=desc, unit="file",
                         leave=False, disable=progress_disabled()))


def add_audio(result: Ingested, root: Path, candidates: list[tuple[Path, dict]],
              expected_rate: int | None, desc: str) -> None:
    """Read the headers of `candidates` ((audio path, row fields) pairs) and keep the good ones."""
    headers = read_headers([path for path, _ in candidates], desc)
    for (path, fields), header in zip(candidates, headers):
        if isinstance(header, str):
            result.reject(path, header)
        elif header.num_samples == 0:
            result.reject(path, "zero-length audio")
        elif expected_rate is not None and header.sample_rate != expected_rate:
            result.reject(path, f"sample rate {header.sample_rate} Hz, expected {expected_rate} Hz")
        else:
            result.rows.append({**fields, "audio_path": path.relative_to(root).as_posix(),
                                "sample_rate": header.sample_rate,
                                "num_samples": header.num_samples,
                                "duration": header.num_samples / header.sample_rate})


def validate(rows: Iterable[dict]) -> pa.Table:
    """Rows -> a table of SCHEMA; raises ValueError naming the first problem."""
    rows = list(rows)
    unknown = {k for row in rows for k in row} - set(SCHEMA.names)
    if unknown:
        raise ValueError(f"manifest rows have unknown columns: {sorted(unknown)}")
    table = pa.Table.from_pylist(rows, schema=SCHEMA.with_metadata(None)) if rows else \
        SCHEMA.empty_table()
    for name, _, required, _ in COLUMNS:
        if required and table.column(name).null_count:
            raise ValueError(f"manifest column {name!r} has {table.column(name).null_count} "
                             "missing values")
    ids = table.column("utt_id").to_pylist()
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"manifest has duplicate utt_id values, e.g. {dupes}")
    return table


def rejects_path(manifest: Path) -> Path:
    manifest = Path(manifest)
    return manifest.with_name(f"{manifest.stem}.rejects.parquet")


def write_manifest(result: Ingested, out: Path, root: Path, corpus: str,
                   params: dict | None = None) -> pa.Table:
    """Validate, sort by utt_id and write the manifest and its rejects atomically."""
    table = validate(sorted(result.rows, key=lambda r: r["utt_id"]))
    out = Path(out)
    # relative to the manifest's folder: the same corpus gives the same bytes in any checkout
    relative_root = os.path.relpath(Path(root).resolve(), out.parent.resolve())
    metadata = {"voxflow.root": relative_root, "voxflow.corpus": corpus,
                "voxflow.params": json.dumps(params or {}, sort_keys=True),
                "voxflow.schema": json.dumps([(n, d) for n, _, _, d in COLUMNS])}
    table = table.replace_schema_metadata(metadata)
    rejects = pa.Table.from_pylist(sorted(result.rejects, key=lambda r: (r["path"], r["reason"])),
                                   schema=REJECTS_SCHEMA)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(rejects_path(out), lambda tmp: pq.write_table(rejects, tmp))
    write_atomically(out, lambda tmp: pq.write_table(table, tmp))
    return table


def read_manifest(path: Path) -> tuple[pa.Table, Path]:
    """(table, corpus root) of a manifest written by `write_manifest`."""
    table = pq.read_table(path)
    root = Path(table.schema.metadata[b"voxflow.root"].decode())
    return table, (Path(path).parent / root).resolve()


def split_by_fractions(keys: Sequence[str], fractions: dict[str, float], seed: Sequence[int]
                       ) -> dict[str, str]:
    """Deterministic split of `keys` (speakers, utterances or files) by fractions: shuffle the
    sorted keys with `seed`, cut in the order of `fractions`; the first split gets at least one."""
    if not np.isclose(sum(fractions.values()), 1.0) or min(fractions.values()) < 0:
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    order = np.random.default_rng(list(seed)).permutation(sorted(keys)).tolist()
    bounds = np.round(np.cumsum(list(fractions.values())) * len(order)).astype(int)
    bounds[0] = max(bounds[0], min(1, len(order)))
    assignment, start = {}, 0
    for name, end in zip(fractions, bounds):
        assignment.update({key: name for key in order[start:end]})
        start = max(start, end)
    return assignment


def require_dir(path: Path, what: str) -> Path:
    if not Path(path).is_dir():
        raise LayoutError(f"{path}: expected {what}, found "
                          f"{'a file' if Path(path).exists() else 'nothing'}")
    return Path(path)
