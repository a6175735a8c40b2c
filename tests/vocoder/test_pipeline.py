"""The vocoder pipeline: the compiled IR, its registry gate, its GPU requests and a kfp.local
run of the whole DAG."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from kfp import compiler

from kfp_ir import compile_ir, dag_tasks, pipeline_stage_runs, read_ir, resources
from voxflow import kfp_runner
from voxflow.cli import main
from voxflow.stage_io import load_params

kfp_runner.pipelines_module("vocoder")   # puts the checkout's pipelines/ and components/ on sys.path
from components import IMAGE  # noqa: E402

REPO = Path(__file__).parents[2]
PARAMS = load_params(REPO / "params.yaml")
TRAINING_TASKS = {f"vocoder-{step}-{system}" for step in ("teacher", "student")
                  for system in PARAMS["vocoder"]["systems"]}


def test_compile_writes_the_ir_of_the_vocoder_pipeline(tmp_path):
    ir = compile_ir(tmp_path, "vocoder")
    assert ir["pipelineInfo"]["name"] == "voxflow-vocoder"
    tasks = dag_tasks(ir)
    names = {task["taskInfo"]["name"] for task in tasks.values()}
    assert names == {"start-parent-run", "stages", "end-parent-run", "champion-gate",
                     "synth-libritts", "ingest-libritts", "vocoder-features", *TRAINING_TASKS,
                     "vocoder-evaluate", "vocoder-register", "vocoder-promote"}
    for executor in ir["deploymentSpec"]["executors"].values():
        assert executor["container"]["image"] == IMAGE
    defaults = {name: spec.get("defaultValue")
                for name, spec in ir["root"]["inputDefinitions"]["parameters"].items()}
    assert defaults["synth_size"] == PARAMS["synth"]["size"]
    assert json.loads(defaults["ingest_libritts"]) == PARAMS["ingest"]["libritts"]
    assert json.loads(defaults["vocoder_options"]) == PARAMS["vocoder"]
    # the one vocoder_options configures every vocoder stage but the shared promote
    for task in tasks.values():
        if task["taskInfo"]["name"].startswith("vocoder-") and \
                task["taskInfo"]["name"] != "vocoder-promote":
            assert task["inputs"]["parameters"]["options_json"] == {
                "componentInputParameter": "pipelinechannel--vocoder_options"}


def test_promote_runs_only_when_the_gate_passed(tmp_path):
    ir = compile_ir(tmp_path, "vocoder")
    tasks = dag_tasks(ir)
    key_of = {task["taskInfo"]["name"]: key for key, task in tasks.items()}
    register = ir["components"][tasks[key_of["vocoder-register"]]["componentRef"]["name"]]
    assert register["outputDefinitions"]["parameters"]["Output"]["parameterType"] == \
        "BOOLEAN"
    gate = tasks[key_of["champion-gate"]]
    channel = "pipelinechannel--vocoder-register-Output"
    assert gate["triggerPolicy"]["condition"] == f"inputs.parameter_values['{channel}'] == true"
    assert gate["inputs"]["parameters"][channel]["taskOutputParameter"] == {
        "outputParameterKey": "Output", "producerTask": key_of["vocoder-register"]}
    inside = ir["components"][gate["componentRef"]["name"]]["dag"]["tasks"]
    assert [task["taskInfo"]["name"] for task in inside.values()] == ["vocoder-promote"]


def test_the_training_tasks_request_gpus_but_not_in_the_local_build(tmp_path):
    requests = resources(compile_ir(tmp_path, "vocoder"))
    for name, spec in requests.items():
        if name in TRAINING_TASKS:
            assert spec["accelerator"]["resourceType"] == "nvidia.com/gpu"
            assert spec["accelerator"]["resourceCount"] == "1"
            assert spec["resourceCpuRequest"] and spec["resourceMemoryRequest"]
        else:
            assert "accelerator" not in spec
    assert TRAINING_TASKS <= set(requests)

    for gpus, count in ((0, None), (4, "4")):
        out = tmp_path / f"gpus-{gpus}.yaml"
        compiler.Compiler().compile(kfp_runner.load_pipeline("vocoder", gpus), str(out))
        for name, spec in resources(read_ir(out)).items():
            assert spec.get("accelerator", {}).get("resourceCount") == \
                (count if name in TRAINING_TASKS else None)


def test_run_local_builds_the_vocoder_pipeline_without_gpus(tmp_path, monkeypatch):
    """kfp.local cannot give a task a GPU: the local run builds the pipeline with gpus=0."""
    calls = []

    def build(gpus):
        calls.append(gpus)
        return lambda **arguments: calls.append(arguments)

    monkeypatch.setitem(kfp_runner.pipelines_module("vocoder").PIPELINES, "vocoder", build)
    kfp_runner.run_local(tmp_path, "vocoder", arguments={"synth_seed": 3})
    assert calls == [0, {"synth_seed": 3}]


@pytest.mark.slow(minutes=2)
@pytest.mark.filterwarnings("ignore:.*non-Python base image",
                            "ignore:.*no effect in the current local runner")
def test_a_local_run_of_the_vocoder_pipeline(tmp_path, tracking, monkeypatch):
    """kfp.local runs the whole vocoder DAG, with a few training steps and a short evaluation:
    every stage's task, the registration and, the registry being empty, the promotion."""
    import copy

    monkeypatch.chdir(tmp_path)         # nothing a task writes lands in the repository
    options = copy.deepcopy(PARAMS["vocoder"])
    for part in ("teacher", "student"):
        options[part].update(steps=2, batch_size=2, segment_seconds=0.05, checkpoint_every=1,
                             log_every=1)
    options["student"].update(n_fft=256, hop_length=64)
    options["teacher"].update(validation_seconds=0.05)
    options["evaluation"].update(utterances=2, max_seconds=0.5)     # BS.1770 needs 0.4 s
    options["registry"]["model_name"] = "kfp-vocoder-test"
    options["threads"] = 1             # `make test`'s two workers share two cores
    assert main(["pipeline", "run-local", "--pipeline", "vocoder", "--workdir",
                 str(tmp_path / "kfp"), "--param", f"vocoder_options={json.dumps(options)}"]) == 0

    (outputs,) = (tmp_path / "kfp").glob("voxflow-vocoder-*")
    # task folders are named by task (component) name: vocoder-teacher, vocoder-teacher-2, ...
    assert len(list(outputs.glob("vocoder-teacher*/teacher/teacher.pt"))) == 2
    assert len(list(outputs.glob("vocoder-student*/student/student.pt"))) == 2
    metrics = json.loads((outputs / "vocoder-evaluate" / "metrics").read_text())
    assert {f"{s}/pesq_wb" for s in ("upw", "upw-ref", "sdpw", "griffin-lim", "teacher")} <= \
        set(metrics)
    assert (outputs / "vocoder-evaluate" / "report" / "summary.md").is_file()
    decision = json.loads((outputs / "vocoder-register" / "decision").read_text())
    assert decision["gate_passed"] is True
    assert decision["value"] == metrics[options["registry"]["gate_metric"]]
    outcome = json.loads((outputs / "promote" / "outcome").read_text())
    assert outcome["promoted"] is True
    client = mlflow.MlflowClient()
    assert client.get_model_version_by_alias("kfp-vocoder-test", "champion").version == \
        int(decision["version"])

    stages = pipeline_stage_runs("kfp-vocoder")
    assert stages == {"synth@libritts", "ingest@libritts", "vocoder-features",
                      "vocoder-teacher@upw", "vocoder-teacher@sdpw", "vocoder-student@upw",
                      "vocoder-student@sdpw", "vocoder-evaluate", "vocoder-register",
                      "vocoder-promote"}
