"""The shared training loop: learning, exact resumption (also after SIGKILL), checkpoint files,
MLflow metrics and samples, frozen parameters, DDP with two gloo processes on the CPU."""
from __future__ import annotations

import logging
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from voxflow.training import (TrainConfig, latest_checkpoint, list_checkpoints, load_checkpoint,
                              read_checkpoint, to_device, train, unwrap)
from voxflow.training.loop import autocast_dtype

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parents[1] / "src"


# --- the toy problem (also imported by the subprocesses below) --------------------------------

def toy_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    # dropout draws from the global torch generator: resumption must restore it
    return nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Dropout(0.1), nn.Linear(32, 1))


def toy_batch(generator: torch.Generator) -> dict:
    x = torch.randn(32, 4, generator=generator)
    y = torch.sin(x @ torch.tensor([1.0, -2.0, 0.5, 1.5]))[:, None]
    return {"x": x, "target": (y, y.abs())}


def toy_loss(model: nn.Module, batch: dict):
    # Python and NumPy random states are consumed too, and so must be restored on resumption
    jitter = 1.0 + 1e-3 * (random.random() + float(np.random.rand()))
    y, _ = batch["target"]
    mse = ((model(batch["x"]) * jitter - y) ** 2).mean()
    return mse, {"mse": mse.detach(), "jitter": jitter}


def toy_config(steps: int, **overrides) -> TrainConfig:
    settings = {"steps": steps, "checkpoint_every": 5, "log_every": 5, "lr": 1e-2,
                "grad_clip": 1.0, "seed": 3, "keep_checkpoints": 2}
    return TrainConfig(**{**settings, **overrides})


def run_toy(checkpoint_dir, steps: int, model_seed: int = 0, slow: float = 0.0, **overrides):
    model = toy_model(model_seed)

    def loss_fn(m, batch):
        if slow:
            time.sleep(slow)
        return toy_loss(m, batch)

    result = train(model, loss_fn, toy_batch, Path(checkpoint_dir), toy_config(steps, **overrides))
    return model, result


def assert_same_parameters(a: nn.Module, b: nn.Module) -> None:
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), f"{name} differs"


