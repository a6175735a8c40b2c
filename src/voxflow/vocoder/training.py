"""Training the vocoders with `voxflow.training.train`: the objectives as modules, so that one
`forward` per step covers every trained parameter (what DistributedDataParallel needs), and the
files a trained model is kept in.

- `TeacherObjective`: the WaveNet teacher and its conditioning networks (mel conditioner, Audio
  Encoder with the target as reference, as in the UPW paper's VAE view) -> NLL + KL.
- `DistillationObjective`: the student, trained by probability density distillation from the
  frozen teacher plus the power loss (and optionally a frame-level log-mel loss), the KL's
  weight ramped in over `kl_warmup_steps`; the conditioning networks are the teacher's, shared
  and frozen (the paper found retraining them gives a worse student).

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
from voxflow.vocoder.validation import TeacherValidation, check_teacher


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
    With mel_weight > 0, `mel_config` is the features' log-mel, the mel loss's analysis. The
    KL's weight grows linearly to `kl_weight` over the first `kl_warmup_steps` training
    forwards (counted in a buffer, so a resumed run continues the ramp)."""

    def __init__(self, student: ParallelWaveNetStudent, teacher: WaveNetTeacher,
                 kl_weight: float = 1.0, power_weight: float = 1.0, mel_weight: float = 0.0,
                 mel_config: LogMelConfig = LogMelConfig(), n_fft: int = 1024,
                 hop_length: int = 256, samples: int = 2, kl_warmup_steps: int = 0):
        super().__init__()
        teacher.requires_grad_(False)
        self.student, self.teacher = student, teacher
        self.log_mel = LogMel(mel_config) if mel_weight > 0 else None
        self.kl_weight, self.kl_warmup_steps = kl_weight, kl_warmup_steps
        self.register_buffer("forwards", torch.zeros((), dtype=torch.long))
        self.weights = {"power_weight": power_weight, "mel_weight": mel_weight, "n_fft": n_fft,
                        "hop_length": hop_length, "samples": samples}

    def train(self, mode: bool = True) -> DistillationObjective:
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        encoder = self.student.conditioning.encoder
        cond, _ = self.student.conditioning(mel, audio if encoder is not None else None)
        z = logistic_noise(audio.shape, None, audio.device, audio.dtype)
        ramp = 1.0
        if self.training and self.kl_warmup_steps:
            self.forwards += 1
            ramp = min(1.0, int(self.forwards) / self.kl_warmup_steps)
        terms = distillation_loss(self.student(z, cond), self.teacher, cond, audio,
                                  kl_weight=ramp * self.kl_weight, log_mel=self.log_mel,
                                  **self.weights)
        return {**terms, "kl_weight": torch.tensor(ramp * self.kl_weight)}


def objective_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """The training loop's loss function for either objective."""
    terms = model(batch["audio"], batch["mel"])
    return terms["loss"], {name: value.detach() for name, value in terms.items()}


def save_model(path: Path, model: nn.Module, config: VocoderConfig,
               validation: list[dict] | None = None) -> Path:
    """A trained teacher or student (with its conditioning), its config and its validation
    history, in one file; under torchrun only rank 0 writes it (every rank holds the same
    weights)."""
    path = Path(path)
    if not distributed_env().is_main:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"config": json.dumps(asdict(config)), "state_dict": model.state_dict(),
                "validation": json.dumps(validation or [])}, tmp)
    tmp.replace(path)
    return path


def load_model(path: Path, cls: type[nn.Module]) -> tuple[nn.Module, list[dict]]:
    """A model saved by `save_model` (`cls`: WaveNetTeacher or ParallelWaveNetStudent), in eval
    mode, and its validation history ({"step", measurements...} per validation)."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = cls(VocoderConfig.from_dict(json.loads(saved["config"])))
    model.load_state_dict(saved["state_dict"])
    return model.eval(), json.loads(saved.get("validation", "[]"))


def saved_validation(path: Path) -> list[dict]:
    """The validation history saved with a model."""
    return json.loads(torch.load(path, map_location="cpu", weights_only=True)
                      .get("validation", "[]"))


def load_teacher(path: Path) -> WaveNetTeacher:
    return load_model(path, WaveNetTeacher)[0]


def load_student(path: Path) -> ParallelWaveNetStudent:
    return load_model(path, ParallelWaveNetStudent)[0]


def vocoder_config(params: VocoderParams, system: str) -> VocoderConfig:
    """The architecture of `system` at params.yaml's preset (`quality` trains the tiny one
    longer)."""
    presets = {"tiny": VocoderConfig.tiny, "quality": VocoderConfig.tiny,
               "paper": VocoderConfig.paper}
    return presets[params.preset](audio_encoder=params.system(system).audio_encoder)


def seen_speaker_utterances(params: VocoderParams, features_dir: Path) -> list[str]:
    """The last `evaluation.seen_speaker_utterances` training utterances (by id) of every
    speaker a speaker-dependent system is trained on: held out of every system's training, the
    test set of SDPW against UPW on SDPW's own voice."""
    from voxflow.features.cache import read_index

    speakers = sorted({s for system in params.systems.values() for s in system.speakers})
    index = read_index(Path(features_dir))
    index = index[(index["split"] == params.train_split) & index["speaker"].isin(speakers)]
    count = params.evaluation.seen_speaker_utterances
    return [utt for _, group in index.sort_values("utt_id").groupby("speaker", sort=True)
            for utt in (group["utt_id"].tail(count) if count else [])]


