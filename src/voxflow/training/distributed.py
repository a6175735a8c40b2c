"""Process topology for training: one process, or one of several started by torchrun.

torchrun (and a Kubeflow PyTorchJob, which runs torchrun or sets the same variables itself)
describes each process with WORLD_SIZE, RANK and LOCAL_RANK, plus MASTER_ADDR and MASTER_PORT
for the rendezvous; without them a process is rank 0 of a world of 1.
"""
from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs and samples."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def distributed_env() -> DistEnv:
    """This process's rank, local rank and world size from torchrun's environment variables."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistEnv()
    # without torchrun (a PyTorchJob pod per process) there is no LOCAL_RANK: the pod's GPU 0
    return DistEnv(rank=int(os.environ["RANK"]), local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                   world_size=world_size)


def select_device(requested: str | None = None, env: DistEnv = DistEnv()) -> torch.device:
    """`requested` (e.g. "cpu", "cuda"), else the process's GPU if there is one, else the CPU.
    Under torchrun each process takes GPU LOCAL_RANK."""
    device = torch.device(requested) if requested else \
        torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    return device


def init_distributed(env: DistEnv, device: torch.device) -> None:
    """Join the process group of a torchrun launch (nccl on CUDA, gloo otherwise), once per
    process: it stays for the process's lifetime and is destroyed at exit, because a second
    group on torchrun's store hangs (a stage that trains twice, e.g. the Siamese system's two
    phases, uses the one group). A no-op for a single process or when the caller already
    initialised the group."""
    if not env.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)  # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    atexit.register(dist.destroy_process_group)
    log.info("rank %d of %d joined the %s process group (device %s)", env.rank, env.world_size,
             backend, device)


def unwrap(model: nn.Module) -> nn.Module:
    """The model itself, without its DistributedDataParallel, DataParallel or torch.compile
    wrapper."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule
            model = model._orig_mod
        else:
            return model


def barrier(env: DistEnv, device: torch.device) -> None:
    if not env.distributed:
        return
    if device.type == "cuda":
        dist.barrier(device_ids=[device.index])
    else:
        dist.barrier()


def all_gather(obj, env: DistEnv) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank (picklable objects)."""
    if not env.distributed:
        return [obj]
    gathered = [None] * env.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast(obj, env: DistEnv):
    """Rank 0's `obj` on every rank."""
    if not env.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
