"""The anonymization pipeline's compiled IR (its tasks, the ParallelFor loops over params.yaml's
systems, admixture shares and conversion variants, the GPU requests of the training tasks) and
a kfp.local run of the whole DAG at a reduced size."""
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
SECTION = PARAMS["anonymization"]
SECOND = SECTION["admixture"]["second"]
TRAINING_TASKS = {"anon-ssl", "anon-vocoder", "anon-asv", "anon-emotion", "anon-asr",
                  "anon-system", f"anon-system-{SECOND}", "anon-cascade", "anon-admixture",
                  "anon-conversion", f"mlms-train-{SECTION['cascade']['voice']}",
                  "mlms-duration"}


def test_compile_writes_every_task_of_the_anonymization_pipeline(tmp_path):
    ir = compile_ir(tmp_path, "anonymization")
    assert ir["pipelineInfo"]["name"] == "voxflow-anonymization"
    assert {task["taskInfo"]["name"] for task in dag_tasks(ir).values()} == {
        "start-parent-run", "stages", "end-parent-run", "systems", "admixtures", "conversions",
        "synth-mlms", "ingest-mlms", "synth-iemocap", "ingest-iemocap", "anon-corpus",
        "anon-probes", "anon-features", "mlms-features", "mlms-linguistic", *TRAINING_TASKS,
        "anon-report", "anon-register"}
    defaults = {name: spec.get("defaultValue")
                for name, spec in ir["root"]["inputDefinitions"]["parameters"].items()}
    assert json.loads(defaults["anonymization_options"]) == PARAMS["anonymization"]


def test_the_loops_cover_every_row_of_table_1(tmp_path):
    found = sorted(items for _, items in loops(compile_ir(tmp_path, "anonymization")).values())
    assert found == sorted([[s for s in SECTION["systems"] if s != SECOND],
                            [str(p) for p in SECTION["admixture"]["p"]],
                            list(SECTION["conversion"]["variants"])])


def test_only_the_training_tasks_request_gpus(tmp_path):
    for name, spec in resources(compile_ir(tmp_path, "anonymization")).items():
        assert ("accelerator" in spec) == (name in TRAINING_TASKS), name


@pytest.mark.slow(minutes=4.5)
@pytest.mark.filterwarnings("ignore:.*non-Python base image",
                            "ignore:.*no effect in the current local runner")
def test_a_local_run_of_the_anonymization_pipeline(tmp_path, tracking, monkeypatch):
    """kfp.local runs the whole anonymization DAG on the smallest corpora with a few steps of
    every training: one row of each kind (the origin row in the systems' loop, kNN-VC on its
    own, the cascade with the MLMS voice, one admixture, one conversion variant with both
    additions; as the DAG test's FEW_SYSTEMS: each is minutes of anonymization and attacker
    training), the report, the SSL encoder and every anonymizer registered @candidate."""
    monkeypatch.chdir(tmp_path)         # nothing a task writes lands in the repository
    pipeline = kfp_runner.pipelines_module("anonymization")
    variant = "wavlm-conv-adv-discrete"
    for name, value in (("SYSTEMS", ["origin"]), ("SHARES", ["0.5"]), ("VARIANTS", [variant])):
        monkeypatch.setattr(pipeline, name, value)
    options = copy.deepcopy(SECTION)
    options["systems"] = {name: options["systems"][name] for name in ("origin", SECOND)}
    options["admixture"]["p"] = [0.5]
    options["conversion"]["variants"] = {variant: options["conversion"]["variants"][variant]}
    few = {"steps": 4, "checkpoint_every": 4, "log_every": 2}
    for part in ("ssl_training", "vocoder_training", "asv_training", "emotion_training",
                 "asr_training"):
        options[part] = dict(few)
    options["conversion_training"] = {**few, "warmup_steps": 2}
    options["corpus"]["size"] = "vpc-tiny"
    options["evaluation"].update(resamples=20, probe_utterances=4)
    options["registry"] = {"model_name": "kfp-anonymizer", "ssl_model_name": "kfp-ssl"}
    options["threads"] = 1             # `make test`'s two workers share two cores
    mlms = copy.deepcopy(PARAMS["mlms"])
    for part in ("training", "duration_training"):
        mlms[part] = {"steps": 4, "validate_every": 4, "checkpoint_every": 4}
    assert main(["pipeline", "run-local", "--pipeline", "anonymization", "--workdir",
                 str(tmp_path / "kfp"), "--param", "synth_size_mlms=tiny", "--param",
                 "synth_size_iemocap=tiny", "--param",
                 f"anonymization_options={json.dumps(options)}", "--param",
                 f"mlms_options={json.dumps(mlms)}"]) == 0

    (outputs,) = (tmp_path / "kfp").glob("voxflow-anonymization-*")
    metrics = json.loads((outputs / "anon-report" / "metrics").read_text())
    for row in ("origin", SECOND, "cascade", "admixture-0.5", variant):
        assert f"{row}/eer-semi-informed/avg" in metrics, row
    assert "admixture-0.5/eer-informed/avg" in metrics
    registered = json.loads((outputs / "anon-register" / "registered").read_text())
    assert set(registered["versions"]) == {"kfp-ssl", *(f"kfp-anonymizer-{name}" for name in (
        SECOND, "cascade", "admixture", variant))}
    client = mlflow.MlflowClient()
    for name, version in registered["versions"].items():
        assert str(client.get_model_version_by_alias(name, "candidate").version) == version

    stages = pipeline_stage_runs("kfp-anonymization")
    assert stages == {f"anon-system@{s}" for s in options["systems"]} | {
        "synth@mlms", "ingest@mlms", "synth@iemocap", "ingest@iemocap", "anon-corpus",
        "anon-ssl", "anon-probes", "anon-vocoder", "anon-features", "anon-asv", "anon-emotion",
        "anon-asr",
        "mlms-features", "mlms-linguistic", f"mlms-train@{SECTION['cascade']['voice']}",
        "mlms-duration", "anon-cascade", "anon-admixture@0.5", f"anon-conversion@{variant}",
        "anon-report", "anon-register"}
