"""The anonymization pipeline's compiled IR: its tasks, the ParallelFor over params.yaml's
systems and the GPU requests of the training tasks. (The DAG itself runs end to end in
tests/pipelines/test_repro.py, under `dvc repro`.)"""
from __future__ import annotations

import json
from pathlib import Path

from kfp_ir import compile_ir, dag_tasks, loops, resources
from voxflow import kfp_runner
from voxflow.stage_io import load_params

kfp_runner.pipelines_module("anonymization")   # the checkout's pipelines/ on sys.path

PARAMS = load_params(Path(__file__).parents[2] / "params.yaml")
TRAINING_TASKS = {"anon-ssl", "anon-vocoder", "anon-asv", "anon-emotion", "anon-asr",
                  "anon-system"}


def test_compile_writes_every_task_of_the_anonymization_pipeline(tmp_path):
    ir = compile_ir(tmp_path, "anonymization")
    assert ir["pipelineInfo"]["name"] == "voxflow-anonymization"
    assert {task["taskInfo"]["name"] for task in dag_tasks(ir).values()} == {
        "start-parent-run", "stages", "end-parent-run", "systems", "synth-mlms", "ingest-mlms",
        "synth-iemocap", "ingest-iemocap", "anon-corpus", "anon-probes", *TRAINING_TASKS,
        "anon-report", "anon-register"}
    defaults = {name: spec.get("defaultValue")
                for name, spec in ir["root"]["inputDefinitions"]["parameters"].items()}
    assert json.loads(defaults["anonymization_options"]) == PARAMS["anonymization"]


def test_the_loop_anonymizes_and_evaluates_every_system(tmp_path):
    (items,) = (items for _, items in loops(compile_ir(tmp_path, "anonymization")).values())
    assert items == list(PARAMS["anonymization"]["systems"])


def test_only_the_training_tasks_request_gpus(tmp_path):
    for name, spec in resources(compile_ir(tmp_path, "anonymization")).items():
        assert ("accelerator" in spec) == (name in TRAINING_TASKS), name
