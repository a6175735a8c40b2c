"""Miniature noise corpus for speech enhancement (the MHCA-AVCRN paper), in DEMAND's
one-folder-per-category layout: `<root>/<category>/<category>_<split>_<NNN>.wav`, 16 kHz mono
16-bit.

The MHCA-AVCRN paper evaluates on noises never used in training, so every category has train and
test files and the split is in each file's name. The two are disjoint by construction: every
file is drawn from its own seed, keyed by category, split and index, so no test recording (for
babble, no test talker or sentence) is shared with a training one."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxflow.parallel import run_parallel
from voxflow.synth.corpora.common import (check_size, corpus_dir, item_seed,
                                          write_audio)
from voxflow.synth.noises import CATEGORIES, GENERATORS

SAMPLE_RATE = 16000
SPLITS = ("train", "test")
PEAK_RANGE = (0.3, 0.9)         # recordings come at different levels, never clipping


@dataclass(frozen=True)
class NoiseSize:
    files: dict[str, int]       # split -> files per category
    seconds: float              # per file


SIZES = {
    "tiny": NoiseSize({"train": 3, "test": 1}, 4.0),
    "small": NoiseSize({"train": 12, "test": 4}, 6.0),
    "medium": NoiseSize({"train": 45, "test": 15}, 10.0),
}


@dataclass(frozen=True)
class _Job:
    path: Path
    category: str
    seconds: float
    seed: int


def build(out_dir: Path, size: str = "tiny", seed: int = 0, workers: int | None = None) -> Path:
    spec = SIZES[check_size(size)]
    root = corpus_dir(out_dir, "noise")
    jobs = [_Job(root / category / f"{category}_{split}_{index:03d}.wav", category, spec.seconds,
                 item_seed(seed, "noise", category, split, index))
            for category in CATEGORIES
            for split in SPLITS
            for index in range(1, spec.files[split] + 1)]
    run_parallel(_render, jobs, "noise", workers)
    return root


def _render(job: _Job) -> None:
    rng = np.random.default_rng(job.seed)
    audio = GENERATORS[job.category](rng, job.seconds, SAMPLE_RATE)
    audio = audio - audio.mean()
    audio *= rng.uniform(*PEAK_RANGE) / np.abs(audio).max()
    write_audio(job.path, audio.astype(np.float32), SAMPLE_RATE)
