"""`voxflow pipeline ...`: compile, run locally or submit the Kubeflow pipelines of `pipelines/`.

The pipelines and their components live in the checkout beside `src/` (`pipelines/`,
`components/`), not in the installed package: the image only needs voxflow itself, since a
lightweight component carries its own source in the compiled pipeline.
"""
from __future__ import annotations

import importlib
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from voxflow.synth.corpora import CORPORA
from voxflow.systems import SYSTEMS

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]   # the checkout of an editable install (`make setup`)


def pipelines_module(system: str):
    """`pipelines.<system>`, imported from the checkout."""
    if not (REPO / "pipelines" / f"{system}.py").is_file():
        raise FileNotFoundError(f"{REPO / 'pipelines' / system}.py: not found (the pipelines "
                                "need voxflow installed from a checkout, with `pip install -e .`)")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module(f"pipelines.{system}")


def pipelines() -> dict[str, Callable]:
    """The registry of pipelines: every system's `PIPELINES` (name -> `build(gpus)`), in the
    order of `voxflow.systems.SYSTEMS`; a system's own DAG is the pipeline named after it."""
    registry = {}
    for system in SYSTEMS:
        registry.update(pipelines_module(system).PIPELINES)
    return registry


def pipeline_names() -> tuple[str, ...]:
    return tuple(pipelines())


def load_pipeline(name: str, gpus: int = 1, **options):
    """The pipeline `name` (one of `pipeline_names()`), built with `gpus` GPUs per training
    task and the builder's `options` (the corpora pipeline: `corpora`)."""
    registry = pipelines()
    if name not in registry:
        raise ValueError(f"unknown pipeline {name!r}: expected one of {', '.join(registry)}")
    return registry[name](gpus, **options)


def compile_pipeline(name: str, out: Path) -> Path:
    """Write the pipeline's IR YAML to `out`."""
    from kfp import compiler

    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(load_pipeline(name), str(out))
    return out


def run_local(workdir: Path, name: str = "corpora", corpora: Sequence[str] = CORPORA,
              arguments: dict | None = None) -> None:
    """Run the pipeline `name` with its defaults, the embedded default, overridden by
    `arguments`, with kfp.local, each task a subprocess of this Python environment, where
    voxflow is installed. It is built without GPU requests, which kfp.local cannot honour (the
    training uses a GPU if the machine has one); the corpora pipeline is restricted to
    `corpora`. Outputs go to `workdir/voxflow-<name>-<timestamp>/<task>/`; the MLflow runs to
    the tasks' MLFLOW_TRACKING_URI, else voxflow's default store in the working directory."""
    from kfp import local

    options = {"corpora": tuple(corpora)} if name == "corpora" else {}
    pipeline = load_pipeline(name, gpus=0, **options)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(workdir))
    with warnings.catch_warnings():
        # not a python:* image, yet the tasks run in this very environment; display names and
        # resource requests are for a cluster only
        warnings.filterwarnings("ignore", message=".*non-Python base image")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner")
        pipeline(**(arguments or {}))


def parse_arguments(name: str, items: list[str]) -> dict:
    """`NAME=VALUE` strings to the pipeline's arguments (its parameters are strings and ints)."""
    inputs = load_pipeline(name).component_spec.inputs
    arguments = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in inputs:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE with NAME one of "
                             f"{', '.join(inputs)}")
        if inputs[key].type == "Integer" and not value.lstrip("-").isdigit():
            raise ValueError(f"--param {item!r}: {key} is an integer")
        arguments[key] = int(value) if inputs[key].type == "Integer" else value
    return arguments


def submit(name: str, host: str, arguments: dict, experiment: str | None,
           run_name: str | None) -> str:
    """Start a run of the pipeline on the Kubeflow Pipelines server at `host`; returns its id."""
    import kfp

    result = kfp.Client(host=host).create_run_from_pipeline_func(
        load_pipeline(name), arguments=arguments, experiment_name=experiment, run_name=run_name)
    log.info("submitted run %s of %s to %s", result.run_id, name, host)
    return result.run_id
