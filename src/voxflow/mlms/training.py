"""Training of the MLMS acoustic models, their baselines, the language adaptations and the
duration model (paper 002, sections 3-4): MSE between predicted and target features, both
normalised with training statistics, on minibatches of random windows (truncated BPTT) of
utterances whose languages and speakers are mixed; model selection on dev (the weights of the
validation with the lowest dev MSE are kept, as the paper trains "until the mean squared error
over the development set converged").

Who trains on what:
- an MLMS system: every training language's train split, one model;
- the baselines: one single-language single-speaker model per training (language, speaker),
  on that pair's train split alone;
- adaptation to a held-out language (`adapt`): the source MLMS model with a new language code
  and a new output layer for the language's speaker, trained phase by phase
  (`voxflow.mlms.models.ADAPTATION_SETUPS`) on the language's limited train split; a setup
  whose phases begin with another's (v3 begins with v1, v4 with v3) continues from that
  setup's result rather than training its phases again; `scratch` is a baseline of the
  language's pair on the same data;
- the duration model: log phone durations of every language's train split (held-out ones
  included: the registered voice speaks them all).
Normalisation statistics come from the training languages' train split (the adaptations keep
their source's, as the model's input and output spaces are its).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch import nn

from voxflow.mlms.data import Normaliser, SequenceSet, acoustic_set, duration_set
from voxflow.mlms.losses import masked_mse
from voxflow.mlms.models import ADAPTATION_SETUPS, MLMSConfig, MLMSNet, trainable_parameters
from voxflow.mlms.params import SCRATCH, MLMSParams, TrainingParams
from voxflow.training.distributed import distributed_env, unwrap

MODEL_FILE = "model.pt"
DURATION_MODEL = "duration"         # the duration model's saved name
VALIDATION_BATCH = 32    # utterances per forward pass of a validation


class Predictor(nn.Module):
    """`MLMSNet` with the normalisers it was trained with: `forward(x, languages, speakers)` maps
    raw inputs (batch, T, D_in) to normalised outputs (batch, T, D_out), the domain of the loss;
    `predict` returns them raw."""

    def __init__(self, net: MLMSNet, inputs: Normaliser, outputs: Normaliser):
        super().__init__()
        self.net, self.inputs, self.outputs = net, inputs, outputs
        for name, normaliser in (("in", inputs), ("out", outputs)):
            self.register_buffer(f"{name}_mean", torch.from_numpy(normaliser.mean))
            self.register_buffer(f"{name}_std", torch.from_numpy(normaliser.std))

    def normalise_target(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.out_mean) / self.out_std

    def forward(self, x: torch.Tensor, languages: list[str], speakers: list[str]) -> torch.Tensor:
        return self.net((x - self.in_mean) / self.in_std, languages, speakers)

    def predict(self, x: torch.Tensor, languages: list[str], speakers: list[str]) -> torch.Tensor:
        return self(x, languages, speakers) * self.out_std + self.out_mean


def sequence_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """The training loop's loss: normalised MSE over the valid steps."""
    target = unwrap(model).normalise_target(batch["y"])
    loss = masked_mse(model(batch["x"], batch["languages"], batch["speakers"]), target,
                      batch["lengths"])
    return loss, {"mse": loss.detach()}


def utterance_mse(model: Predictor, data: SequenceSet) -> np.ndarray:
    """(utterances,) normalised MSE of each utterance of `data`, over its steps and dims.

    Utterances are batched in order of length: an LSTM's cost is one step per frame of the
    longest utterance of a batch, so similar lengths waste little on padding."""
    device = model.out_mean.device
    order = np.argsort([len(target) for target in data.targets], kind="stable")
    scores = np.zeros(len(data))
    with torch.no_grad():
        for start in range(0, len(data), VALIDATION_BATCH):
            indices = order[start:start + VALIDATION_BATCH].tolist()
            batch = data.batch(indices)
            x, y = batch["x"].to(device), batch["y"].to(device)
            error = (model(x, batch["languages"], batch["speakers"])
                     - model.normalise_target(y)) ** 2
            for row, length in enumerate(batch["lengths"].tolist()):
                scores[indices[row]] = float(error[row, :length].mean())
    return scores


def dev_mse(model: Predictor, dev: SequenceSet) -> float:
    """Normalised MSE over every valid step of `dev` (utterances weighted by length)."""
    lengths = np.array([len(t) for t in dev.targets], float)
    return float((utterance_mse(model, dev) * lengths).sum() / lengths.sum())


