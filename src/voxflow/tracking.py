"""MLflow tracking of stage runs: params, metrics, artifacts and provenance tags.

The default store is a SQLite database and an artifact folder under `mlflow/` in the working
directory (the repository root under `dvc repro`); MLFLOW_TRACKING_URI overrides it, e.g. with a
tracking server's URL. Runs of one pipeline execution nest under a parent run whose id arrives in
VOXFLOW_PARENT_RUN_ID (set by `voxflow repro` and by the Kubeflow pipeline).

Under torchrun only rank 0 opens a stage's run: the other ranks train without one, so one
execution is one run whatever the number of processes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import yaml

EXPERIMENT = "voxflow"
PARENT_RUN_ENV = "VOXFLOW_PARENT_RUN_ID"
KFP_RUN_ENV = "KFP_RUN_ID"

log = logging.getLogger(__name__)


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or \
        f"sqlite:///{(Path('mlflow') / 'mlflow.db').resolve()}"


def experiment_id(name: str = EXPERIMENT) -> str:
    """The id of experiment `name` in the current store, created on first use."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # a SQLite store keeps its artifacts beside the database (MLflow's default would be ./mlruns)
    location = None
    if tracking_uri().startswith("sqlite:///"):
        location = (Path(tracking_uri()[len("sqlite:///"):]).parent / "artifacts").as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def content_md5(path: Path) -> str:
    """md5 of a file, or of a folder's sorted (relative path, file md5) listing."""
    path = Path(path)
    if path.is_file():
        return hashlib.md5(path.read_bytes()).hexdigest()
    listing = hashlib.md5()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        listing.update(f"{file.relative_to(path).as_posix()}\0{content_md5(file)}\n".encode())
    return listing.hexdigest()


@contextmanager
def dvc_repo_lock(root: Path, timeout: float = 120.0) -> Iterator[None]:
    """Hold DVC's repository lock of `root`, if it is a DVC project. DVC rewrites dvc.lock in
    place under that lock, and under `voxflow repro --cores` another stage's `dvc` may do so while
    this stage runs (this stage's own `dvc` released the lock for the stage's command)."""
    path = root / ".dvc" / "tmp" / "lock"
    if not path.parent.is_dir():
        yield
        return
    import zc.lockfile

    deadline = time.monotonic() + timeout
    while True:
        try:
            held = zc.lockfile.LockFile(str(path))
            break
        except zc.lockfile.LockError:
            if time.monotonic() > deadline:     # e.g. a `dvc` the user left waiting
                log.warning("%s still held after %.0f s: reading dvc.lock without it", path,
                            timeout)
                yield
                return
            time.sleep(0.1)
    try:
        yield
    finally:
        held.close()


def data_version(inputs: Sequence[Path], lock: Path = Path("dvc.lock")) -> dict[str, str]:
    """md5 of each input: from dvc.lock where an upstream stage recorded it, else computed."""
    recorded = {}
    if lock.is_file():
        with dvc_repo_lock(lock.parent):
            text = lock.read_text()
        # libyaml's loader: dvc.lock is thousands of lines, 0.24 s for the Python loader in
        # every stage, 0.04 s in C
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        for stage in (yaml.load(text, Loader=loader) or {}).get("stages", {}).values():
            for entry in stage.get("outs", []) + stage.get("deps", []):
                recorded.setdefault(Path(entry["path"]).as_posix(), entry.get("md5"))
    return {Path(p).as_posix(): recorded.get(Path(p).as_posix()) or content_md5(Path(p))
            for p in inputs}


@contextmanager
def stage_run(stage: str, params, inputs: Sequence[Path] = ()) -> Iterator:
    """An MLflow run for one stage execution, nested under VOXFLOW_PARENT_RUN_ID if set;
    `params` (a mapping or a parsed params dataclass) are logged flattened. On a torchrun rank
    other than 0 there is no run (yields None)."""
    from voxflow.training.distributed import distributed_env

    if not distributed_env().is_main:
        yield None
        return
    import mlflow

    from voxflow.stage_io import as_params

    experiment = experiment_id(EXPERIMENT)
    tags = {"voxflow.stage": stage, "voxflow.data_version": json.dumps(data_version(inputs))}
    if (commit := git_commit()):
        tags["mlflow.source.git.commit"] = commit
    if os.environ.get(KFP_RUN_ENV):
        tags["kfp.run_id"] = os.environ[KFP_RUN_ENV]
    # the parent is active in this process when a pipeline calls stages in-process
    with mlflow.start_run(experiment_id=experiment, run_name=stage, tags=tags,
                          parent_run_id=os.environ.get(PARENT_RUN_ENV),
                          nested=mlflow.active_run() is not None) as run:
        mlflow.log_params(_flatten(as_params(params)))
        yield run


@contextmanager
def pipeline_run(name: str) -> Iterator[str]:
    """A parent run for one pipeline execution; its id is exported to the stages' processes."""
    import mlflow

    experiment = experiment_id(EXPERIMENT)
    tags = {"voxflow.pipeline": name}
    if (commit := git_commit()):
        tags["mlflow.source.git.commit"] = commit
    with mlflow.start_run(experiment_id=experiment, run_name=name, tags=tags) as run:
        previous = os.environ.get(PARENT_RUN_ENV)
        os.environ[PARENT_RUN_ENV] = run.info.run_id
        try:
            yield run.info.run_id
        finally:
            if previous is None:
                os.environ.pop(PARENT_RUN_ENV, None)
            else:
                os.environ[PARENT_RUN_ENV] = previous


def find_parent_run(pipeline_name: str, kfp_run_id: str) -> str:
    """The id of the parent run of a KFP pipeline run, found by its tags (pipeline name, KFP
    run id)."""
    import mlflow

    parents = mlflow.MlflowClient(tracking_uri()).search_runs(
        [experiment_id(EXPERIMENT)], f"tags.`voxflow.pipeline` = '{pipeline_name}' and "
        f"tags.`kfp.run_id` = '{kfp_run_id}'")
    if len(parents) != 1:
        raise RuntimeError(f"{len(parents)} parent runs of {pipeline_name} {kfp_run_id}")
    return parents[0].info.run_id


def enter_kfp_task(mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str,
                   pipeline_name: str = "") -> None:
    """The prologue of every stage component: its tracking arguments into this process's
    environment, so that `stage_run` nests under the pipeline's parent run. An empty
    `parent_run_id` with a `pipeline_name` is looked up by tags: inside a dsl.ParallelFor,
    kfp.local (2.17) replaces every task-output parameter by the loop item."""
    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    if not parent_run_id and pipeline_name:
        parent_run_id = find_parent_run(pipeline_name, kfp_run_id)
    os.environ[PARENT_RUN_ENV] = parent_run_id
    os.environ[KFP_RUN_ENV] = kfp_run_id


def _flatten(params: dict, prefix: str = "") -> dict[str, str]:
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat
