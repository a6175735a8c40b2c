"""What every pipeline shares: params.yaml (the parameters' defaults), the parent MLflow run,
and the synth -> ingest tasks that start each system's DAG.

Task display names are the dvc.yaml stage names, with `-` for the `@` of a foreach stage,
which KFP does not allow (`synth-libritts` for `synth@libritts`).
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kfp import dsl

from components.corpora import ingest, synth
from components.tracking import end_parent_run, start_parent_run
from voxflow.stage_io import load_params

PARAMS = load_params(Path(__file__).parents[1] / "params.yaml")
# the synth parameters every pipeline that synthesizes takes, with params.yaml's defaults
SYNTH_DEFAULTS = {"synth_size": PARAMS["synth"]["size"], "synth_seed": PARAMS["synth"]["seed"],
                  "synth_workers": PARAMS["synth"]["workers"]}


def synth_size_default(corpus: str) -> str:
    """The size params.yaml gives `corpus`: its entry of synth.sizes, else synth.size."""
    return (PARAMS["synth"].get("sizes") or {}).get(corpus, PARAMS["synth"]["size"])


def ingest_default(corpus: str) -> str:
    """The default of a pipeline's `ingest_<corpus>` parameter: that corpus's options of
    params.yaml's `ingest` section as JSON text."""
    return json.dumps(PARAMS["ingest"][corpus])


def section_default(system: str) -> str:
    """The default of a pipeline's `<system>_options` parameter: the system's params.yaml
    section as JSON text (a struct parameter would carry integers as floats)."""
    return json.dumps(PARAMS[system])


@contextmanager
def parent_run(pipeline_name: str, mlflow_tracking_uri: str) -> Iterator[dict]:
    """Tasks created in the block are tracked under one parent MLflow run, which an exit handler
    ends FINISHED or FAILED; yields the tracking arguments that every stage component takes."""
    run = {"pipeline_name": pipeline_name, "mlflow_tracking_uri": mlflow_tracking_uri,
           "kfp_run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER}
    with dsl.ExitHandler(end_parent_run(**run), name="stages"):
        start = start_parent_run(**run)
        yield {"mlflow_tracking_uri": mlflow_tracking_uri, "parent_run_id": start.output,
               "kfp_run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER}


def corpus_tasks(corpus: str, size, seed, workers, ingest_options,
                 tracking: dict) -> tuple[dsl.PipelineTask, dsl.PipelineTask]:
    """synth@<corpus> -> ingest@<corpus>; returns the two tasks (outputs `corpus_root`, and
    `manifest`, `rejects`, `metrics`)."""
    synth_task = synth(corpus=corpus, size=size, seed=seed, workers=workers, **tracking)
    synth_task.set_display_name(f"synth-{corpus}")
    ingest_task = ingest(corpus=corpus, corpus_root=synth_task.outputs["corpus_root"],
                         options_json=ingest_options, **tracking)
    ingest_task.set_display_name(f"ingest-{corpus}")
    return synth_task, ingest_task


def train_on(task: dsl.PipelineTask, gpus: int, cpu: str, memory: str) -> dsl.PipelineTask:
    """`task` with the resources of a training stage: `gpus` NVIDIA GPUs when gpus > 0."""
    task.set_cpu_request(cpu).set_memory_request(memory)
    if gpus > 0:
        task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(gpus)
    return task
