"""params.yaml's `antispoof` section, parsed once by a stage (`antispoof_params`); each key is
commented in params.yaml."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxflow.antispoof.gmm import GMMConfig
from voxflow.registry import RegistryParams
from voxflow.stage_io import parse

OBJECTIVES = ("siamese", "original")


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
    return parse(AntispoofParams, {**section, "frontends": {
        name: options or {} for name, options in section.get("frontends", {}).items()}},
        "params.yaml antispoof")
