"""The corpora pipelines: the compiled IR, the import variant, kfp.local runs and submission."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pyarrow.parquet as pq
import pytest
from kfp import local

from kfp_ir import compile_ir, dag_tasks
from voxflow import kfp_runner
from voxflow.cli import main
from voxflow.ingest.manifest import read_manifest
from voxflow.stage_io import load_params
from voxflow.synth.corpora import CORPORA

kfp_runner.pipelines_module("corpora")   # puts the checkout's pipelines/ and components/ on sys.path
from components import IMAGE  # noqa: E402

REPO = Path(__file__).parents[2]
PARAMS = load_params(REPO / "params.yaml")
LOCAL_RUN_CORPORA = ("noise", "grid")      # the two quickest to synthesize (~5 s each)


@pytest.fixture
def kfp_tracking(tracking, tmp_path, monkeypatch):
    """The test's MLflow store, for the tasks' subprocesses too, run from tmp_path."""
    monkeypatch.chdir(tmp_path)         # nothing a task writes lands in the repository
    return tracking


def test_compile_writes_the_ir_of_the_corpora_pipeline(tmp_path):
    ir = compile_ir(tmp_path, "corpora")
    assert ir["pipelineInfo"]["name"] == "voxflow-corpora"
    tasks = dag_tasks(ir)
    names = {task["taskInfo"]["name"] for task in tasks.values()}
    assert names == {"start-parent-run", "stages", "end-parent-run",
                     *(f"{step}-{corpus}" for step in ("synth", "ingest") for corpus in CORPORA)}
    # every stage nests its MLflow run under the parent run; the exit handler ends it
    for task in tasks.values():
        if task["taskInfo"]["name"].startswith(("synth-", "ingest-")):
            assert task["inputs"]["parameters"]["parent_run_id"]["taskOutputParameter"] == {
                "outputParameterKey": "Output", "producerTask": "start-parent-run"}
    assert tasks["end-parent-run"]["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    # the components run the project's image, which holds voxflow: nothing installed at run time
    for executor in ir["deploymentSpec"]["executors"].values():
        assert executor["container"]["image"] == IMAGE
        assert "pip install" not in " ".join(executor["container"]["command"])
    # params.yaml's values are the parameters' defaults
    defaults = {name: spec.get("defaultValue")
                for name, spec in ir["root"]["inputDefinitions"]["parameters"].items()}
    assert defaults["synth_size"] == PARAMS["synth"]["size"]
    assert defaults["synth_seed"] == PARAMS["synth"]["seed"]
    assert defaults["synth_workers"] == PARAMS["synth"]["workers"]
    for corpus in CORPORA:
        assert json.loads(defaults[f"ingest_{corpus}"]) == PARAMS["ingest"][corpus]


def test_compile_writes_the_import_variant(tmp_path):
    ir = compile_ir(tmp_path, "import-corpus")
    importer = ir["deploymentSpec"]["executors"]["exec-importer"]["importer"]
    assert importer["artifactUri"] == {"runtimeParameter": "uri"}
    tasks = dag_tasks(ir)
    assert tasks["importer"]["inputs"]["parameters"]["uri"] == {
        "componentInputParameter": "pipelinechannel--corpus_uri"}
    assert tasks["ingest"]["inputs"]["artifacts"]["corpus_root"]["taskOutputArtifact"] == {
        "outputArtifactKey": "artifact", "producerTask": "importer"}


def test_submit_sends_the_pipeline_and_typed_params(monkeypatch):
    calls = []

    class FakeClient:
        def __init__(self, host):
            self.host = host

        def create_run_from_pipeline_func(self, pipeline, arguments, experiment_name, run_name):
            calls.append((self.host, pipeline.name, arguments, experiment_name, run_name))
            return type("Result", (), {"run_id": "run-1"})()

    monkeypatch.setattr("kfp.Client", FakeClient)
    assert main(["pipeline", "submit", "--host", "http://kfp:8888", "--experiment", "e",
                 "--param", "synth_seed=3", "--param", 'ingest_grid={"seed": 1}']) == 0
    assert calls == [("http://kfp:8888", "voxflow-corpora",
                      {"synth_seed": 3, "ingest_grid": '{"seed": 1}'}, "e", None)]
    assert main(["pipeline", "submit", "--host", "h", "--param", "synth_seed=x"]) == 2
    assert main(["pipeline", "submit", "--host", "h", "--param", "nope=1"]) == 2


@pytest.mark.slow(minutes=1)
@pytest.mark.filterwarnings("ignore:.*non-Python base image",
                            "ignore:.*no effect in the current local runner")
def test_a_local_run_ingests_the_embedded_default(tmp_path, kfp_tracking):
    """kfp.local (SubprocessRunner, this environment) runs the corpora pipeline on noise and
    grid, then the import variant on the noise release the first run synthesized."""
    kfp_runner.run_local(tmp_path / "kfp", "corpora", LOCAL_RUN_CORPORA)

    (outputs,) = (tmp_path / "kfp").glob("voxflow-corpora-*")
    manifests = {}
    for path in outputs.glob("ingest*/manifest"):
        metadata = pq.read_metadata(path).metadata
        corpus = metadata[b"voxflow.corpus"].decode()
        manifests[corpus] = path
        assert json.loads(metadata[b"voxflow.params"]) == PARAMS["ingest"][corpus]
        metrics = json.loads((path.parent / "metrics").read_text())
        assert metrics["utterances"] == pq.read_metadata(path).num_rows > 0
        assert pq.read_metadata(path.parent / "rejects").num_rows == metrics["rejected"]
    assert set(manifests) == set(LOCAL_RUN_CORPORA)

    noise_release = read_manifest(manifests["noise"])[1]
    kfp_runner.load_pipeline("import-corpus", gpus=0)(
        corpus="noise", corpus_uri=str(noise_release),
        ingest_options=json.dumps(PARAMS["ingest"]["noise"]))
    (imported,) = (tmp_path / "kfp").glob("voxflow-import-corpus-*/ingest/manifest")
    assert pq.read_table(imported).equals(pq.read_table(manifests["noise"]))

    runs = mlflow.search_runs(experiment_names=["voxflow"], output_format="list")
    parents = {r.data.tags["voxflow.pipeline"]: r for r in runs
               if "voxflow.pipeline" in r.data.tags}
    assert set(parents) == {"kfp-corpora", "kfp-import-corpus"}
    assert all(p.info.status == "FINISHED" for p in parents.values())
    stages = {(r.info.run_name, r.data.tags["mlflow.parentRunId"]) for r in runs
              if "voxflow.stage" in r.data.tags}
    corpora_id, import_id = (parents[p].info.run_id for p in ("kfp-corpora", "kfp-import-corpus"))
    assert stages == {*((f"{step}@{c}", corpora_id) for step in ("synth", "ingest")
                        for c in LOCAL_RUN_CORPORA), ("ingest@noise", import_id)}


@pytest.mark.filterwarnings("ignore:.*non-Python base image")
def test_a_failed_local_run_marks_its_parent_run_failed(tmp_path, kfp_tracking):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))
    with pytest.raises(RuntimeError, match="FAILURE"):
        kfp_runner.load_pipeline("import-corpus", gpus=0)(corpus="grid",
                                                  corpus_uri=str(tmp_path / "missing"))
    runs = {r.info.run_name: r.info.status
            for r in mlflow.search_runs(experiment_names=["voxflow"], output_format="list")}
    assert runs == {"kfp-import-corpus": "FAILED", "ingest@grid": "FAILED"}




def test_run_local_restricts_only_the_corpora_pipeline():
    assert main(["pipeline", "run-local", "--pipeline", "vocoder", "--corpus", "noise"]) == 2
    assert main(["pipeline", "compile", "--pipeline", "nope"]) == 2
