"""Training checkpoints: one file per step, written atomically, newest complete one wins.

A checkpoint `step-00001000.pt` in the checkpoint folder is a `torch.save`d dict:

    format      "voxflow.training/1"
    step        optimizer steps done
    model       state_dict of the unwrapped model (no DDP "module." prefix)
    optimizer   optimizer.state_dict()
    scheduler   LR scheduler state_dict, or None
    scaler      GradScaler state_dict (fp16 mixed precision), or None
    config      the TrainConfig as a dict
    world_size  number of training processes
    rng         per rank: {"python", "numpy", "torch", "cuda" (or None), "data"} generator states
    window      per rank: the running sums of the loss terms since the last log step
    losses      the loss terms last logged (means over the log window and the ranks)

Only plain containers, numbers, strings and tensors are stored, so every read uses
`torch.load(weights_only=True)`: loading a checkpoint cannot run code.
"""
from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from voxflow.training.distributed import unwrap

log = logging.getLogger(__name__)

FORMAT = "voxflow.training/1"
_NAME = re.compile(r"step-(\d+)\.pt")
_REQUIRED = ("format", "step", "model", "optimizer", "config", "world_size", "rng")


def checkpoint_path(directory: Path, step: int) -> Path:
    return Path(directory) / f"step-{step:08d}.pt"


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(step, path) of the checkpoint files in `directory`, oldest first (complete or not)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir()
             if (m := _NAME.fullmatch(p.name)) and p.is_file()]
    return sorted(found)


def save_checkpoint(state: dict, path: Path) -> None:
    """`torch.save(state)` to a temporary file beside `path`, synced, then renamed over `path`:
    a reader (or a resumed run after a kill) sees the whole old file or the whole new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable; not every file system can sync a directory
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def read_checkpoint(path: Path) -> dict:
    """A checkpoint's contents (tensors on the CPU); an error if it is unreadable or incomplete."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: not a voxflow training checkpoint (format "
                         f"{state.get('format') if isinstance(state, dict) else type(state)!r})")
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return state


def load_latest(directory: Path, quarantine: bool = False) -> tuple[Path, dict] | None:
    """The newest readable checkpoint in `directory` and its contents, or None if there is none.
    Unreadable ones (a truncated or corrupt file) are reported and skipped; with `quarantine`
    they are renamed to `*.corrupt` so that they are neither tried nor pruned again."""
    for step, path in reversed(list_checkpoints(directory)):
        try:
            return path, read_checkpoint(path)
        except Exception as err:  # noqa: BLE001 - any failure to read means "not usable"
            log.warning("checkpoint %s is unreadable or incomplete (%s: %s); using the previous "
                        "one", path, type(err).__name__, err)
            if quarantine:
                os.replace(path, path.with_name(path.name + ".corrupt"))
    return None


def latest_checkpoint(directory: Path) -> Path | None:
    """Path of the newest complete checkpoint in `directory` (None if there is none)."""
    found = load_latest(directory)
    return found[0] if found else None


def prune_checkpoints(directory: Path, keep: int | None) -> list[Path]:
    """Delete all but the `keep` newest checkpoints (None: keep all); returns the deleted."""
    if keep is None:
        return []
    old = [path for _, path in list_checkpoints(directory)][:-keep]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def remove_stale_temporaries(directory: Path) -> None:
    """Temporary files left by a process killed while writing a checkpoint."""
    for tmp in Path(directory).glob(".step-*.pt.tmp-*"):
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: Path, model: nn.Module, strict: bool = True) -> nn.Module:
    """Load the weights of a training checkpoint into `model` (for inference); `path` is a
    checkpoint file or a checkpoint folder (its newest complete checkpoint). Returns `model`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint file or folder")
    if path.is_dir():
        found = load_latest(path)
        if found is None:
            raise FileNotFoundError(f"{path}: no complete checkpoint (step-*.pt) in this folder")
        path, state = found
    else:
        state = read_checkpoint(path)
    unwrap(model).load_state_dict(state["model"], strict=strict)
    log.info("loaded weights of step %d from %s", state["step"], path)
    return model


def capture_rng(data: torch.Generator, device: torch.device) -> dict:
    """Every random state that training consumes: Python, NumPy, torch CPU and CUDA (of the
    training device), and the data-sampling generator."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": (name, keys.tolist(), int(pos), int(has_gauss), float(cached)),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "data": data.get_state()}


def restore_rng(state: dict, data: torch.Generator, device: torch.device) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)
    data.set_state(state["data"])
