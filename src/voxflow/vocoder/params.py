"""params.yaml's `vocoder` section, parsed once by a stage (`vocoder_params`); each key is
commented in params.yaml."""
from __future__ import annotations

from dataclasses import dataclass

from voxflow.features.logmel import LogMelConfig
from voxflow.registry import RegistryParams
from voxflow.stage_io import parse

PRESETS = ("tiny", "paper")


@dataclass(frozen=True)
class SystemParams:
    """One trained vocoder (upw, sdpw): its own teacher and student."""
    audio_encoder: bool
    speakers: tuple[str, ...] = ()      # () = every speaker of the training split


@dataclass(frozen=True, kw_only=True)
class TrainingParams:
    """What the teacher's and the student's trainings share: the loop and the segments."""
    steps: int
    batch_size: int
    segment_seconds: float
    lr: float
    checkpoint_every: int
    log_every: int
    grad_clip: float | None = None


@dataclass(frozen=True, kw_only=True)
class TeacherTraining(TrainingParams):
    beta: float = 1.0                   # weight of the Audio Encoder's KL


@dataclass(frozen=True, kw_only=True)
class StudentTraining(TrainingParams):
    kl_weight: float
    power_weight: float
    n_fft: int                          # of the power loss
    hop_length: int
    mel_weight: float
    samples: int                        # Monte-Carlo draws per position


@dataclass(frozen=True)
class EvaluationParams:
    split: str
    utterances: int
    max_seconds: float
    teacher: bool                       # also vocode with the (slow) autoregressive teacher


@dataclass(frozen=True)
class VocoderParams:
    features: LogMelConfig
    preset: str
    seed: int
    train_split: str
    systems: dict[str, SystemParams]
    teacher: TeacherTraining
    student: StudentTraining
    evaluation: EvaluationParams
    registry: RegistryParams

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"params.yaml vocoder.preset: unknown preset {self.preset!r} "
                             f"(expected {' or '.join(PRESETS)})")

    def system(self, name: str) -> SystemParams:
        if name not in self.systems:
            raise ValueError(f"unknown vocoder system {name!r}: params.yaml's vocoder.systems "
                             f"has {', '.join(self.systems)}")
        return self.systems[name]


def vocoder_params(section: dict) -> VocoderParams:
    return parse(VocoderParams, section, "params.yaml vocoder")
