"""A feature cache on disk: arrays computed per utterance of a manifest, one .npy each, listed
in an index, with the problem files in a rejects table.

`cache_features(utterances, compute, out_dir, columns, desc)` writes into `out_dir`:

- per utterance, each array `compute` returns, at the path (relative to out_dir) that its
  `Utterance.arrays` names, e.g. `<split>/<utt_id>.npy`;
- `index.parquet`: a row per cached utterance, the `columns` in the caller's order: `utt_id`,
  the manifest's `Utterance.fields`, the values `compute` returns (e.g. frames) and the array
  paths;
- `rejects.csv`: utt_id, path (the audio file), reason: the utterances whose `compute` raised
  `Rejected`, skipped.

Utterances run in parallel processes (`voxflow.parallel.run_parallel`, with a progress bar).
Every file is written under a temporary name and then renamed, and the index is removed first
and written last: a folder with an index is a complete cache; a run that fails leaves none.
`read_index` and `read_rejects` read a cache back.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from voxflow.atomic import write_atomically
from voxflow.parallel import run_parallel

log = logging.getLogger(__name__)

INDEX, REJECTS = "index.parquet", "rejects.csv"
REJECT_COLUMNS = ["utt_id", "path", "reason"]


class Rejected(Exception):
    """Raised by a `compute` function for a problem file: the message is its reason in
    rejects.csv."""


@dataclass(frozen=True)
class Utterance:
    """One utterance to cache: `audio_path` is its audio file (rejects.csv's path), `fields` the
    manifest's values of its index columns, `arrays` the .npy path relative to the cache folder
    of each array, keyed by the index column that holds that path."""
    utt_id: str
    audio_path: str
    fields: Mapping[str, object]
    arrays: Mapping[str, str]


Computed = tuple[dict[str, np.ndarray], dict[str, object]]


def read_mono(path: str, sample_rate: int) -> np.ndarray:
    """The audio file as a (samples,) float32 waveform, its channels averaged; `Rejected` when it
    cannot be read or has another sample rate."""
    import soundfile as sf

    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise Rejected(f"cannot read audio ({err})") from err
    if rate != sample_rate:
        raise Rejected(f"sample rate {rate} Hz, expected {sample_rate}")
    return audio.mean(axis=1)


def cache_features(utterances: Sequence[Utterance], compute: Callable[[Utterance], Computed],
                   out_dir: Path, columns: Sequence[str], desc: str, workers: int | None = None,
                   reuse: bool = False) -> pd.DataFrame:
    """Cache `compute(utterance)` -> (arrays keyed as `utterance.arrays`, computed index values)
    of every utterance in `out_dir` (see the module docstring); returns the index.

    Utterances run in `workers` forked processes (default: one per core), which write the
    arrays, so `compute` and the utterances must be picklable (a module-level function or a
    partial of one); `workers=1` runs them in this process. A `compute` on torch's threads wants
    `workers=1`: forked workers that use them hang once this process has used them.
    `reuse`: an utterance that the cache already there lists, with the same array paths and all
    its files present, keeps its arrays and index values instead of being computed again; only
    for a cache written with the same settings, which the caller vouches for."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index_path = out_dir / INDEX
    previous = _reusable(out_dir, utterances) if reuse and index_path.is_file() else {}
    index_path.unlink(missing_ok=True)
    jobs = [(compute, u, out_dir) for u in utterances if u.utt_id not in previous]
    computed = iter(run_parallel(_compute_and_save, jobs, desc=desc, workers=workers,
                                 unit="utt"))
    rows, rejects = [], []
    for u in utterances:
        values, reason = previous[u.utt_id] if u.utt_id in previous else next(computed)
        if reason is not None:
            rejects.append((u.utt_id, u.audio_path, reason))
            continue
        row = {"utt_id": u.utt_id, **u.fields, **values, **u.arrays}
        rows.append([row[c] for c in columns])
    index = pd.DataFrame(rows, columns=list(columns))
    write_atomically(out_dir / REJECTS, lambda tmp: pd.DataFrame(
        rejects, columns=REJECT_COLUMNS).to_csv(tmp, index=False))
    write_atomically(index_path, lambda tmp: index.to_parquet(tmp, index=False))
    for utt_id, path, reason in rejects:
        log.warning("skipped %s (%s): %s", utt_id, path, reason)
    log.info("%s of %d utterances written to %s (%d skipped)", desc, len(index), out_dir,
             len(rejects))
    return index


def read_index(cache_dir: Path) -> pd.DataFrame:
    """The index of a complete cache (an error for any other folder)."""
    return pd.read_parquet(_complete(cache_dir) / INDEX)


def read_rejects(cache_dir: Path) -> pd.DataFrame:
    """The rejects table (utt_id, path, reason) of a complete cache."""
    return pd.read_csv(_complete(cache_dir) / REJECTS)


def _complete(cache_dir: Path) -> Path:
    # the index is written last: without it the other files may be partial or stale
    cache_dir = Path(cache_dir)
    if not (cache_dir / INDEX).is_file():
        raise FileNotFoundError(f"{cache_dir / INDEX} not found: not a feature cache, or one "
                                "whose writing did not finish")
    return cache_dir


def _reusable(out_dir: Path, utterances: Sequence[Utterance]
              ) -> dict[str, tuple[dict[str, object], None]]:
    """utt_id -> (its computed index values, no reject) for the utterances the cache in
    `out_dir` can serve."""
    previous = read_index(out_dir).set_index("utt_id")
    reusable = {}
    for u in utterances:
        if u.utt_id not in previous.index:
            continue
        row = previous.loc[u.utt_id]
        if all(row.get(column) == path and (out_dir / path).is_file()
               for column, path in u.arrays.items()):
            reusable[u.utt_id] = ({c: row[c] for c in previous.columns
                                   if c not in u.fields and c not in u.arrays}, None)
    return reusable


def _compute_and_save(job: tuple[Callable[[Utterance], Computed], Utterance, Path]
                      ) -> tuple[dict[str, object] | None, str | None]:
    """(compute, utterance, cache folder) -> (computed index values, None) once its arrays are
    written, or (None, reject reason)."""
    compute, utterance, out_dir = job
    try:
        arrays, values = compute(utterance)
    except Rejected as reject:
        return None, str(reject)
    for column, array in arrays.items():
        path = out_dir / utterance.arrays[column]
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda tmp: np.save(tmp, array))
    return values, None
