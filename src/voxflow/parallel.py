"""A process pool with a progress bar, shared by the corpus builders and batch evaluation."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from threadpoolctl import threadpool_limits
from tqdm import tqdm

Job = TypeVar("Job")
Result = TypeVar("Result")


def progress_disabled() -> bool:
    """Whether progress bars are off: VOXFLOW_PROGRESS=0 (e.g. in pipeline task logs)."""
    return os.environ.get("VOXFLOW_PROGRESS", "1") == "0"


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _one_blas_thread() -> None:
    # the pool already uses every core; BLAS threads inside each worker would fight over them
    threadpool_limits(limits=1, user_api="blas")


def run_parallel(fn: Callable[[Job], Result], jobs: Sequence[Job], desc: str,
                 workers: int | None = None, unit: str = "file") -> list[Result]:
    """`[fn(job) for job in jobs]` over a process pool with a progress bar, in job order.

    `fn` and the jobs must be picklable (a module-level function, plain data)."""
    workers = workers or default_workers()
    bar = dict(total=len(jobs), desc=desc, unit=unit, leave=False,
               disable=progress_disabled())
    if workers <= 1 or len(jobs) < 4:
        return [fn(job) for job in tqdm(jobs, **bar)]
    chunk = max(1, len(jobs) // (workers * 8))
    with ProcessPoolExecutor(workers, initializer=_one_blas_thread) as pool:
        return list(tqdm(pool.map(fn, jobs, chunksize=chunk), **bar))
