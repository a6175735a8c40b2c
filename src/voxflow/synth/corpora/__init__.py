"""Builders of the miniature corpora, one module per corpus, each with `build(...)`.

| name     | folder                 | layout of the real release (../shared/corpora.md) |
|----------|------------------------|----------------------------------------------------|
| libritts | LibriTTS/              | LibriTTS subsets, 24 kHz wav                       |
| grid     | GRID/                  | GRID Zenodo release, 25 kHz wav, .align, .mpg      |
| asvspoof | LA/                    | ASVspoof 2019 LA, 16 kHz FLAC, protocols, ASV scores |
| iemocap  | IEMOCAP_full_release/  | IEMOCAP sessions, 16 kHz wav, EmoEvaluation         |
| mlms     | mlms/                  | LJSpeech-style metadata + MFA TextGrids, 22.05 kHz  |
| noise    | noise/                 | DEMAND-style category folders, 16 kHz wav           |
"""
from __future__ import annotations

import importlib
from pathlib import Path

FOLDERS = {"libritts": "LibriTTS", "grid": "GRID", "asvspoof": "LA",
           "iemocap": "IEMOCAP_full_release", "mlms": "mlms", "noise": "noise"}
CORPORA = tuple(FOLDERS)


def build_corpus(name: str, out_dir: Path, size: str = "tiny", seed: int = 0,
                 workers: int | None = None) -> Path:
    """Build one corpus under `out_dir`; returns its root folder."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}: expected one of {', '.join(CORPORA)}")
    module = importlib.import_module(f"voxflow.synth.corpora.{name}")
    return module.build(Path(out_dir), size=size, seed=seed, workers=workers)
