"""The MLMS pipeline: the compiled IR (the adaptation source's own training task, the ParallelFor
of the other systems, GPU requests, registry gate) and a kfp.local run of the whole DAG."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from kfp_ir import compile_ir, dag_tasks, loops, pipeline_stage_runs, resources
from voxflow import kfp_runner
from voxflow.cli import main
from voxflow.stage_io import load_params

kfp_runner.pipelines_module("mlms")     # puts the checkout's pipelines/ and components/ on sys.path

REPO = Path(__file__).parents[2]
PARAMS = load_params(REPO / "params.yaml")
SOURCE = PARAMS["mlms"]["adaptation"]["source"]
TRAINING_TASKS = {"mlms-train", f"mlms-train-{SOURCE}", "mlms-duration", "mlms-adapt"}


def test_compile_writes_the_ir_of_the_mlms_pipeline(tmp_path):
    ir = compile_ir(tmp_path, "mlms")
    assert ir["pipelineInfo"]["name"] == "voxflow-mlms"
    tasks = dag_tasks(ir)
    assert {task["taskInfo"]["name"] for task in tasks.values()} == {
        "start-parent-run", "stages", "end-parent-run", "champion-gate", "systems",
        "synth-mlms", "ingest-mlms", "mlms-features", "mlms-linguistic", *TRAINING_TASKS,
        "mlms-evaluate", "mlms-register", "mlms-promote"}
    defaults = {name: spec.get("defaultValue")
                for name, spec in ir["root"]["inputDefinitions"]["parameters"].items()}
    assert json.loads(defaults["mlms_options"]) == PARAMS["mlms"]
    assert defaults["synth_size_mlms"] == PARAMS["synth"]["sizes"]["mlms"]


def test_the_source_trains_alone_and_the_loop_trains_the_other_systems(tmp_path):
    ir = compile_ir(tmp_path, "mlms")
    (source,) = (task for task in dag_tasks(ir).values()
                 if task["taskInfo"]["name"] == f"mlms-train-{SOURCE}")
    assert source["inputs"]["parameters"]["system"]["runtimeValue"]["constant"] == SOURCE
    (items,) = (items for _, items in loops(ir).values())
    assert items == [system for system in PARAMS["mlms"]["systems"] if system != SOURCE]


def test_only_the_training_tasks_request_gpus(tmp_path):
    for name, spec in resources(compile_ir(tmp_path, "mlms")).items():
        assert ("accelerator" in spec) == (name in TRAINING_TASKS), name


def test_promote_runs_only_when_the_gate_passed(tmp_path):
    ir = compile_ir(tmp_path, "mlms")
    tasks = dag_tasks(ir)
    key_of = {task["taskInfo"]["name"]: key for key, task in tasks.items()}
    gate = tasks[key_of["champion-gate"]]
    channel = "pipelinechannel--mlms-register-Output"
    assert gate["triggerPolicy"]["condition"] == f"inputs.parameter_values['{channel}'] == true"
    inside = ir["components"][gate["componentRef"]["name"]]["dag"]["tasks"]
    assert [task["taskInfo"]["name"] for task in inside.values()] == ["mlms-promote"]


@pytest.mark.slow(minutes=3)
@pytest.mark.filterwarnings("ignore:.*non-Python base image",
                            "ignore:.*no effect in the current local runner")
def test_a_local_run_of_the_mlms_pipeline(tmp_path, tracking, quick, monkeypatch):
    """kfp.local runs the whole MLMS DAG on the tiny corpus with a few training steps: every
    system trained (the source alone, the others in the ParallelFor), the duration model, the
    adaptations, the evaluation of them all, the voice registered @candidate and promoted."""
    monkeypatch.chdir(tmp_path)         # nothing a task writes lands in the repository
    options = quick(registry={**PARAMS["mlms"]["registry"], "model_name": "kfp-mlms-test"})
    assert main(["pipeline", "run-local", "--pipeline", "mlms", "--workdir",
                 str(tmp_path / "kfp"), "--param", "synth_size_mlms=tiny", "--param",
                 f"mlms_options={json.dumps(options)}"]) == 0

    (outputs,) = (tmp_path / "kfp").glob("voxflow-mlms-*")
    summary = pd.read_csv(outputs / "mlms-evaluate" / "plots")
    assert set(summary.loc[summary["figure"] == "figure2", "system"]) == set(options["systems"])
    metrics = json.loads((outputs / "mlms-evaluate" / "metrics").read_text())
    assert {f"adapt/{language}/{setup}/mse" for language in options["held_out_languages"]
            for setup in options["adaptation"]["setups"]} | {"duration/mse"} <= set(metrics)
    decision = json.loads((outputs / "mlms-register" / "decision").read_text())
    assert decision["value"] == metrics["dev/mse_training_languages"]
    client = mlflow.MlflowClient()
    candidate = client.get_model_version_by_alias("kfp-mlms-test", "candidate")
    assert str(candidate.version) == decision["version"]
    assert json.loads((outputs / "promote" / "outcome").read_text())["promoted"] is True
    champion = client.get_model_version_by_alias("kfp-mlms-test", "champion")
    assert champion.version == candidate.version

    stages = pipeline_stage_runs("kfp-mlms")
    assert stages == {f"mlms-train@{s}" for s in options["systems"]} | {
        "synth@mlms", "ingest@mlms", "mlms-features", "mlms-linguistic", "mlms-duration",
        "mlms-adapt", "mlms-evaluate", "mlms-register", "mlms-promote"}