def fit(model: Predictor, train_set: SequenceSet, dev: SequenceSet, training: TrainingParams,
        seed: int, out_dir: Path, parameters=None) -> list[dict]:
    """Train `model` (only `parameters`, default all) on `train_set`, checkpoints in
    out_dir/checkpoints; loads the best dev validation's weights into it and returns the
    validation history (step, dev_mse)."""
    from voxflow.training import TrainConfig
    from voxflow.training.selection import train_keeping_best

    loop = TrainConfig(steps=training.steps, checkpoint_every=training.checkpoint_every,
                       log_every=training.log_every, seed=seed, lr=training.lr,
                       grad_clip=training.grad_clip, validate_every=training.validate_every,
                       find_unused_parameters=True)     # a batch has some speakers' layers
    validation = train_keeping_best(model, sequence_loss,
                                    train_set.sampler(training.batch_size,
                                                      training.segment_frames),
                                    Path(out_dir), loop, lambda m: dev_mse(m, dev), parameters)
    model.requires_grad_(True)
    return validation


def _training_languages(data: SequenceSet, held_out: set[str]) -> list[str]:
    return sorted(set(data.rows["language"]) - held_out)


def _new_predictor(data: SequenceSet, normalisers, config: MLMSConfig, languages: list[str],
                   code_setup: str, seed: int) -> Predictor:
    speakers = sorted(set(data.where(language=languages).rows["speaker"]))
    torch.manual_seed(seed)                 # the initial weights: same params, same model
    input_dim = data.inputs(0).shape[1]
    return Predictor(MLMSNet(input_dim, config, languages, speakers, code_setup), *normalisers)


def _baseline_config(config: MLMSConfig) -> MLMSConfig:
    return dataclasses.replace(config, basis_towers=0)


def train_system(params: MLMSParams, system: str, world_dir: Path, linguistic_dir: Path,
                 out_dir: Path) -> list[Path]:
    """`system` of mlms.systems on the training languages (all but mlms.held_out_languages):
    [out_dir/model.pt] for an MLMS system, out_dir/<speaker>/model.pt per pair for the
    baselines."""
    train = train_mlms if params.system(system).kind == "mlms" else train_baselines
    return train(params, system, world_dir, linguistic_dir, set(params.held_out_languages),
                 out_dir)


def train_mlms(params: MLMSParams, system: str, world_dir: Path, linguistic_dir: Path,
               held_out: set[str], out_dir: Path) -> list[Path]:
    """One MLMS system (kind mlms) on every training language; [out_dir/model.pt]."""
    train_set, dev = (acoustic_set(world_dir, linguistic_dir, split) for split in ("train", "dev"))
    languages = _training_languages(train_set, held_out)
    train_set, dev = train_set.where(language=languages), dev.where(language=languages)
    model = _new_predictor(train_set, train_set.normalisers(), params.model_config, languages,
                           params.system(system).codes, params.seed)
    validation = fit(model, train_set, dev, params.training, params.seed, out_dir)
    return [save_model(Path(out_dir) / MODEL_FILE, system, model, validation)]


def train_baselines(params: MLMSParams, system: str, world_dir: Path, linguistic_dir: Path,
                    held_out: set[str], out_dir: Path) -> list[Path]:
    """A single-language single-speaker model per training (language, speaker):
    out_dir/<speaker>/model.pt each."""
    train_set, dev = (acoustic_set(world_dir, linguistic_dir, split) for split in ("train", "dev"))
    languages = _training_languages(train_set, held_out)
    normalisers = train_set.where(language=languages).normalisers()
    paths = []
    for language in languages:
        for speaker in sorted(set(train_set.where(language=language).rows["speaker"])):
            pair = {"language": language, "speaker": speaker}
            paths.append(_train_pair(params, f"{system}/{speaker}", train_set.where(**pair),
                                     dev.where(**pair), normalisers, params.training,
                                     Path(out_dir) / speaker))
    return paths


def _train_pair(params: MLMSParams, name: str, train_set: SequenceSet, dev: SequenceSet,
                normalisers, training: TrainingParams, out_dir: Path) -> Path:
    language = train_set.rows["language"].iloc[0]
    model = _new_predictor(train_set, normalisers, _baseline_config(params.model_config),
                           [language], "rand", params.seed)
    validation = fit(model, train_set, dev, training, params.seed, out_dir)
    return save_model(out_dir / MODEL_FILE, name, model, validation)


def adapt(params: MLMSParams, source: Path, world_dir: Path, linguistic_dir: Path,
          out_dir: Path) -> list[Path]:
    """Every setup of mlms.adaptation.setups on every language the source model was not
    trained on: out_dir/<language>/<setup>/model.pt each (see the module docstring)."""
    source_model = load_model(source)
    train_set, dev = (acoustic_set(world_dir, linguistic_dir, split) for split in ("train", "dev"))
    new_languages = sorted(set(train_set.rows["language"]) - set(source_model.net.languages))
    paths = []
    for language in new_languages:
        speakers = sorted(set(train_set.where(language=language).rows["speaker"]))
        for speaker in speakers:
            pair = {"language": language, "speaker": speaker}
            limited = train_set.where(**pair).first(params.adaptation.train_utterances)
            paths += _adapt_pair(params, source, limited, dev.where(**pair),
                                 Path(out_dir) / language)
    return paths


