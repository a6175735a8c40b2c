"""params.yaml's `avse` section, parsed once by a stage (`avse_params`).

A preset is a whole recipe: the architecture (`voxflow.avse.models.AVSEConfig.<preset>`) and the
training settings below (`PRESETS`); params.yaml's `training` holds only overrides, key by key.
"""
from __future__ import annotations

from dataclasses import dataclass

from voxflow.avse.crops import CropConfig
from voxflow.avse.mixing import MixingConfig
from voxflow.avse.models import VARIANTS, AVSEConfig
from voxflow.features.logmel import LogMelConfig
from voxflow.registry import RegistryParams
from voxflow.stage_io import parse, with_preset

_TINY = {
    "training": {
        "steps": 600,                   # optimizer steps
        "batch_size": 8,                # utterances per step (the paper's 16: half, for time)
        # random 1 s segments of the utterances, a third of a GRID sentence's cost
        # (0: whole zero-padded utterances, the paper's)
        "segment_seconds": 1.0,
        "lr": 2e-3,                     # Adam; 10x the paper's, for a run of minutes
        "validate_every": 200,          # dev MSE (a pass over all of dev); the best one is kept
        "checkpoint_every": 200,
        "log_every": 20,
    },
}

# section 3.4: Adam 2e-4, minibatch 16, MSE, model selection on the validation set; the paper
# gives no number of steps
_PAPER = {
    "training": {**_TINY["training"], "steps": 100_000, "batch_size": 16, "lr": 2e-4,
                 "segment_seconds": 0.0,
                 "validate_every": 2000,
                 "checkpoint_every": 2000, "log_every": 100},
}

PRESETS = {"tiny": _TINY, "paper": _PAPER}


@dataclass(frozen=True)
class SystemParams:
    """One enhancement system: a variant of `voxflow.avse.models.AVSENet`."""
    variant: str

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"params.yaml avse.systems: unknown variant {self.variant!r} "
                             f"(expected one of {', '.join(VARIANTS)})")


@dataclass(frozen=True)
class TrainingParams:
    steps: int
    batch_size: int
    segment_seconds: float
    lr: float
    validate_every: int
    checkpoint_every: int
    log_every: int
    grad_clip: float | None = None


@dataclass(frozen=True)
class EvaluationParams:
    max_gain: float                     # cap of the mel gain on the noisy STFT
    champion_system: str                # the system registered as voxflow-avse
    figure_mixtures: int                # test mixtures drawn as spectrograms (figure 3)


@dataclass(frozen=True)
class AVSEParams:
    preset: str
    seed: int
    workers: int                        # processes of the mixing and crop stages (0: all cores)
    threads: int                        # torch CPU threads of training and evaluation (0:
    #                                     torch's default)
    features: LogMelConfig
    mixing: MixingConfig
    crops: CropConfig
    systems: dict[str, SystemParams]
    training: TrainingParams
    evaluation: EvaluationParams
    registry: RegistryParams

    def system(self, name: str) -> SystemParams:
        if name not in self.systems:
            raise ValueError(f"unknown avse system {name!r}; params.yaml avse.systems has "
                             f"{', '.join(self.systems)}")
        return self.systems[name]

    def model_config(self, name: str) -> AVSEConfig:
        """The architecture of system `name` at this preset's size."""
        return getattr(AVSEConfig, self.preset)(self.system(name).variant)


def avse_params(section: dict) -> AVSEParams:
    return parse(AVSEParams, with_preset(section, PRESETS, "params.yaml avse"),
                 "params.yaml avse")
