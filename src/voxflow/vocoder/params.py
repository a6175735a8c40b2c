"""params.yaml's `vocoder` section, parsed once by a stage (`vocoder_params`).

A preset is a whole recipe: the architecture (`voxflow.vocoder.models.VocoderConfig.<preset>`)
and the training settings below (`PRESETS`). params.yaml's `teacher`, `student` and
`teacher_gate` sections hold only overrides: a key set there wins over the preset's, a key
left out takes the preset's value.
"""
from __future__ import annotations

from dataclasses import dataclass

from voxflow.features.logmel import LogMelConfig
from voxflow.registry import RegistryParams
from voxflow.stage_io import parse, with_preset

_TINY = {
    "teacher": {
        "steps": 150,                   # optimizer steps
        "batch_size": 8,                # segments per step
        "segment_seconds": 0.3625,      # the paper's teacher segment
        "lr": 1e-3,                     # Adam; 10x the paper's, for a run of minutes
        "beta": 1.0,                    # weight of the Audio Encoder's KL
        "checkpoint_every": 50,
        "log_every": 10,
        "validate_every": 75,           # held-out NLL and generated-sample V/UV and MCD
        "validation_split": "dev-clean",    # speakers held out of training and evaluation
        "validation_utterances": 2,
        "validation_seconds": 0.5,      # from each one's middle, generated at ~15x real time
    },
    "student": {
        "steps": 150,
        "batch_size": 4,
        "segment_seconds": 0.85,        # the paper's student segment
        "lr": 1e-3,
        "kl_weight": 1.0,               # probability density distillation
        "kl_warmup_steps": 50,          # the KL's weight ramps up linearly over these steps,
                                        # the spectral losses leading (0: full weight at once)
        "power_weight": 100.0,          # Parallel WaveNet's power loss; its values are ~1e-3
                                        # for speech at RMS 0.05, hence the weight
        "n_fft": 1024,                  # of the power loss
        "hop_length": 256,
        "mel_weight": 1.0,              # frame-level log-mel L1 (not in the paper; 0: off)
        "samples": 2,                   # Monte-Carlo draws per position
        "checkpoint_every": 50,
        "log_every": 10,
    },
    # the teacher a student may be distilled from: its generated samples must be voiced where
    # speech is and near its envelope; on_fail "error" refuses to distil, "warn" logs loudly
    # and tags the student's run
    "teacher_gate": {"max_vuv_error": 0.4, "max_mcd": 8.0, "on_fail": "warn"},
}

# the UPW paper (section 3.1) after Parallel WaveNet: teacher batch 64 x 0.3625 s, student
# 16 x 0.85 s, Adam 1e-4, KL 1, power loss 1, no mel loss
_PAPER = {
    "teacher": {**_TINY["teacher"], "steps": 1_000_000, "batch_size": 64, "lr": 1e-4,
                "checkpoint_every": 10_000, "log_every": 100, "validate_every": 10_000},
    "student": {**_TINY["student"], "steps": 1_000_000, "batch_size": 16, "lr": 1e-4,
                "kl_weight": 1.0, "kl_warmup_steps": 0, "power_weight": 1.0, "mel_weight": 0.0,
                "checkpoint_every": 10_000, "log_every": 100},
    "teacher_gate": {**_TINY["teacher_gate"], "on_fail": "error"},
}

# the tiny models trained ~20x longer: about an hour per teacher on 2 CPU cores, in the
# background (benchmarks/README.md, Vocoder learning curves)
_QUALITY = {
    "teacher": {**_TINY["teacher"], "steps": 3000, "checkpoint_every": 250, "log_every": 50,
                "validate_every": 250,
                # a constant 1e-3 leaves the V/UV error swinging by +-0.1 between validations
                "lr_final": 1e-4,
                # 4 x 0.5 s: two utterances disagreed by 0.3 in V/UV error at one checkpoint
                "validation_utterances": 4},
    "student": {**_TINY["student"], "steps": 1000, "lr": 5e-4, "kl_warmup_steps": 300,
                "checkpoint_every": 250, "log_every": 50},
    "teacher_gate": {**_TINY["teacher_gate"], "on_fail": "error"},
}

PRESETS = {"tiny": _TINY, "quality": _QUALITY, "paper": _PAPER}


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
    lr_final: float | None = None       # cosine decay from lr to this at the last step
                                        # (None: constant lr)


@dataclass(frozen=True, kw_only=True)
class TeacherTraining(TrainingParams):
    beta: float                         # weight of the Audio Encoder's KL
    validate_every: int                 # steps between held-out measurements (0: at the end)
    validation_split: str
    validation_utterances: int
    validation_seconds: float


@dataclass(frozen=True, kw_only=True)
class StudentTraining(TrainingParams):
    kl_weight: float
    kl_warmup_steps: int
    power_weight: float
    n_fft: int                          # of the power loss
    hop_length: int
    mel_weight: float
    samples: int                        # Monte-Carlo draws per position


@dataclass(frozen=True)
class TeacherGate:
    """The teacher's generated samples on held-out utterances, at its last validation."""
    max_vuv_error: float
    max_mcd: float                      # dB
    on_fail: str                        # "error" or "warn"

    def __post_init__(self):
        if self.on_fail not in ("error", "warn"):
            raise ValueError(f"params.yaml vocoder.teacher_gate.on_fail: {self.on_fail!r} "
                             "(expected 'error' or 'warn')")


@dataclass(frozen=True)
class EvaluationParams:
    split: str
    utterances: int
    max_seconds: float
    teacher: bool                       # also vocode with the (slow) autoregressive teacher
    seen_speaker_utterances: int        # held out of training per speaker-dependent system


@dataclass(frozen=True)
class VocoderParams:
    features: LogMelConfig
    preset: str
    seed: int
    threads: int                # torch CPU threads of the model stages (0: torch's default)
    train_split: str
    systems: dict[str, SystemParams]
    teacher: TeacherTraining
    student: StudentTraining
    teacher_gate: TeacherGate
    evaluation: EvaluationParams
    registry: RegistryParams

    def system(self, name: str) -> SystemParams:
        if name not in self.systems:
            raise ValueError(f"unknown vocoder system {name!r}: params.yaml's vocoder.systems "
                             f"has {', '.join(self.systems)}")
        return self.systems[name]


def vocoder_params(section: dict) -> VocoderParams:
    """The section with its preset's training settings under its own keys."""
    return parse(VocoderParams, with_preset(section, PRESETS, "params.yaml vocoder"),
                 "params.yaml vocoder")
