"""Model selection on dev, as the papers train "until the error on the development set
converged": the loop validates every `validate_every` steps and the weights of the best
validation are the ones kept."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from voxflow.training.loop import TrainConfig, train

BEST_FILE = "best-dev.pt"


class KeepBest:
    """The loop's `validate`: `{name: score(model)}`, and the model's weights saved to `path`
    whenever the score is the lowest so far (also across resumed runs: the file holds it)."""

    def __init__(self, score: Callable[[nn.Module], float], path: Path, name: str = "dev_mse"):
        self.score, self.path, self.name = score, Path(path), name

    def __call__(self, model: nn.Module) -> dict[str, float]:
        value = self.score(model)
        best = torch.load(self.path, weights_only=False)[self.name] if self.path.is_file() \
            else math.inf
        if value < best:
            torch.save({self.name: value, "state": model.state_dict()}, self.path)
        return {self.name: value}


def train_keeping_best(model: nn.Module, loss, sample_batch, out_dir: Path,
                       config: TrainConfig, score: Callable[[nn.Module], float],
                       parameters=None) -> list[dict]:
    """`voxflow.training.train` of `model` with checkpoints in out_dir/checkpoints, validated
    by `score` (lower is better); then the best validation's weights are loaded into `model`.
    Returns the validation history (step and dev_mse of each validation)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    best = out_dir / BEST_FILE
    if not any((out_dir / "checkpoints").glob("step-*.pt")):
        best.unlink(missing_ok=True)        # a fresh run: an older run's best is not ours
    validation = train(model, loss, sample_batch, out_dir / "checkpoints", config,
                       parameters=parameters, validate=KeepBest(score, best)).validation
    model.load_state_dict(torch.load(best, weights_only=False)["state"])
    return validation
