"""What every corpus builder shares: sizes, per-item seeds, audio writing.

Each corpus module exposes `build(out_dir, size="tiny", seed=0, workers=None) -> Path`, which
writes the corpus in its native layout under `out_dir/<FOLDER>` and returns that folder. Work is
split into items, each with its own seed derived from (corpus seed, corpus name, item key), so the
output is byte-identical whatever the number of workers.
"""
from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

SIZES = ("tiny", "small", "medium")
log = logging.getLogger(__name__)

def check_size(size: str, sizes: Iterable[str] = SIZES) -> str:
    """`size` when it is one of `sizes` (a corpus with a size of its own passes its keys)."""
    if size not in sizes:
        raise ValueError(f"unknown size {size!r}: expected one of {', '.join(sizes)}")
    return size


def item_seed(seed: int, *keys: object) -> int:
    """A stable 63-bit seed for one item, independent of the order items are processed in."""
    digest = zlib.crc32("/".join(map(str, keys)).encode())
    return int(np.random.SeedSequence([seed, digest]).generate_state(2, np.uint64)[0] >> 1)


def item_rng(seed: int, *keys: object) -> np.random.Generator:
    return np.random.default_rng(item_seed(seed, *keys))


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
