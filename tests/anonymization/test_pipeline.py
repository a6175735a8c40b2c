"""The anonymization pipeline's compiled IR (its tasks, the ParallelFor over params.yaml's
systems and the GPU requests of the training tasks) and a kfp.local run of the whole DAG at a
reduced size."""
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


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*non-Python base image",
                            "ignore:.*no effect in the current local runner")
def test_a_local_run_of_the_anonymization_pipeline(tmp_path, tracking, monkeypatch):
    """kfp.local runs the whole anonymization DAG on the smallest corpora with a few steps of
    every training: the origin row and kNN-VC anonymized and evaluated in the ParallelFor (two
    systems of params.yaml, as the DAG test's FEW_SYSTEMS: each is minutes of anonymization and
    attacker training), the report, the SSL encoder and kNN-VC registered @candidate."""
    monkeypatch.chdir(tmp_path)         # nothing a task writes lands in the repository
    systems = ["origin", "knnvc"]
    monkeypatch.setattr(kfp_runner.pipelines_module("anonymization"), "SYSTEMS", systems)
    options = copy.deepcopy(PARAMS["anonymization"])
    options["systems"] = {name: options["systems"][name] for name in systems}
    for part in ("ssl_training", "vocoder_training", "asv_training", "emotion_training",
                 "asr_training"):
        options[part] = {"steps": 4, "checkpoint_every": 4, "log_every": 2}
    options["corpus"]["size"] = "vpc-tiny"
    options["evaluation"].update(resamples=20, probe_utterances=4)
    options["registry"] = {"model_name": "kfp-anonymizer", "ssl_model_name": "kfp-ssl"}
    assert main(["pipeline", "run-local", "--pipeline", "anonymization", "--workdir",
                 str(tmp_path / "kfp"), "--param", "synth_size_mlms=tiny", "--param",
                 "synth_size_iemocap=tiny", "--param",
                 f"anonymization_options={json.dumps(options)}"]) == 0

    (outputs,) = (tmp_path / "kfp").glob("voxflow-anonymization-*")
    metrics = json.loads((outputs / "anon-report" / "metrics").read_text())
    for system in options["systems"]:
        assert f"{system}/eer-semi-informed/avg" in metrics, system
    registered = json.loads((outputs / "anon-register" / "registered").read_text())
    anonymizers = [f"kfp-anonymizer-{name}" for name, spec in options["systems"].items()
                   if spec["kind"] != "origin"]
    assert set(registered["versions"]) == {"kfp-ssl", *anonymizers}
    client = mlflow.MlflowClient()
    for name, version in registered["versions"].items():
        assert str(client.get_model_version_by_alias(name, "candidate").version) == version

    stages = pipeline_stage_runs("kfp-anonymization")
    assert stages == {f"anon-system@{s}" for s in options["systems"]} | {
        "synth@mlms", "ingest@mlms", "synth@iemocap", "ingest@iemocap", "anon-corpus",
        "anon-ssl", "anon-probes", "anon-vocoder", "anon-asv", "anon-emotion", "anon-asr",
        "anon-report", "anon-register"}
