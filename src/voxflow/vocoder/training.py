"""Training the vocoders with `voxflow.training.train`: the objectives as modules, so that one
`forward` per step covers every trained parameter (what DistributedDataParallel needs), and the
files a trained model is kept in.

- `TeacherObjective`: the WaveNet teacher and its conditioning networks (mel conditioner, Audio
  Encoder with the target as reference, as in seed 000's VAE view) -> NLL + KL.
- `DistillationObjective`: the student, trained by probability density distillation from the
  frozen teacher plus the power loss (and optionally a frame-level log-mel loss); the
  conditioning networks are the teacher's, shared and frozen (the paper found retraining them
  gives a worse student).
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from voxflow.features.logmel import LogMel, LogMelConfig
from voxflow.vocoder.losses import distillation_loss, teacher_loss
from voxflow.vocoder.mixture import logistic_noise
from voxflow.vocoder.models import ParallelWaveNetStudent, VocoderConfig, WaveNetTeacher


class TeacherObjective(nn.Module):
    """`(audio, mel)` -> {"loss", "nll", "kl"} of the teacher (beta weighs the KL)."""

    def __init__(self, teacher: WaveNetTeacher, beta: float = 1.0):
        super().__init__()
        self.teacher, self.beta = teacher, beta

    def forward(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        encoder = self.teacher.conditioning.encoder
        cond, kl = self.teacher.conditioning(mel, audio if encoder is not None else None)
        return teacher_loss(self.teacher(audio, cond), audio, kl, self.beta)


class DistillationObjective(nn.Module):
    """`(audio, mel)` -> {"loss", "kl", "cross_entropy", "entropy", "power"[, "mel"]} of the
    student (see `voxflow.vocoder.losses.distillation_loss`).

    The teacher is frozen and stays in eval mode whatever mode the objective is put in; the
    student's noise comes from torch's global generator, which the training loop checkpoints.
    With mel_weight > 0, `mel_config` is the features' log-mel, the mel loss's analysis."""

    def __init__(self, student: ParallelWaveNetStudent, teacher: WaveNetTeacher,
                 kl_weight: float = 1.0, power_weight: float = 1.0, mel_weight: float = 0.0,
                 mel_config: LogMelConfig = LogMelConfig(), n_fft: int = 1024,
                 hop_length: int = 256, samples: int = 2):
        super().__init__()
        teacher.requires_grad_(False)
        self.student, self.teacher = student, teacher
        self.log_mel = LogMel(mel_config) if mel_weight > 0 else None
        self.weights = {"kl_weight": kl_weight, "power_weight": power_weight,
                        "mel_weight": mel_weight, "n_fft": n_fft, "hop_length": hop_length,
                        "samples": samples}

    def train(self, mode: bool = True) -> DistillationObjective:
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        encoder = self.student.conditioning.encoder
        cond, _ = self.student.conditioning(mel, audio if encoder is not None else None)
        z = logistic_noise(audio.shape, None, audio.device, audio.dtype)
        return distillation_loss(self.student(z, cond), self.teacher, cond, audio,
                                 log_mel=self.log_mel, **self.weights)


def objective_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """The training loop's loss function for either objective."""
    terms = model(batch["audio"], batch["mel"])
    return terms["loss"], {name: value.detach() for name, value in terms.items()}


def save_model(path: Path, model: nn.Module, config: VocoderConfig) -> Path:
    """A trained teacher or student (with its conditioning) and its config, in one file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"config": json.dumps(asdict(config)), "state_dict": model.state_dict()}, tmp)
    tmp.replace(path)
    return path


def load_teacher(path: Path) -> WaveNetTeacher:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    teacher = WaveNetTeacher(VocoderConfig.from_dict(json.loads(saved["config"])))
    teacher.load_state_dict(saved["state_dict"])
    return teacher.eval()


def load_student(path: Path) -> ParallelWaveNetStudent:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    student = ParallelWaveNetStudent(VocoderConfig.from_dict(json.loads(saved["config"])))
    student.load_state_dict(saved["state_dict"])
    return student.eval()
