"""The registry of voxflow's systems: one line per system.

A system `name` owns the package `voxflow.<name>` (its `params.py`, `stages.py` and `cli.py`,
whose `add_stages(subparsers)` registers its `voxflow stage ...` commands and optional
`add_commands(subparsers)` its top-level ones), the KFP components
`components/<name>.py` and the pipelines `pipelines/<name>.py` (whose `PIPELINES` maps pipeline
names to `build(gpus)`), its section of params.yaml, its stages in dvc.yaml and `tests/<name>/`.
Adding a system is adding those files and its line here.
"""
from __future__ import annotations

import importlib
from types import ModuleType

SYSTEMS = (
    "corpora",          # synthesis of the embedded default and ingestion of every corpus
    "vocoder",          # universal Parallel WaveNet vocoder
    "antispoof",        # Siamese spoofing detection
    "avse",             # audio-visual speech enhancement (MHCA-AVCRN)
    "mlms",             # multi-language multi-speaker LSTM acoustic model
    "anonymization",    # voice anonymization (kNN-VC) and the VoicePrivacy 2024 evaluation
)


def cli_module(system: str) -> ModuleType:
    """`voxflow.<system>.cli`."""
    return importlib.import_module(f"voxflow.{system}.cli")
