"""Training of one enhancement system (section 3.4 of the MHCA-AVCRN paper): MSE between the
enhanced and the clean log-mel, both normalised with the noisy training statistics, on
minibatches of whole zero-padded utterances; model selection on the dev split (the weights of
the validation with the lowest dev MSE are the system's)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from voxflow.avse.data import EnhancementSet, Statistics
from voxflow.avse.models import AVSEConfig, AVSENet, mel_mse
from voxflow.avse.params import AVSEParams
from voxflow.training.distributed import distributed_env, unwrap

MODEL_FILE = "model.pt"
VALIDATION_BATCH = 16


class Enhancer(nn.Module):
    """`AVSENet` with the statistics it was trained with: `enhance(noisy, video, lengths)` takes
    raw log-mels (batch, frames, n_mels) and crops (batch, frames // 4, 80, 80) in 0..1 (None for
    the audio-only CRN) and returns the enhanced log-mel, raw too; `forward` is the same in the
    normalised domain the loss is computed in."""

    def __init__(self, config: AVSEConfig, statistics: Statistics):
        super().__init__()
        self.net = AVSENet(config)
        self.statistics = statistics
        self.register_buffer("mel_mean", torch.from_numpy(statistics.mel_mean))
        self.register_buffer("mel_std", torch.from_numpy(statistics.mel_std))

    @property
    def uses_video(self) -> bool:
        return self.net.config.uses_video

    def normalise(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.mel_mean) / self.mel_std

    def forward(self, noisy: torch.Tensor, video: torch.Tensor | None,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        if self.uses_video:
            video = (video - self.statistics.video_mean) / self.statistics.video_std
        return self.net(self.normalise(noisy), video if self.uses_video else None, lengths)

    def enhance(self, noisy: torch.Tensor, video: torch.Tensor | None,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self(noisy, video, lengths) * self.mel_std + self.mel_mean


def enhancement_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """The training loop's loss: normalised log-mel MSE over the valid frames."""
    clean = unwrap(model).normalise(batch["clean"])
    loss = mel_mse(model(batch["noisy"], batch["video"], batch["lengths"]), clean,
                   batch["lengths"])
    return loss, {"mse": loss.detach()}


def dev_mse(model: Enhancer, dev: EnhancementSet) -> float:
    """Normalised log-mel MSE over every valid frame of the dev split."""
    device = model.mel_mean.device
    total, frames = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(dev), VALIDATION_BATCH):
            batch = dev.batch(range(start, min(start + VALIDATION_BATCH, len(dev))))
            batch = {name: value.to(device) for name, value in batch.items()}
            count = int(batch["lengths"].sum())
            total += float(enhancement_loss(model, batch)[0]) * count
            frames += count
    return total / frames


def train_system(params: AVSEParams, system: str, features_dir: Path, crops_dir: Path,
                 out_dir: Path) -> Path:
    """Train `system` (a key of avse.systems) on the train split, selected on dev; returns
    out_dir/model.pt."""
    from voxflow.training import TrainConfig
    from voxflow.training.selection import train_keeping_best

    config, training = params.model_config(system), params.training
    train_set = EnhancementSet(features_dir, crops_dir, "train")
    dev = EnhancementSet(features_dir, crops_dir, "dev")
    torch.manual_seed(params.seed)          # the initial weights: same params, same model
    model = Enhancer(config, train_set.statistics())
    loop = TrainConfig(steps=training.steps, checkpoint_every=training.checkpoint_every,
                       log_every=training.log_every, seed=params.seed, lr=training.lr,
                       grad_clip=training.grad_clip, validate_every=training.validate_every)
    segment = round(training.segment_seconds * params.crops.fps)     # in video frames
    validation = train_keeping_best(model, enhancement_loss,
                                    train_set.sampler(training.batch_size, segment),
                                    Path(out_dir), loop, lambda m: dev_mse(m, dev))
    return save_model(Path(out_dir) / MODEL_FILE, system, model, validation)


def save_model(path: Path, system: str, model: Enhancer, validation: list[dict]) -> Path:
    """The selected weights, the system's name, the architecture, the statistics and the
    validation history in one file (rank 0 only under torchrun)."""
    if distributed_env().is_main:
        torch.save({"system": system, "config": model.net.config.to_dict(),
                    "statistics": model.statistics.as_dict(),
                    "state": model.state_dict(), "validation": validation}, path)
    return Path(path)


def load_model(path: Path) -> Enhancer:
    """An `Enhancer` saved by `save_model`, in eval mode."""
    saved = torch.load(path, weights_only=False)
    model = Enhancer(AVSEConfig.from_dict(saved["config"]),
                     Statistics.from_dict(saved["statistics"]))
    model.load_state_dict(saved["state"])
    return model.eval()


def find_models(paths) -> dict[str, Path]:
    """system -> model.pt of the trained systems in `paths`: system folders (holding model.pt)
    or folders of them (e.g. models/avse)."""
    files = []
    for path in map(Path, paths):
        found = [path / MODEL_FILE] if (path / MODEL_FILE).is_file() \
            else sorted(path.glob(f"*/{MODEL_FILE}"))
        if not found:
            raise FileNotFoundError(f"{path}: no {MODEL_FILE} in it or in its subfolders")
        files += found
    models = {}
    for file in files:
        system = torch.load(file, weights_only=False)["system"]
        if system in models:
            raise ValueError(f"two models of system {system!r}: {models[system]} and {file}")
        models[system] = file
    return models


def saved_validation(path: Path) -> list[dict]:
    """The validation history saved with a model (step, dev_mse)."""
    return torch.load(path, weights_only=False)["validation"]
