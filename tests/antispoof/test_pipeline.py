"""The antispoof pipeline: the compiled IR (one ParallelFor per front-end, the fan-in, the
gate) and a kfp.local run of the whole DAG."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from kfp_ir import compile_ir, dag_tasks, loops, pipeline_stage_runs
from voxflow import kfp_runner
from voxflow.cli import main
from voxflow.stage_io import load_params

kfp_runner.pipelines_module("antispoof")   # puts the checkout's pipelines/ and components/ on sys.path
from components import IMAGE  # noqa: E402

REPO = Path(__file__).parents[2]
PARAMS = load_params(REPO / "params.yaml")


def test_compile_writes_the_ir_of_the_antispoof_pipeline(tmp_path):
    ir = compile_ir(tmp_path, "antispoof")
    assert ir["pipelineInfo"]["name"] == "voxflow-antispoof"
    tasks = dag_tasks(ir)
    names = {task["taskInfo"]["name"] for task in tasks.values()}
    antispoof = PARAMS["antispoof"]
    assert names == {"start-parent-run", "stages", "end-parent-run", "champion-gate",
                     "synth-asvspoof", "ingest-asvspoof", "antispoof-train",
                     "anon-corpus", "anon-ssl", "antispoof-ssl-features",
                     *(f"antispoof-features-{f}" for f in antispoof["gmm"]["frontends"]),
                     *(f"antispoof-gmm-{f}" for f in antispoof["gmm"]["frontends"]),
                     "antispoof-evaluate",
                     "antispoof-register", "antispoof-promote",
                     *(f"systems-{f}" for f in antispoof["frontends"])}
    defaults = {name: spec.get("defaultValue")
                for name, spec in ir["root"]["inputDefinitions"]["parameters"].items()}
    assert json.loads(defaults["antispoof_options"]) == antispoof
    assert json.loads(defaults["anonymization_options"]) == PARAMS["anonymization"]
    assert json.loads(defaults["ingest_asvspoof"]) == PARAMS["ingest"]["asvspoof"]
    # one ParallelFor per front-end over its systems of params.yaml, fanned in by the evaluation
    groups = {tasks[key]["taskInfo"]["name"]: items for key, (_, items) in loops(ir).items()}
    assert groups == {f"systems-{f}": [n for n, s in antispoof["systems"].items()
                                      if s["frontend"] == f] for f in antispoof["frontends"]}
    key_of = {task["taskInfo"]["name"]: key for key, task in tasks.items()}
    evaluate = tasks[key_of["antispoof-evaluate"]]
    for frontend in antispoof["frontends"]:
        collected = evaluate["inputs"]["artifacts"][f"systems_{frontend}"]
        assert collected["taskOutputArtifact"]["producerTask"] == key_of[f"systems-{frontend}"]
    # the gate: promote only inside dsl.If(gate_passed == True)
    gate = tasks[key_of["champion-gate"]]
    channel = "pipelinechannel--antispoof-register-Output"
    assert gate["triggerPolicy"]["condition"] == f"inputs.parameter_values['{channel}'] == true"
    inside = ir["components"][gate["componentRef"]["name"]]["dag"]["tasks"]
    assert [task["taskInfo"]["name"] for task in inside.values()] == ["antispoof-promote"]
    for executor in ir["deploymentSpec"]["executors"].values():
        assert executor["container"]["image"] == IMAGE


@pytest.mark.slow(minutes=2.5)
@pytest.mark.filterwarnings("ignore:.*non-Python base image",
                            "ignore:.*no effect in the current local runner")
def test_a_local_run_of_the_antispoof_pipeline(tmp_path, tracking, monkeypatch):
    """kfp.local runs the whole antispoof DAG (ParallelFor loops and their dsl.Collected fan-in
    included) at a reduced size, the gate and promotion included: four systems of params.yaml,
    one of each front-end and objective (as the DAG test's FEW_SYSTEMS), on few steps."""
    import copy

    monkeypatch.chdir(tmp_path)         # nothing a task writes lands in the repository
    few = ["ssl-lcnn", "ssl-lcnn-original", "lfcc-senet34", "cqcc-senet34"]
    compiled = kfp_runner.pipelines_module("antispoof").PARAMS["antispoof"]   # read at build
    monkeypatch.setitem(compiled, "systems", {name: compiled["systems"][name] for name in few})
    options = copy.deepcopy(PARAMS["antispoof"])
    options["systems"] = {name: options["systems"][name] for name in few}
    options["workers"] = 2
    options["frontends"]["cqcc"] = {"bins_per_octave": 24}     # a 4x smaller CQT
    options["frames"] = {"lfcc": 60, "cqcc": 60, "ssl": 30}
    options["gmm"].update(components=4, max_iter=20)
    options["training"].update(batch_size=16, pairs=20, epochs=2, classifier_epochs=2,
                               checkpoint_every=10, log_every=5)
    options["registry"]["model_name"] = "kfp-antispoof-test"
    # the SSL front-end's encoder: a few pretraining steps on the smallest anonymization corpus
    anonymization = copy.deepcopy(PARAMS["anonymization"])
    anonymization["corpus"]["size"] = "vpc-tiny"
    anonymization["ssl_training"] = {"steps": 4, "checkpoint_every": 4, "log_every": 2}
    anonymization["threads"] = 1       # `make test`'s two workers share two cores
    assert main(["pipeline", "run-local", "--pipeline", "antispoof", "--workdir",
                 str(tmp_path / "kfp"), "--param",
                 f"antispoof_options={json.dumps(options)}", "--param",
                 f"anonymization_options={json.dumps(anonymization)}"]) == 0

    (outputs,) = (tmp_path / "kfp").glob("voxflow-antispoof-*")
    report = outputs / "antispoof-evaluate" / "report"
    metrics = json.loads((report / "evaluation.json").read_text())
    systems = ["lfcc-gmm", "cqcc-gmm", *options["systems"]]
    assert {f"{s}/eval/eer" for s in systems} <= set(metrics)
    assert "voxflow's SSL encoder" in (report / "report.md").read_text()
    decision = json.loads((outputs / "antispoof-register" / "decision").read_text())
    assert decision["gate_passed"] is True and decision["system"] in options["systems"]
    assert decision["value"] == metrics[f"{decision['system']}/eval/eer"]
    version = mlflow.MlflowClient().get_model_version_by_alias("kfp-antispoof-test", "candidate")
    assert str(version.version) == decision["version"]
    assert json.loads((outputs / "promote" / "outcome").read_text())["promoted"] is True
    champion = mlflow.MlflowClient().get_model_version_by_alias("kfp-antispoof-test", "champion")
    assert champion.version == version.version

    stages = pipeline_stage_runs("kfp-antispoof")
    assert {f"antispoof-train@{s}" for s in options["systems"]} | {
        "synth@asvspoof", "ingest@asvspoof", "antispoof-evaluate", "antispoof-register",
        "anon-corpus", "anon-ssl", "antispoof-ssl-features",
        *(f"antispoof-features@{f}" for f in options["gmm"]["frontends"]),
        "antispoof-gmm@lfcc", "antispoof-gmm@cqcc"} <= stages
