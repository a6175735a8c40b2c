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
from collections.abc import Sequence
from pathlib import Path

from voxflow.synth.corpora import CORPORA

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]   # the checkout of an editable install (`make setup`)
# name -> (module of pipelines/, the pipeline in it)
PIPELINES = {"corpora": ("corpora", "corpora_pipeline"),
             "import-corpus": ("corpora", "import_corpus_pipeline"),
             "vocoder": ("vocoder", "vocoder_pipeline"),
             "antispoof": ("antispoof", "antispoof_pipeline")}
PIPELINE_NAMES = tuple(PIPELINES)
LOCAL_PIPELINE_NAMES = ("corpora", "vocoder", "antispoof")   # those that run on their defaults


def pipelines_module(module: str = "corpora"):
    """`pipelines.<module>` (corpora, vocoder), imported from the checkout."""
    if not (REPO / "pipelines" / f"{module}.py").is_file():
        raise FileNotFoundError(f"{REPO / 'pipelines'}: not found (the pipelines need voxflow "
                                "installed from a checkout, with `pip install -e .`)")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module(f"pipelines.{module}")


def load_pipeline(name: str):
    """The pipeline `name`, one of PIPELINE_NAMES."""
    module, pipeline = PIPELINES[name]
    return getattr(pipelines_module(module), pipeline)


def compile_pipeline(name: str, out: Path) -> Path:
    """Write the pipeline's IR YAML to `out`."""
    from kfp import compiler

    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(load_pipeline(name), str(out))
    return out


def run_local(workdir: Path, name: str = "corpora", corpora: Sequence[str] = CORPORA,
              arguments: dict | None = None) -> None:
    """Run the pipeline `name` (one of LOCAL_PIPELINE_NAMES) with its defaults, the embedded
    default, overridden by `arguments`, with kfp.local, each task a subprocess of this Python
    environment, where voxflow is installed. The corpora pipeline is restricted to `corpora`;
    the vocoder pipeline is built without GPU requests, which kfp.local cannot honour (the
    training uses a GPU if the machine has one). Outputs go to
    `workdir/voxflow-<name>-<timestamp>/<task>/`; the MLflow runs to the tasks'
    MLFLOW_TRACKING_URI, else voxflow's default store in the working directory."""
    from kfp import local

    if name not in LOCAL_PIPELINE_NAMES:
        raise ValueError(f"{name}: kfp.local runs {', '.join(LOCAL_PIPELINE_NAMES)} only")
    if name == "antispoof":
        pipeline = load_pipeline("antispoof")
    else:
        pipeline = (pipelines_module("corpora").build_corpora_pipeline(corpora)
                    if name == "corpora" else
                    pipelines_module("vocoder").build_vocoder_pipeline(gpus=0))
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