def assert_same_state(a, b, where="state") -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("VOXFLOW_PROGRESS", "0")
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def child_env() -> dict:
    env = {**os.environ, "VOXFLOW_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join([str(TESTS), str(SRC), os.environ.get("PYTHONPATH", "")])}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


# --- learning -----------------------------------------------------------------------------

def test_loss_decreases(tmp_path):
    model = toy_model()
    held_out = toy_batch(torch.Generator().manual_seed(123))

    def held_out_loss():
        model.eval()
        with torch.no_grad():
            return float(((model(held_out["x"]) - held_out["target"][0]) ** 2).mean())

    before = held_out_loss()
    result = train(model, toy_loss, toy_batch, tmp_path, toy_config(150, log_every=50))
    assert result.step == 150
    assert set(result.losses) == {"loss", "mse", "jitter", "grad_norm"}
    assert held_out_loss() < 0.3 * before
    assert result.losses["mse"] < 0.6 * before  # a mean over steps 101-150, with dropout
    assert result.checkpoint == tmp_path / "step-00000150.pt"


# --- resumption ---------------------------------------------------------------------------

def test_resume_equals_uninterrupted(tmp_path):
    # log_every=6: the window of the step-12 log spans the resumption at step 10
    settings = {"log_every": 6, "keep_checkpoints": None}
    straight, straight_result = run_toy(tmp_path / "a", 20, **settings)
    run_toy(tmp_path / "b", 10, **settings)  # stops at step 10 (checkpoints at 5 and 10)
    assert [s for s, _ in list_checkpoints(tmp_path / "b")] == [5, 10]
    # a fresh process has other global random states and builds the model from scratch
    random.seed(999)
    np.random.seed(999)
    resumed, resumed_result = run_toy(tmp_path / "b", 20, model_seed=99, **settings)
    assert_same_parameters(straight, resumed)
    for step in (15, 20):
        a = read_checkpoint(tmp_path / "a" / f"step-{step:08d}.pt")
        b = read_checkpoint(tmp_path / "b" / f"step-{step:08d}.pt")
        assert_same_state(a["optimizer"], b["optimizer"], "optimizer")
        assert_same_state(a["rng"], b["rng"], "rng")
        assert a["losses"] == b["losses"]  # logged metrics are the same too
    assert resumed_result.losses == straight_result.losses
    # finished: another call trains nothing and reports the same
    again, again_result = run_toy(tmp_path / "b", 20, model_seed=7, **settings)
    assert again_result.step == 20 and again_result.checkpoint == resumed_result.checkpoint
    assert again_result.losses == straight_result.losses
    assert_same_parameters(straight, again)


def test_resume_after_sigkill(tmp_path):
    steps, kill_after = 400, 10
    killed_dir = tmp_path / "killed"
    code = (f"import test_loop as t; "
            f"t.run_toy({str(killed_dir)!r}, {steps}, slow=0.01, keep_checkpoints=None)")
    with open(tmp_path / "child.log", "wb") as out:
        child = subprocess.Popen([sys.executable, "-c", code], env=child_env(), stdout=out,
                                 stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        try:
            while not any(s >= kill_after for s, _ in list_checkpoints(killed_dir)):
                assert child.poll() is None, (tmp_path / "child.log").read_text()
                assert time.monotonic() < deadline, "no checkpoint within 60 s"
                time.sleep(0.02)
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    done = [s for s, _ in list_checkpoints(killed_dir)]
    assert kill_after <= max(done) < steps, done

    resumed, _ = run_toy(killed_dir, steps, model_seed=42, keep_checkpoints=None)
    straight, _ = run_toy(tmp_path / "straight", steps, keep_checkpoints=None)
    assert_same_parameters(straight, resumed)
    a = read_checkpoint(tmp_path / "straight" / f"step-{steps:08d}.pt")
    b = read_checkpoint(killed_dir / f"step-{steps:08d}.pt")
    assert_same_state(a["optimizer"], b["optimizer"], "optimizer")


# --- checkpoint files ---------------------------------------------------------------------

def test_checkpoint_contents_and_pruning(tmp_path):
    model, result = run_toy(tmp_path, 20)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [15, 20]  # keep_checkpoints=2
    assert not list(tmp_path.glob(".*tmp*"))
    state = read_checkpoint(result.checkpoint)
    assert state["step"] == 20 and state["world_size"] == 1
    assert state["config"]["seed"] == 3 and state["config"]["steps"] == 20
    rng = state["rng"][0]
    assert set(rng) == {"python", "numpy", "torch", "cuda", "data"}
    assert rng["cuda"] is None
    assert isinstance(rng["torch"], torch.Tensor) and isinstance(rng["data"], torch.Tensor)
    assert rng["numpy"][0] == "MT19937" and len(rng["numpy"][1]) == 624
    assert_same_state(state["model"], model.state_dict(), "model")
    assert state["optimizer"]["state"] and state["scheduler"] is None and state["scaler"] is None
    # the saved RNG states are those at the end of training
    assert torch.equal(rng["torch"], torch.get_rng_state())
    # weights for inference, from a file or from the folder (newest)
    for source in (result.checkpoint, tmp_path):
        fresh = load_checkpoint(source, toy_model(seed=5))
        assert_same_parameters(fresh, model)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        load_checkpoint(tmp_path / "empty", toy_model())
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt", toy_model())


def test_truncated_checkpoint_is_skipped(tmp_path, caplog):
    straight, _ = run_toy(tmp_path / "a", 10)
    run_toy(tmp_path / "b", 10)
    newest = tmp_path / "b" / "step-00000010.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a torn write
    (tmp_path / "b" / ".step-00000015.pt.tmp-123").write_bytes(b"partial")  # killed mid-write
    assert latest_checkpoint(tmp_path / "b") == tmp_path / "b" / "step-00000005.pt"
    with caplog.at_level(logging.WARNING, logger="voxflow.training"):
        resumed, result = run_toy(tmp_path / "b", 10)
    assert "step-00000010.pt is unreadable" in caplog.text
    assert (tmp_path / "b" / "step-00000010.pt.corrupt").exists()
    assert not (tmp_path / "b" / ".step-00000015.pt.tmp-123").exists()
    assert result.checkpoint == newest and read_checkpoint(newest)["step"] == 10
    assert_same_parameters(straight, resumed)


def test_config_mismatch_is_an_error(tmp_path):
    run_toy(tmp_path, 5)
    with pytest.raises(ValueError, match=r"seed=3, this run has seed=4"):
        run_toy(tmp_path, 10, seed=4)
    with pytest.raises(ValueError, match=r"grad_clip=1.0, this run has grad_clip=None"):
        run_toy(tmp_path, 10, grad_clip=None)
    run_toy(tmp_path, 10, log_every=2, checkpoint_every=3)  # bookkeeping fields may change
    with pytest.raises(ValueError, match="checkpoint_every must be >= 1"):
        TrainConfig(steps=1, checkpoint_every=0)


def test_scheduler_and_custom_optimizer_resume(tmp_path):
    def run(directory, steps, seed):
        model = toy_model(seed)
        train(model, toy_loss, toy_batch, directory, toy_config(steps),
              optimizer_factory=lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
              scheduler_factory=lambda o: torch.optim.lr_scheduler.StepLR(o, 4, gamma=0.5))
        return model

    straight = run(tmp_path / "a", 12, 0)
    run(tmp_path / "b", 5, 0)
    resumed = run(tmp_path / "b", 12, 1)
    assert_same_parameters(straight, resumed)
    assert read_checkpoint(tmp_path / "b" / "step-00000012.pt")["scheduler"]["last_epoch"] == 12


# --- what is trained, where ---------------------------------------------------------------

class Distillation(nn.Module):
    """A student trained against a frozen teacher that lives in the same module."""

    def __init__(self):
        super().__init__()
        self.teacher = toy_model(1)
        self.student = nn.Linear(4, 1)

    def forward(self, x):
        with torch.no_grad():
            target = self.teacher(x)
        return ((self.student(x) - target) ** 2).mean()


def test_only_given_parameters_train(tmp_path):
    model = Distillation()
    teacher_before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    student_before = model.student.weight.detach().clone()
    result = train(model, lambda m, b: m(b["x"]), toy_batch, tmp_path, toy_config(10),
                   parameters=model.student.parameters())
    assert_same_state(model.teacher.state_dict(), teacher_before, "teacher")
    assert not torch.equal(model.student.weight, student_before)
    assert not any(p.requires_grad for p in model.teacher.parameters())
    assert set(result.losses) == {"loss", "grad_norm"}  # a bare loss tensor is accepted
    with pytest.raises(ValueError, match="must be parameters of `model`"):
        train(toy_model(), toy_loss, toy_batch, tmp_path / "x", toy_config(1),
              parameters=[nn.Parameter(torch.zeros(1))])


def test_batches_move_to_device_and_amp_is_off_on_cpu():
    batch = {"x": torch.zeros(2), "pair": (torch.ones(1), [torch.ones(1), "name"]), "n": 3}
    moved = to_device(batch, torch.device("meta"))
    assert moved["x"].device.type == "meta" and moved["pair"][1][0].device.type == "meta"
    assert isinstance(moved["pair"], tuple) and moved["pair"][1][1] == "name" and moved["n"] == 3
    assert autocast_dtype(TrainConfig(steps=1, amp=True), torch.device("cpu")) is None
    assert unwrap(nn.parallel.DataParallel(lin := nn.Linear(1, 1))) is lin


# --- MLflow -------------------------------------------------------------------------------

def test_mlflow_losses_and_audio_samples(tmp_path, tracking):
    import mlflow
    from voxflow.tracking import experiment_id

    def samples(model):
        assert not model.training
        tone = np.sin(2 * np.pi * 440 * np.arange(1600) / 16000).astype(np.float32)
        return {"tone": (tone * float(model[0].weight.abs().mean()), 16000),
                "noise": (torch.randn(800) * 0.1, 8000)}  # a tensor, global RNG used

    # no active run: nothing is logged and no run is started
    model, plain = toy_model(), toy_model()
    train(plain, toy_loss, toy_batch, tmp_path / "no-run",
          toy_config(10, sample_every=5))
    assert mlflow.active_run() is None
    assert mlflow.search_runs(experiment_ids=[experiment_id()]).empty

    with mlflow.start_run(experiment_id=experiment_id()) as run:
        train(model, toy_loss, toy_batch, tmp_path / "run",
              toy_config(10, log_every=4, sample_every=5), samples=samples)
    # samples run with their own random state: training is as without them
    assert_same_parameters(model, plain)

    client = mlflow.MlflowClient()
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in history] == [4, 8, 10]
    assert all(np.isfinite(m.value) for m in history)
    metrics = client.get_run(run.info.run_id).data.metrics
    assert {"train/mse", "train/jitter", "train/grad_norm", "train/lr"} <= set(metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "samples/step-00000005")}
    assert artifacts == {"samples/step-00000005/tone.wav", "samples/step-00000005/noise.wav"}
    local = Path(client.download_artifacts(run.info.run_id, "samples/step-00000010/tone.wav",
                                           str(tmp_path / "dl")))
    audio, rate = sf.read(local)
    assert rate == 16000 and len(audio) == 1600 and np.abs(audio).max() > 0
    assert client.get_run(run.info.run_id).data.tags["voxflow.checkpoint"].endswith(
        "step-00000010.pt")


