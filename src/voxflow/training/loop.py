"""The training loop shared by every voxflow model.

`train(model, loss_fn, sample_batch, checkpoint_dir, config)` runs `config.steps` optimizer
steps. The caller supplies three plain functions:

    loss_fn(model, batch) -> (loss, {"name": value, ...})   # scalar tensor + terms to log
    sample_batch(generator) -> batch                         # all randomness from `generator`
    samples(model) -> {"name": (waveform, sample_rate)}      # optional audio to listen to
    validate(model) -> {"name": value, ...}                  # optional held-out measurements

and the loop does the rest: device placement, mixed precision, gradient clipping, checkpoints,
resumption, MLflow logging, a progress bar and data-parallel training.

Resumption. The data-sampling generator is owned by the loop and checkpointed with the model,
the optimizer (and LR scheduler / grad scaler), the Python, NumPy and torch (CPU, CUDA) random
states and the running sums of the logged losses. A call finds the newest complete checkpoint
in `checkpoint_dir` and continues from it, so a run killed at any moment and started again with
the same arguments ends with the same parameters as an uninterrupted one (bitwise on the CPU;
on a GPU as far as its kernels are deterministic). Changing a field that changes the result
(seed, lr, grad_clip, amp, amp_dtype) or the number of processes is refused; raising `steps`
continues a finished run. Audio samples are drawn with their own seeded random state, so they
never change training.

MLflow. Every `log_every` steps (and at the last) the means of the loss terms over the steps
since the previous log, averaged over the processes, go to the active MLflow run as metrics
`train/<name>` (with `train/lr`) at that step; every `sample_every` steps the samples are written
as WAV files to `checkpoint_dir/samples/step-N/` and logged as artifacts `samples/step-N/`;
every `validate_every` steps (and at the last) `validate(model)`, run in eval mode under its own
seeded random state, goes to MLflow as `val/<name>` and to the result's `validation` history
(kept in the checkpoints, so a resumed run returns the whole history). The
loop never starts a run: stage functions wrap it in `voxflow.tracking.stage_run`; without an
active run nothing is logged.

Several GPUs (DDP). Launched by torchrun, each process trains a replica on its own GPU
(LOCAL_RANK) with its own data stream (the generator seeded from (seed, rank)), gradients are
averaged by DistributedDataParallel, and only rank 0 writes checkpoints, metrics and samples:

    torchrun --standalone --nproc_per_node=4 -m voxflow stage vocoder-teacher upw \\
             data/vocoder/features --out models/vocoder/upw/teacher          # one node, 4 GPUs
    torchrun --nnodes=2 --nproc_per_node=4 --rdzv-backend=c10d \\
             --rdzv-endpoint=$MASTER_ADDR:$MASTER_PORT -m voxflow stage ... # two nodes

A Kubeflow PyTorchJob runs that command in its Master and Worker replicas; the training operator
sets MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK (PET_NNODES / PET_NPROC_PER_NODE for
torchrun), and with one process per pod (no torchrun) WORLD_SIZE and RANK alone are enough. A
KFP task runs it on one multi-GPU node by making its command torchrun (or by creating a
PyTorchJob from the task). `checkpoint_dir` must be storage every process can read (a
ReadWriteMany PVC or the node's disk); `voxflow.tracking.stage_run` opens a stage's MLflow run
on rank 0 only, and the stages write their outputs on rank 0 only. The loss function receives
the DDP-wrapped model and must call it (`model(...)`) for gradients to be synchronised;
`unwrap(model)` gives the model itself.
"""
from __future__ import annotations

import logging
import math
import random
import sys
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from voxflow.parallel import progress_disabled
from voxflow.training.checkpoint import (FORMAT, capture_rng, checkpoint_path, load_latest,
                                         prune_checkpoints, read_checkpoint,
                                         remove_stale_temporaries, restore_rng, save_checkpoint)
from voxflow.training.distributed import (DistEnv, all_gather, barrier, broadcast,
                                          distributed_env, init_distributed, select_device, unwrap)

log = logging.getLogger(__name__)

Batch = Any
LossFn = Callable[[nn.Module, Batch], "tuple[torch.Tensor, dict[str, float]] | torch.Tensor"]

# fields whose change would make a resumed run differ from an uninterrupted one
RESUME_FIELDS = ("seed", "lr", "grad_clip", "amp", "amp_dtype")


