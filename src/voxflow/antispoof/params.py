"""params.yaml's `antispoof` section, parsed once by a stage (`antispoof_params`); each key is
commented in params.yaml.

A preset is a whole recipe: the backbones' and the MLP's sizes
(`voxflow.antispoof.models.BackboneConfig.<preset>`) and the GMM and training settings below
(`PRESETS`). params.yaml's `gmm` and `training` sections hold the settings that are not part of
a recipe (the GMMs' front-ends and seed, the CPU threads) and overrides: a key set there wins
over the preset's, a key left out takes the preset's value.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxflow.antispoof.gmm import GMMConfig
from voxflow.registry import RegistryParams
from voxflow.stage_io import parse, with_preset

OBJECTIVES = ("siamese", "original")

_TINY = {
    "gmm": {
        "components": 16,               # per class (bona fide, spoof)
        "max_frames": 20_000,           # per class, drawn at random: EM on a CPU in seconds
        "max_iter": 50,                 # EM iterations
    },
    "training": {
        "batch_size": 64,               # minibatches half bona fide, half spoof (paper)
        "pairs": 50,                    # random pairs per minibatch, eq. 3 (paper)
        "margin": 2.0,                  # m of eq. 3 (the paper's best, table 3)
        "epochs": 50,                   # embedding (and original network) epochs (paper)
        "classifier_epochs": 50,        # the MLP on frozen embeddings: the tiny train split
                                        # has 2 batches an epoch, the paper's ~840
        "lr": 0.003,                    # alpha of eq. 4 (not given in the paper)
        "checkpoint_every": 50,         # optimizer steps
        "log_every": 10,
    },
}

# the Siamese spoofing paper (section 4): 50 embedding epochs, 10 classifier epochs; the
# ASVspoof 2019 baselines' GMMs: 512 components on every training frame
_PAPER = {
    "gmm": {**_TINY["gmm"], "components": 512, "max_frames": None,
            "max_iter": 100},           # iterations not stated by the organisers
    "training": {**_TINY["training"], "classifier_epochs": 10, "checkpoint_every": 1000,
                 "log_every": 100},
}

PRESETS = {"tiny": _TINY, "paper": _PAPER}


@dataclass(frozen=True)
class GMMParams:
    frontends: tuple[str, ...]          # <frontend>-GMM baselines (antispoof-gmm@<frontend>)
    components: int
    max_iter: int
    seed: int
    max_frames: int | None = None       # per class, drawn at random (None: all)

    def config(self) -> GMMConfig:
        return GMMConfig(components=self.components, max_frames=self.max_frames,
                         max_iter=self.max_iter, seed=self.seed)


@dataclass(frozen=True)
class TrainingParams:
    """Both phases of the Siamese system and the original network."""
    batch_size: int
    pairs: int
    margin: float
    epochs: int
    classifier_epochs: int
    lr: float
    checkpoint_every: int
    log_every: int
    threads: int = 0                    # torch CPU threads; 0: torch's default
    grad_clip: float | None = None


@dataclass(frozen=True)
class SystemSpec:
    """One trained countermeasure (antispoof-train@<name>)."""
    frontend: str
    backbone: str
    objective: str                      # siamese or original
    margin: float | None = None         # the system's own eq. 3 margin (None: training.margin)


@dataclass(frozen=True)
class AntispoofParams:
    workers: int
    frontends: dict[str, dict[str, Any]]    # each front-end's config fields, as in params.yaml
    preset: str
    seed: int
    frames: dict[str, int]
    gmm: GMMParams
    training: TrainingParams
    systems: dict[str, SystemSpec]
    registry: RegistryParams

    def __post_init__(self):
        for name, spec in self.systems.items():
            if spec.objective not in OBJECTIVES:
                raise ValueError(f"params.yaml antispoof.systems.{name}.objective: "
                                 f"{spec.objective!r}, expected {' or '.join(OBJECTIVES)}")
            if spec.frontend not in self.frontends or spec.frontend not in self.frames:
                raise ValueError(f"params.yaml antispoof.systems.{name}: front-end "
                                 f"{spec.frontend!r} not in antispoof.frontends and frames")

    def frontend(self, name: str) -> dict[str, Any]:
        if name not in self.frontends:
            raise ValueError(f"unknown front-end {name!r}: params.yaml's antispoof.frontends "
                             f"has {', '.join(self.frontends)}")
        return self.frontends[name]

    def system(self, name: str) -> SystemSpec:
        if name not in self.systems:
            raise ValueError(f"unknown antispoof system {name!r}: params.yaml's "
                             f"antispoof.systems has {', '.join(self.systems)}")
        return self.systems[name]

    def margin(self, name: str) -> float:
        spec = self.system(name)
        return self.training.margin if spec.margin is None else spec.margin

    def baseline_folders(self, models_dir: Path) -> list[Path]:
        """The GMM baselines' folders: `models_dir`/baselines/<frontend>-gmm."""
        return [Path(models_dir) / "baselines" / f"{frontend}-gmm"
                for frontend in self.gmm.frontends]

    def system_folders(self, models_dir: Path) -> list[Path]:
        """The trained systems' folders, `models_dir`/systems/<name>, in params.yaml's order."""
        return [Path(models_dir) / "systems" / name for name in self.systems]


def antispoof_params(section: dict) -> AntispoofParams:
    """The section with its preset's GMM and training settings under their own keys."""
    section = with_preset(section, PRESETS, "params.yaml antispoof")
    return parse(AntispoofParams, {**section, "frontends": {
        name: options or {} for name, options in section.get("frontends", {}).items()}},
        "params.yaml antispoof")
