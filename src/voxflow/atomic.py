"""Writing a file atomically: a reader, or a run after a failure, sees the whole old file or the
whole new one, never a part."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` to a temporary file beside `path`, then renamed over it; the temporary file
    is removed if `write` fails."""
    path = Path(path)
    # the temporary name keeps the suffix: np.save appends .npy to a name without it
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
