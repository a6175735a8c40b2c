"""The AV-SE pipeline: the compiled IR (its ParallelFor of systems, GPU requests, registry gate)
and a kfp.local run of the whole DAG."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import mlflow
import pytest

from kfp_ir import compile_ir, dag_tasks, loops, pipeline_stage_runs, resources
from voxflow import kfp_runner
from voxflow.cli import main
from voxflow.stage_io import load_params

kfp_runner.pipelines_module("avse")     # puts the checkout's pipelines/ and components/ on sys.path

REPO = Path(__file__).parents[2]
PARAMS = load_params(REPO / "params.yaml")


def test_compile_writes_the_ir_of_the_avse_pipeline(tmp_path):
    ir = compile_ir(tmp_path, "avse")
    assert ir["pipelineInfo"]["name"] == "voxflow-avse"
    tasks = dag_tasks(ir)
    assert {task["taskInfo"]["name"] for task in tasks.values()} == {
        "start-parent-run", "stages", "end-parent-run", "champion-gate", "systems",
        "synth-grid", "ingest-grid", "synth-noise", "ingest-noise", "avse-mix", "avse-crops",
        "avse-features", "avse-train", "avse-evaluate", "avse-register", "avse-promote"}
    defaults = {name: spec.get("defaultValue")
                for name, spec in ir["root"]["inputDefinitions"]["parameters"].items()}
    assert json.loads(defaults["avse_options"]) == PARAMS["avse"]
    assert defaults["synth_size_grid"] == PARAMS["synth"]["sizes"]["grid"]
    assert defaults["synth_size_noise"] == PARAMS["synth"]["size"]
    (items,) = (items for _, items in loops(ir).values())
    assert items == list(PARAMS["avse"]["systems"])


def test_only_the_training_tasks_request_gpus(tmp_path):
    for name, spec in resources(compile_ir(tmp_path, "avse")).items():
        assert ("accelerator" in spec) == (name == "avse-train"), name


def test_promote_runs_only_when_the_gate_passed(tmp_path):
    ir = compile_ir(tmp_path, "avse")
    tasks = dag_tasks(ir)
    key_of = {task["taskInfo"]["name"]: key for key, task in tasks.items()}
    gate = tasks[key_of["champion-gate"]]
    channel = "pipelinechannel--avse-register-Output"
    assert gate["triggerPolicy"]["condition"] == f"inputs.parameter_values['{channel}'] == true"
    inside = ir["components"][gate["componentRef"]["name"]]["dag"]["tasks"]
    assert [task["taskInfo"]["name"] for task in inside.values()] == ["avse-promote"]


@pytest.mark.slow(minutes=2.5)
@pytest.mark.filterwarnings("ignore:.*non-Python base image",
                            "ignore:.*no effect in the current local runner")
def test_a_local_run_of_the_avse_pipeline(tmp_path, tracking, monkeypatch):
    """kfp.local runs the whole AV-SE DAG on the tiny GRID with a few training steps: every
    system trained in the ParallelFor, collected by the evaluation, registered and promoted."""
    monkeypatch.chdir(tmp_path)         # nothing a task writes lands in the repository
    options = copy.deepcopy(PARAMS["avse"])
    options["workers"] = 2
    options["mixing"]["mixtures_per_utterance"] = 1
    options["training"] = {"steps": 2, "batch_size": 4, "segment_seconds": 0.4,
                           "validate_every": 2, "checkpoint_every": 2, "log_every": 1}
    options["registry"]["model_name"] = "kfp-avse-test"
    options["threads"] = 1             # `make test`'s two workers share two cores
    assert main(["pipeline", "run-local", "--pipeline", "avse", "--workdir",
                 str(tmp_path / "kfp"), "--param", "synth_size_grid=tiny", "--param",
                 f"avse_options={json.dumps(options)}"]) == 0

    (outputs,) = (tmp_path / "kfp").glob("voxflow-avse-*")
    metrics = json.loads((outputs / "avse-evaluate" / "metrics").read_text())
    assert {f"{s}/pesq_wb/-5dB/noise" for s in ["unprocessed", *options["systems"]]} <= \
        set(metrics)
    decision = json.loads((outputs / "avse-register" / "decision").read_text())
    assert decision["gate_passed"] is True and decision["value"] == metrics["test/pesq_wb"]
    assert json.loads((outputs / "promote" / "outcome").read_text())["promoted"] is True
    champion = mlflow.MlflowClient().get_model_version_by_alias("kfp-avse-test", "champion")
    assert str(champion.version) == decision["version"]

    stages = pipeline_stage_runs("kfp-avse")
    assert {f"avse-train@{s}" for s in options["systems"]} | {
        "synth@grid", "ingest@grid", "synth@noise", "ingest@noise", "avse-mix", "avse-crops",
        "avse-features", "avse-evaluate", "avse-register", "avse-promote"} <= stages
