"""Noise corpora in DEMAND-like layout: `<root>/<category>/*.wav`.

voxflow's noise corpus names files `<category>_<train|test>_NNN.wav`; for other releases without
that marker, files are split per category deterministically from (seed, test fraction), so test
noises are never files used in training.
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path

from voxflow.ingest.manifest import (Ingested, LayoutError, add_audio, require_dir,
                                    split_by_fractions)

_MARKED = re.compile(r"_(train|test)_\d+$")


def prepare_noise(root: Path, test_fraction: float = 0.25, seed: int = 0,
                  sample_rate: int | None = 16000) -> Ingested:
    root = require_dir(root, "a noise corpus folder")
    categories = sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob("*.wav")))
    if not categories:
        raise LayoutError(f"{root}: expected one folder per noise category holding .wav files, "
                          f"e.g. {root / 'car'}/*.wav")
    candidates = []
    for folder in categories:
        wavs = sorted(folder.glob("*.wav"))
        unmarked = [w for w in wavs if not _MARKED.search(w.stem)]
        derived = split_by_fractions([w.name for w in unmarked],
                                     {"train": 1 - test_fraction, "test": test_fraction},
                                     [seed, zlib.crc32(folder.name.encode())])
        for wav in wavs:
            marked = _MARKED.search(wav.stem)
            candidates.append((wav, {"utt_id": f"{folder.name}/{wav.stem}", "corpus": "noise",
                                     "split": marked[1] if marked else derived[wav.name],
                                     "category": folder.name}))
    result = Ingested()
    add_audio(result, root, candidates, sample_rate, "noise")
    return result