@dataclass
class TrainConfig:
    steps: int                        # optimizer steps in all (a resumed run goes on to this)
    checkpoint_every: int = 1000      # steps; the last step is always checkpointed
    log_every: int = 50               # steps between MLflow metrics
    sample_every: int = 0             # steps between audio samples (0: never)
    validate_every: int = 0           # steps between validations (0: only at the last step)
    seed: int = 0
    lr: float = 1e-3                  # of the default Adam optimizer
    grad_clip: float | None = None    # max global gradient norm
    amp: bool = True                  # mixed precision, on CUDA only
    amp_dtype: str = "bfloat16"       # or "float16" (with a GradScaler)
    device: str | None = None         # None: cuda if available, else cpu
    keep_checkpoints: int | None = 2  # newest checkpoints kept (None: all)
    # under DDP: a model whose batches use only some of its parameters (MLMS: the output
    # layers of the batch's speakers); the parameters no rank used keep grad None
    find_unused_parameters: bool = False

    def __post_init__(self):
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        for name in ("checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.validate_every < 0:
            raise ValueError(f"validate_every must be >= 0 (0: at the last step), got "
                             f"{self.validate_every}")
        if self.sample_every < 0:
            raise ValueError(f"sample_every must be >= 0 (0: never), got {self.sample_every}")
        if self.keep_checkpoints is not None and self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1 or None, got {self.keep_checkpoints}")
        if self.amp_dtype not in ("bfloat16", "float16"):
            raise ValueError(f"amp_dtype must be 'bfloat16' or 'float16', got {self.amp_dtype!r}")


@dataclass
class TrainResult:
    step: int                                   # optimizer steps done
    losses: dict[str, float] = field(default_factory=dict)  # last logged means
    checkpoint: Path | None = None              # the final checkpoint
    validation: list[dict] = field(default_factory=list)   # {"step", names...} per validation


def stream_seeds(seed: int, rank: int) -> tuple[int, int]:
    """(seed of the global random states, seed of the data generator) of one process."""
    global_seed, data_seed = np.random.SeedSequence([seed, rank]).generate_state(2, np.uint64)
    return int(global_seed), int(data_seed)


def to_device(batch: Batch, device: torch.device) -> Batch:
    """`batch` with every tensor in it (also inside tuples, lists and dicts) on `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(value, device) for value in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype on `device`, or None for full precision (always on the CPU)."""
    if not config.amp or device.type != "cuda":
        return None
    if config.amp_dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        log.info("this GPU has no bfloat16: mixed precision in float16 with a gradient scaler")
        return torch.float16
    return getattr(torch, config.amp_dtype)


def train(model: nn.Module, loss_fn: LossFn, sample_batch: Callable[[torch.Generator], Batch],
          checkpoint_dir: Path, config: TrainConfig,
          optimizer_factory: Callable[[list[nn.Parameter]], torch.optim.Optimizer] | None = None,
          parameters: Iterable[nn.Parameter] | None = None,
          samples: Callable[[nn.Module], dict] | None = None,
          scheduler_factory: Callable[[torch.optim.Optimizer], Any] | None = None,
          validate: Callable[[nn.Module], dict[str, float]] | None = None) -> TrainResult:
    """Train `model` for `config.steps` steps, resuming from `checkpoint_dir` if it holds a
    checkpoint.

    `parameters` (default: all of the model's) are the ones optimized; the model's others are
    frozen (requires_grad False), e.g. a teacher held by a distillation wrapper module (the loop
    calls `model.train()`: such a wrapper keeps its teacher in eval mode by overriding `train`).
    `optimizer_factory(parameters)` defaults to Adam(lr=config.lr); `scheduler_factory(optimizer)`
    builds an LR scheduler stepped once per step; `validate(model)` measures it on held-out
    data (rank 0 only). The model is moved to the training device;
    batches are moved there before `loss_fn` sees them. Returns the final step, the last logged
    losses and the final checkpoint (the same on every rank)."""
    env = distributed_env()
    device = select_device(config.device, env)
    init_distributed(env, device)
    return _train(model, loss_fn, sample_batch, Path(checkpoint_dir), config, optimizer_factory,
                  parameters, samples, scheduler_factory, validate, env, device)


def _train(model, loss_fn, sample_batch, checkpoint_dir, config, optimizer_factory, parameters,
           samples, scheduler_factory, validate, env: DistEnv, device: torch.device
           ) -> TrainResult:
    model.to(device)
    trainable = _trainable(model, parameters)
    optimizer = (optimizer_factory or (lambda p: torch.optim.Adam(p, lr=config.lr)))(trainable)
    scheduler = scheduler_factory(optimizer) if scheduler_factory else None
    amp_dtype = autocast_dtype(config, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    generator = torch.Generator()
    window = _Window()

    found = _find_resume_point(checkpoint_dir, config, env)
    if found is None:
        global_seed, data_seed = stream_seeds(config.seed, env.rank)
        random.seed(global_seed)
        np.random.seed(global_seed % 2**32)
        torch.manual_seed(global_seed)
        generator.manual_seed(data_seed)
        step, losses, last, validation = 0, {}, None, []
    else:
        last, state = found
        unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            if state.get("scheduler") is None:
                raise ValueError(f"{last} was written without an LR scheduler; resume without "
                                 "scheduler_factory or start a new checkpoint_dir")
            scheduler.load_state_dict(state["scheduler"])
        if scaler.is_enabled() and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"][env.rank], generator, device)
        window.load(state.get("window", [None] * env.world_size)[env.rank])
        step, losses = state["step"], state.get("losses", {})
        validation = list(state.get("validation", []))
        if env.is_main:
            log.info("resuming from %s (step %d of %d)", last, step, config.steps)
        del state
    if step >= config.steps:
        if env.is_main:
            log.info("%s is at step %d: nothing to train (steps=%d)", last, step, config.steps)
        return TrainResult(step, losses, last, validation)

    train_model = model
    if env.distributed:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=config.find_unused_parameters)
    if env.is_main:
        log.info("training %d steps on %s%s%s; checkpoints every %d steps in %s",
                 config.steps - step, device, f" x {env.world_size} processes"
                 if env.distributed else "", f", autocast {amp_dtype}" if amp_dtype else "",
                 config.checkpoint_every, checkpoint_dir.resolve())

    train_model.train()
    quiet = progress_disabled() or not env.is_main
    with tqdm(total=config.steps, initial=step, desc="train", unit="step", disable=quiet,
              dynamic_ncols=True) as bar:
        while step < config.steps:
            batch = to_device(sample_batch(generator), device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss, terms = _loss_and_terms(loss_fn(train_model, batch))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)
                terms["grad_norm"] = nn.utils.clip_grad_norm_(trainable, config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            step += 1
            bar.update()
            window.add(loss, terms)

            if step % config.log_every == 0 or step == config.steps:
                # a last log off the log_every grid keeps its window: a run continued later
                # (steps raised) logs the same means as one that never stopped here
                losses = window.reduce(env, device, clear=step % config.log_every == 0)
                if not math.isfinite(losses["loss"]):
                    raise FloatingPointError(
                        f"loss is {losses['loss']} at step {step}; the last checkpoint is "
                        f"{last or 'none'} (lower lr or set grad_clip)")
                if env.is_main:
                    _log_metrics(losses, optimizer.param_groups[0]["lr"], step)
                    bar.set_postfix(loss=f"{losses['loss']:.4g}")
            if (samples is not None and config.sample_every and step % config.sample_every == 0
                    and env.is_main):
                _log_samples(samples, model, step, checkpoint_dir, config.seed, device)
            if validate is not None and env.is_main and (
                    step == config.steps
                    or (config.validate_every and step % config.validate_every == 0)):
                validation.append(_validate(validate, model, step, config.seed, device))
            if step % config.checkpoint_every == 0 or step == config.steps:
                last = _checkpoint(step, model, optimizer, scheduler, scaler, generator, window,
                                   losses, validation, config, env, device, checkpoint_dir)
    if env.is_main and (mlflow := _active_mlflow()) is not None:
        mlflow.set_tag("voxflow.checkpoint", str(last.resolve()))
    return TrainResult(step, losses, last, validation)


def _trainable(model: nn.Module, parameters) -> list[nn.Parameter]:
    if parameters is None:
        return [p for p in model.parameters() if p.requires_grad]
    chosen = list(parameters)
    owned = {id(p) for p in model.parameters()}
    if any(id(p) not in owned for p in chosen):
        raise ValueError("`parameters` must be parameters of `model` (others would be missing "
                         "from its checkpoints)")
    keep = {id(p) for p in chosen}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    return chosen


def _loss_and_terms(result) -> tuple[torch.Tensor, dict]:
    loss, terms = (result, {}) if isinstance(result, torch.Tensor) else result
    if loss.ndim != 0:
        raise ValueError(f"loss_fn must return a scalar loss, got shape {tuple(loss.shape)}")
    return loss, dict(terms)


class _Window:
    """Running sums of the loss terms since the last log step."""

    def __init__(self):
        self.sums: dict[str, Any] = {}
        self.count = 0

    def add(self, loss: torch.Tensor, terms: dict) -> None:
        for key, value in {"loss": loss, **terms}.items():
            value = value.detach().float() if isinstance(value, torch.Tensor) else float(value)
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.count += 1

    def reduce(self, env: DistEnv, device: torch.device, clear: bool = True) -> dict[str, float]:
        """Means over the window and over the processes; `clear` empties the window."""
        keys = sorted(self.sums)
        means = torch.tensor([float(self.sums[k]) / self.count for k in keys], dtype=torch.float64)
        if env.distributed:
            means = means.to(device)
            dist.all_reduce(means)
            means = means.cpu() / env.world_size
        if clear:
            self.sums, self.count = {}, 0
        return dict(zip(keys, means.tolist()))

    def state(self) -> dict:
        return {"sums": {k: float(v) for k, v in self.sums.items()}, "count": self.count}

    def load(self, state: dict | None) -> None:
        if state:
            self.sums, self.count = dict(state["sums"]), state["count"]


def _find_resume_point(checkpoint_dir: Path, config: TrainConfig,
                       env: DistEnv) -> tuple[Path, dict] | None:
    """Rank 0 picks the newest complete checkpoint; every rank reads that one."""
    path = None
    if env.is_main:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(checkpoint_dir)
        found = load_latest(checkpoint_dir, quarantine=True)
        if found is not None:
            path, state = found
    path = broadcast(None if path is None else str(path), env)
    if path is None:
        return None
    path = Path(path)
    if not env.is_main:
        state = read_checkpoint(path)
    _check_compatible(path, state, config, env)
    return path, state


def _check_compatible(path: Path, state: dict, config: TrainConfig, env: DistEnv) -> None:
    saved, current = state["config"], asdict(config)
    for name in RESUME_FIELDS:
        if saved.get(name) != current[name]:
            raise ValueError(f"{path} was written with {name}={saved.get(name)!r}, this run has "
                             f"{name}={current[name]!r}: resume with the same value or use a new "
                             "checkpoint_dir")
    if state["world_size"] != env.world_size:
        raise ValueError(f"{path} was written by {state['world_size']} training processes, this "
                         f"run has {env.world_size}: each process has its own data stream, so "
                         "resume with the same number or use a new checkpoint_dir")


def _checkpoint(step, model, optimizer, scheduler, scaler, generator, window, losses, validation,
                config, env, device, checkpoint_dir) -> Path:
    # gathering the per-rank states also lines the processes up before rank 0 writes
    rng = all_gather(capture_rng(generator, device), env)
    windows = all_gather(window.state(), env)
    path = checkpoint_path(checkpoint_dir, step)
    if env.is_main:
        save_checkpoint({"format": FORMAT, "step": step,
                         "model": unwrap(model).state_dict(),
                         "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict() if scheduler is not None else None,
                         "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                         "config": asdict(config), "world_size": env.world_size,
                         "rng": rng, "window": windows, "losses": dict(losses),
                         "validation": list(validation)}, path)
        for old in prune_checkpoints(checkpoint_dir, config.keep_checkpoints):
            log.debug("removed %s", old)
        log.info("step %d: checkpoint %s", step, path)
    barrier(env, device)  # no rank goes on (or returns the path) before the file exists
    return path


def _active_mlflow():
    """The mlflow module if a run is active in this process, else None (mlflow not imported)."""
    mlflow = sys.modules.get("mlflow")
    return mlflow if mlflow is not None and mlflow.active_run() is not None else None


def _log_metrics(losses: dict[str, float], lr: float, step: int) -> None:
    if (mlflow := _active_mlflow()) is not None:
        metrics = {f"train/{name}": value for name, value in losses.items()}
        mlflow.log_metrics({**metrics, "train/lr": float(lr)}, step=step)


@contextmanager
def _isolated_rng(seed: int, device: torch.device):
    """Seeded random states inside, the training ones untouched outside."""
    python, numpy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python)
            np.random.set_state(numpy)


@contextmanager
def _evaluating(model: nn.Module, seed: int, device: torch.device):
    """`model` in eval mode, without gradients, under seeded random states (the training ones
    untouched), its mode restored after."""
    was_training = model.training
    model.eval()
    try:
        with _isolated_rng(seed, device), torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _validate(validate, model: nn.Module, step: int, seed: int, device: torch.device) -> dict:
    model = unwrap(model)
    with _evaluating(model, seed, device):
        measured = {name: float(value) for name, value in validate(model).items()}
    if (mlflow := _active_mlflow()) is not None:
        mlflow.log_metrics({f"val/{name}": value for name, value in measured.items()}, step=step)
    log.info("step %d: validation %s", step,
             ", ".join(f"{name} {value:.4g}" for name, value in measured.items()))
    return {"step": step, **measured}


def _log_samples(samples, model: nn.Module, step: int, checkpoint_dir: Path, seed: int,
                 device: torch.device) -> None:
    model = unwrap(model)
    with _evaluating(model, seed, device):
        produced = samples(model)
    folder = checkpoint_dir / "samples" / f"step-{step:08d}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (waveform, rate) in produced.items():
        if isinstance(waveform, torch.Tensor):
            waveform = waveform.detach().float().cpu().numpy()
        sf.write(folder / f"{name}.wav", np.asarray(waveform, dtype=np.float32), int(rate))
    if (mlflow := _active_mlflow()) is not None:
        mlflow.log_artifacts(str(folder), f"samples/step-{step:08d}")