# --- DDP ----------------------------------------------------------------------------------

DDP_SCRIPT = """
import os, sys, torch
import test_loop as t
import voxflow.training.loop as loop

rank = int(os.environ["RANK"])
out = sys.argv[1]
save = loop.save_checkpoint
def recording_save(state, path):
    with open(os.path.join(out, f"writes-rank{rank}.txt"), "a") as f:
        f.write(f"{path}\\n")
    save(state, path)
loop.save_checkpoint = recording_save

model, result = t.run_toy(os.path.join(out, "ckpt"), 6, checkpoint_every=3, log_every=2,
                          device="cpu")
assert torch.distributed.is_initialized()  # the group lasts the process (a stage may train twice)
torch.save({"params": model.state_dict(), "losses": result.losses,
            "checkpoint": str(result.checkpoint)}, os.path.join(out, f"rank{rank}.pt"))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_on_cpu(tmp_path):
    """Two processes started as a PyTorchJob starts its pods' (torchrun sets the same
    variables): MASTER_ADDR/PORT, WORLD_SIZE, RANK, LOCAL_RANK."""
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    base = {**child_env(), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
            "WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}
    workers = []
    for r in range(2):
        with open(tmp_path / f"rank{r}.log", "wb") as out:  # the child keeps its own handle
            workers.append(subprocess.Popen(
                [sys.executable, str(script), str(tmp_path)],
                env={**base, "RANK": str(r), "LOCAL_RANK": str(r)}, stdout=out,
                stderr=subprocess.STDOUT))
    try:
        codes = [w.wait(timeout=120) for w in workers]
    finally:
        for w in workers:
            w.kill()
            w.wait()
    assert codes == [0, 0], "\n".join((tmp_path / f"rank{r}.log").read_text()[-3000:]
                                      for r in range(2))

    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert_same_state(ranks[0]["params"], ranks[1]["params"], "params")
    assert ranks[0]["losses"] == ranks[1]["losses"]  # averaged over the ranks
    assert ranks[0]["checkpoint"] == ranks[1]["checkpoint"]
    assert not (tmp_path / "writes-rank1.txt").exists()
    assert len((tmp_path / "writes-rank0.txt").read_text().split()) == 2  # steps 3 and 6

    state = read_checkpoint(tmp_path / "ckpt" / "step-00000006.pt")
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["data"], state["rng"][1]["data"])  # own data streams
    assert_same_state(state["model"], ranks[0]["params"], "model")
    assert not any(k.startswith("module.") for k in state["model"])
    # one process cannot resume a two-process run
    with pytest.raises(ValueError, match="written by 2 training processes"):
        run_toy(tmp_path / "ckpt", 8, device="cpu")


def held_out_error(model: nn.Module) -> dict:
    batch = toy_batch(torch.Generator().manual_seed(99))
    return {"mse": float(toy_loss(model, batch)[0])}


def test_validation_history_survives_resumption(tmp_path):
    """Validations every 5 steps and at the last: a run resumed at step 10 returns the whole
    history, the same as an uninterrupted run's."""
    def train_to(steps, folder):
        return train(toy_model(), toy_loss, toy_batch, folder,
                     toy_config(steps, validate_every=5), validate=held_out_error)

    whole = train_to(12, tmp_path / "whole")
    train_to(10, tmp_path / "resumed")
    resumed = train_to(12, tmp_path / "resumed")
    assert [v["step"] for v in whole.validation] == [5, 10, 12]
    assert resumed.validation == whole.validation
    assert whole.validation[-1]["mse"] < whole.validation[0]["mse"]
