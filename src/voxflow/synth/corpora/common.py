"""What every corpus builder shares: sizes, per-item seeds, parallel rendering, audio writing.

Each corpus module exposes `build(out_dir, size="tiny", seed=0, workers=None) -> Path`, which
writes the corpus in its native layout under `out_dir/<FOLDER>` and returns that folder. Work is
split into items, each with its own seed derived from (corpus seed, corpus name, item key), so the
output is byte-identical whatever the number of workers.
"""
from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import soundfile as sf
from threadpoolctl import threadpool_limits
from tqdm import tqdm

SIZES = ("tiny", "small", "medium")
log = logging.getLogger(__name__)

Job = TypeVar("Job")
Result = TypeVar("Result")


def check_size(size: str) -> str:
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: expected one of {', '.join(SIZES)}")
    return size


def item_seed(seed: int, *keys: object) -> int:
    """A stable 63-bit seed for one item, independent of the order items are processed in."""
    digest = zlib.crc32("/".join(map(str, keys)).encode())
    return int(np.random.SeedSequence([seed, digest]).generate_state(2, np.uint64)[0] >> 1)


def item_rng(seed: int, *keys: object) -> np.random.Generator:
    return np.random.default_rng(item_seed(seed, *keys))


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _one_blas_thread() -> None:
    # the pool already uses every core; BLAS threads inside each worker would fight over them
    threadpool_limits(limits=1, user_api="blas")


def run_parallel(fn: Callable[[Job], Result], jobs: Sequence[Job], desc: str,
                 workers: int | None = None) -> list[Result]:
    """`[fn(job) for job in jobs]` over a process pool with a progress bar, in job order."""
    workers = workers or default_workers()
    bar = dict(total=len(jobs), desc=desc, unit="file", leave=False,
               disable=os.environ.get("VOXFLOW_PROGRESS", "1") == "0")
    if workers <= 1 or len(jobs) < 4:
        return [fn(job) for job in tqdm(jobs, **bar)]
    chunk = max(1, len(jobs) // (workers * 8))
    with ProcessPoolExecutor(workers, initializer=_one_blas_thread) as pool:
        return list(tqdm(pool.map(fn, jobs, chunksize=chunk), **bar))


def write_audio(path: Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write mono audio; the format (WAV or FLAC) follows the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not np.all(np.isfinite(audio)) or np.abs(audio).max() >= 1.0:
        raise ValueError(f"{path}: audio is not finite or would clip")
    sf.write(path, audio, sample_rate, subtype=subtype)


def write_text(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def corpus_dir(out_dir: Path, corpus: str) -> Path:
    """The fresh release folder of `corpus` under `out_dir` (named as in FOLDERS): a builder
    never mixes its output with an older build's files."""
    from voxflow.synth.corpora import FOLDERS

    root = Path(out_dir) / FOLDERS[corpus]
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} already exists and is not empty; remove it or choose "
                              "another --out")
    root.mkdir(parents=True, exist_ok=True)
    return root
