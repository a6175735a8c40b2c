"""One training loop for every voxflow model: checkpoints and exact resumption, MLflow metrics
and audio samples, DDP under torchrun, mixed precision on GPU. See `voxflow.training.loop`."""
from voxflow.training.checkpoint import (latest_checkpoint, list_checkpoints, load_checkpoint,
                                         read_checkpoint)
from voxflow.training.distributed import DistEnv, distributed_env, select_device, unwrap
from voxflow.training.loop import TrainConfig, TrainResult, stream_seeds, to_device, train

__all__ = ["DistEnv", "TrainConfig", "TrainResult", "distributed_env", "latest_checkpoint",
           "list_checkpoints", "load_checkpoint", "read_checkpoint", "select_device",
           "stream_seeds", "to_device", "train", "unwrap"]
