"""Training the vocoders with `voxflow.training.train`: the objectives as modules, so that one
`forward` per step covers every trained parameter (what DistributedDataParallel needs), and the
files a trained model is kept in.

- `TeacherObjective`: the WaveNet teacher and its conditioning networks (mel conditioner, Audio
  Encoder with the target as reference, as in the UPW paper's VAE view) -> NLL + KL.
- `DistillationObjective`: the student, trained by probability density distillation from the
  frozen teacher plus the power loss (and optionally a frame-level log-mel loss); the
  conditioning networks are the teacher's, shared and frozen (the paper found retraining them
  gives a worse student).

`train_teacher` and `train_student` are the whole training of one system from params.yaml's
`vocoder` section (seeding, data, statistics, objective, loop, saved model): what the stages
call.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from voxflow.features.logmel import LogMel, LogMelConfig
from voxflow.training.distributed import distributed_env
from voxflow.vocoder.losses import distillation_loss, teacher_loss
from voxflow.vocoder.mixture import logistic_noise
from voxflow.vocoder.models import ParallelWaveNetStudent, VocoderConfig, WaveNetTeacher
from voxflow.vocoder.params import TrainingParams, VocoderParams


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
    """A trained teacher or student (with its conditioning) and its config, in one file; under
    torchrun only rank 0 writes it (every rank holds the same weights)."""
    path = Path(path)
    if not distributed_env().is_main:
        return path
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


def vocoder_config(params: VocoderParams, system: str) -> VocoderConfig:
    """The architecture of `system` at params.yaml's preset."""
    presets = {"tiny": VocoderConfig.tiny, "paper": VocoderConfig.paper}
    return presets[params.preset](audio_encoder=params.system(system).audio_encoder)


def segment_sampler(features_dir: Path, params: VocoderParams, system: str,
                    training: TrainingParams):
    """Training segments of `training.segment_seconds` from the system's speakers."""
    from voxflow.vocoder.data import SegmentSampler

    hop = params.features.hop_length
    frames = max(1, round(training.segment_seconds * params.features.sample_rate / hop))
    return SegmentSampler(features_dir, params.train_split, training.batch_size, frames, hop,
                          speakers=params.system(system).speakers or None)


def _train(objective: nn.Module, sampler, out_dir: Path, params: VocoderParams,
           training: TrainingParams) -> None:
    from voxflow.training import TrainConfig, train

    config = TrainConfig(steps=training.steps, checkpoint_every=training.checkpoint_every,
                         log_every=training.log_every, seed=params.seed, lr=training.lr,
                         grad_clip=training.grad_clip)
    train(objective, objective_loss, sampler, Path(out_dir) / "checkpoints", config,
          parameters=[p for p in objective.parameters() if p.requires_grad])


def train_teacher(params: VocoderParams, system: str, features_dir: Path,
                  out_dir: Path) -> Path:
    """Train the WaveNet teacher of `system` with its conditioning networks on the features'
    training split (input statistics from that split); returns out_dir/teacher.pt."""
    config = vocoder_config(params, system)
    torch.manual_seed(params.seed)          # the initial weights: same params, same model
    teacher = WaveNetTeacher(config)
    sampler = segment_sampler(features_dir, params, system, params.teacher)
    teacher.conditioning.mel.set_statistics(*sampler.mel_statistics())
    _train(TeacherObjective(teacher, params.teacher.beta), sampler, out_dir, params,
           params.teacher)
    return save_model(Path(out_dir) / "teacher.pt", teacher, config)


def train_student(params: VocoderParams, system: str, features_dir: Path, teacher_path: Path,
                  out_dir: Path) -> Path:
    """Distill the Parallel WaveNet student of `system` from its trained teacher, sharing the
    teacher's (frozen) conditioning networks; returns out_dir/student.pt."""
    params.system(system)
    teacher = load_teacher(Path(teacher_path))
    torch.manual_seed(params.seed)          # the initial weights: same params, same model
    student = ParallelWaveNetStudent.from_teacher(teacher)
    training = params.student
    objective = DistillationObjective(
        student, teacher, kl_weight=training.kl_weight, power_weight=training.power_weight,
        mel_weight=training.mel_weight, mel_config=params.features, n_fft=training.n_fft,
        hop_length=training.hop_length, samples=training.samples)
    _train(objective, segment_sampler(features_dir, params, system, training), out_dir, params,
           training)
    return save_model(Path(out_dir) / "student.pt", student, teacher.config)