def _adapt_pair(params: MLMSParams, source: Path, train_set: SequenceSet, dev: SequenceSet,
                out_dir: Path) -> list[Path]:
    language, speaker = train_set.rows[["language", "speaker"]].iloc[0]
    finished: dict[tuple[str, ...], tuple[dict, list[dict]]] = {}   # phases -> (state, history)
    paths = []
    for setup in params.adaptation.setups:
        name = f"{language}/{setup}"
        if setup == SCRATCH:
            source_model = load_model(source)
            normalisers = (source_model.inputs, source_model.outputs)
            paths.append(_train_pair(params, name, train_set, dev, normalisers, params.training,
                                     out_dir / setup))
            continue
        phases = ADAPTATION_SETUPS[setup]
        done = max((k for k in range(len(phases)) if phases[:k + 1] in finished), default=-1)
        model = load_model(source)
        model.net.add_language(language)
        torch.manual_seed(params.seed)      # the new output layer's initial weights
        model.net.add_speaker(speaker)
        history: list[dict] = []
        if done >= 0:
            state, history = finished[phases[:done + 1]]
            model.load_state_dict(state)
        for k in range(done + 1, len(phases)):
            parameters = trainable_parameters(model.net, phases[k], language, speaker)
            phase_dir = out_dir / "phases" / "-".join(phases[:k + 1])
            history = history + [{**v, "phase": phases[k]} for v in fit(
                model, train_set, dev, params.adaptation_training, params.seed, phase_dir,
                parameters)]
            finished[phases[:k + 1]] = ({n: t.clone() for n, t in model.state_dict().items()},
                                        history)
        (out_dir / setup).mkdir(parents=True, exist_ok=True)
        paths.append(save_model(out_dir / setup / MODEL_FILE, name, model, history))
    return paths


def train_duration(params: MLMSParams, linguistic_dir: Path, out_dir: Path) -> Path:
    """The duration model on every language's train split: out_dir/model.pt."""
    train_set, dev = (duration_set(linguistic_dir, split) for split in ("train", "dev"))
    languages = sorted(set(train_set.rows["language"]))
    config = dataclasses.replace(params.model_config, out_dim=1)
    model = _new_predictor(train_set, train_set.normalisers(), config, languages, "rand",
                           params.seed)
    validation = fit(model, train_set, dev, params.duration_training, params.seed, out_dir)
    return save_model(Path(out_dir) / MODEL_FILE, DURATION_MODEL, model, validation)


def save_model(path: Path, name: str, model: Predictor, validation: list[dict]) -> Path:
    """The selected weights, the model's name, sizes, languages, speakers, code setup, the
    normalisers and the validation history in one file (rank 0 only under torchrun)."""
    net = model.net
    if distributed_env().is_main:
        torch.save({"name": name, "config": dataclasses.asdict(net.config),
                    "input_dim": net.input_dim, "languages": net.languages,
                    "speakers": net.speakers, "code_setup": net.codes.setup,
                    "inputs": model.inputs.as_dict(), "outputs": model.outputs.as_dict(),
                    "state": model.state_dict(), "validation": validation}, path)
    return Path(path)


def load_model(path: Path) -> Predictor:
    """A `Predictor` saved by `save_model`, in eval mode."""
    saved = torch.load(path, weights_only=False, map_location="cpu")
    net = MLMSNet(saved["input_dim"], MLMSConfig(**saved["config"]), saved["languages"],
                  saved["speakers"], saved["code_setup"])
    model = Predictor(net, Normaliser.from_dict(saved["inputs"]),
                      Normaliser.from_dict(saved["outputs"]))
    model.load_state_dict(saved["state"])
    return model.eval()


def find_models(folder: Path) -> dict[str, Path]:
    """name -> model.pt of every model saved under `folder` (any depth)."""
    models = {}
    for file in sorted(Path(folder).rglob(MODEL_FILE)):
        name = saved_name(file)
        if name in models:
            raise ValueError(f"two models named {name!r}: {models[name]} and {file}")
        models[name] = file
    return models


def saved_name(path: Path) -> str:
    """The name a model was saved under (a system, `<system>/<speaker>`, `<language>/<setup>`
    or DURATION_MODEL)."""
    return torch.load(path, weights_only=False)["name"]


def saved_validation(path: Path) -> list[dict]:
    """The validation history saved with a model (step, dev_mse, phase for adaptations)."""
    return torch.load(path, weights_only=False)["validation"]