def segment_sampler(features_dir: Path, params: VocoderParams, system: str,
                    training: TrainingParams):
    """Training segments of `training.segment_seconds` from the system's speakers, without
    the held-out `seen_speaker_utterances`."""
    from voxflow.vocoder.data import SegmentSampler

    hop = params.features.hop_length
    frames = max(1, round(training.segment_seconds * params.features.sample_rate / hop))
    return SegmentSampler(features_dir, params.train_split, training.batch_size, frames, hop,
                          speakers=params.system(system).speakers or None,
                          exclude=seen_speaker_utterances(params, features_dir))


def _train(objective: nn.Module, sampler, out_dir: Path, params: VocoderParams,
           training: TrainingParams, validate=None, validate_every: int = 0) -> list[dict]:
    """The shared loop on `objective`; returns its validation history."""
    from voxflow.training import TrainConfig, train

    config = TrainConfig(steps=training.steps, checkpoint_every=training.checkpoint_every,
                         log_every=training.log_every, seed=params.seed, lr=training.lr,
                         grad_clip=training.grad_clip, validate_every=validate_every)
    schedule = None
    if training.lr_final is not None:
        def schedule(optimizer):
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=training.steps,
                                                              eta_min=training.lr_final)
    return train(objective, objective_loss, sampler, Path(out_dir) / "checkpoints", config,
                 parameters=[p for p in objective.parameters() if p.requires_grad],
                 validate=validate, scheduler_factory=schedule).validation


def train_teacher(params: VocoderParams, system: str, features_dir: Path,
                  out_dir: Path) -> Path:
    """Train the WaveNet teacher of `system` with its conditioning networks on the features'
    training split (input statistics from that split); returns out_dir/teacher.pt."""
    config = vocoder_config(params, system)
    torch.manual_seed(params.seed)          # the initial weights: same params, same model
    teacher = WaveNetTeacher(config)
    sampler = segment_sampler(features_dir, params, system, params.teacher)
    teacher.conditioning.mel.set_statistics(*sampler.mel_statistics())
    teacher.set_level(sampler.audio_rms())
    training, features = params.teacher, params.features
    validate = TeacherValidation(features_dir, training.validation_split,
                                 training.validation_utterances, training.validation_seconds,
                                 features.sample_rate, features.hop_length)
    validation = _train(TeacherObjective(teacher, training.beta), sampler, out_dir, params,
                        training, validate, training.validate_every)
    return save_model(Path(out_dir) / "teacher.pt", teacher, config, validation)


def train_student(params: VocoderParams, system: str, features_dir: Path, teacher_path: Path,
                  out_dir: Path) -> Path:
    """Distill the Parallel WaveNet student of `system` from its trained teacher, sharing the
    teacher's (frozen) conditioning networks; returns out_dir/student.pt."""
    params.system(system)
    teacher, validation = load_model(Path(teacher_path), WaveNetTeacher)
    passed = check_teacher(validation, params.teacher_gate, Path(teacher_path))
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.set_tag("voxflow.teacher_gate", "passed" if passed else "FAILED")
    torch.manual_seed(params.seed)          # the initial weights: same params, same model
    student = ParallelWaveNetStudent.from_teacher(teacher)
    training = params.student
    sampler = segment_sampler(features_dir, params, system, training)
    student.set_output_level(sampler.audio_rms())
    objective = DistillationObjective(
        student, teacher, kl_weight=training.kl_weight, power_weight=training.power_weight,
        mel_weight=training.mel_weight, mel_config=params.features, n_fft=training.n_fft,
        hop_length=training.hop_length, samples=training.samples,
        kl_warmup_steps=training.kl_warmup_steps)
    _train(objective, sampler, out_dir, params, training)
    return save_model(Path(out_dir) / "student.pt", student, teacher.config)
