"""The Kubeflow pipelines: the compiled IR, its DAG against dvc.yaml's, and a kfp.local run."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pyarrow.parquet as pq
import pytest
import yaml
from dvc.repo import Repo
from dvc.stage import PipelineStage
from kfp import compiler
from kfp import components as kfp_components
from kfp import local

from voxflow import kfp_runner
from voxflow.cli import main
from voxflow.ingest.manifest import read_manifest
from voxflow.stages import load_params
from voxflow.synth.corpora import CORPORA

kfp_runner.pipelines_module()          # puts the checkout's pipelines/ and components/ on sys.path
from components import IMAGE  # noqa: E402

REPO = Path(__file__).parents[1]
PARAMS = load_params(REPO / "params.yaml")
LOCAL_RUN_CORPORA = ("noise", "grid")      # the two quickest to synthesize (~5 s each)
FOREACH_STAGES = ("synth", "ingest", "vocoder-teacher", "vocoder-student")    # of dvc.yaml
TRAINING_TASKS = {f"vocoder-{step}-{system}" for step in ("teacher", "student")
                  for system in ("upw", "sdpw")}


def _read_ir(path: Path) -> dict:
    kfp_components.load_component_from_file(str(path))     # KFP reads it back: valid IR
    return yaml.safe_load(path.read_text())


def _compile(tmp_path: Path, pipeline: str) -> dict:
    out = tmp_path / f"{pipeline}.yaml"
    assert main(["pipeline", "compile", "--pipeline", pipeline, "--out", str(out)]) == 0
    return _read_ir(out)


def _dag_tasks(ir: dict) -> dict[str, dict]:
    """Every task of the pipeline, nested DAGs (the exit handler's, a dsl.If's) included, by
    task key."""
    dags = [ir["root"]["dag"]] + [c["dag"] for c in ir["components"].values() if "dag" in c]
    return {key: task for dag in dags for key, task in dag["tasks"].items()}


def _upstream(ir: dict) -> dict[str, set[str]]:
    """Each task's upstream task keys: its dependentTasks and those of the groups it is in (a
    task inside a dsl.If depends on what the condition reads through the group task)."""
    dags = {"root": ir["root"]["dag"],
            **{name: c["dag"] for name, c in ir["components"].items() if "dag" in c}}
    group_of_dag = {task["componentRef"]["name"]: key for dag in dags.values()
                    for key, task in dag["tasks"].items() if task["componentRef"]["name"] in dags}
    group_of = {key: group_of_dag.get(name) for name, dag in dags.items() for key in dag["tasks"]}
    tasks = _dag_tasks(ir)

    def upstream(key: str | None) -> set[str]:
        return set() if key is None else \
            set(tasks[key].get("dependentTasks", [])) | upstream(group_of[key])

    return {key: upstream(key) for key in tasks}


def _stage_name(display_name: str) -> str:
    """A KFP task's display name as its dvc.yaml stage: `synth-libritts` -> `synth@libritts`,
    `vocoder-teacher-upw` -> `vocoder-teacher@upw` (foreach stages; KFP forbids `@`),
    `vocoder-features` -> `vocoder-features`."""
    for stage in FOREACH_STAGES:
        if display_name.startswith(f"{stage}-"):
            return f"{stage}@{display_name[len(stage) + 1:]}"
    return display_name


def _stage_dag(ir: dict) -> tuple[set[str], set[tuple[str, str]]]:
    """The dvc.yaml stages of a compiled pipeline and its (upstream, downstream) edges between
    them; the tracking tasks (parent MLflow run) and groups are no stages and are left out."""
    tasks, upstream = _dag_tasks(ir), _upstream(ir)
    stage_of = {key: _stage_name(task["taskInfo"]["name"]) for key, task in tasks.items()
                if task["taskInfo"]["name"].startswith(("synth-", "ingest-", "vocoder-"))}
    edges = {(stage_of[up], stage_of[down]) for down in stage_of for up in upstream[down]
             if up in stage_of}
    return set(stage_of.values()), edges


def _resources(ir: dict) -> dict[str, dict]:
    """The container resources of each task that runs a container, by display name."""
    components, executors = ir["components"], ir["deploymentSpec"]["executors"]
    return {task["taskInfo"]["name"]:
            executors[components[task["componentRef"]["name"]]["executorLabel"]]["container"]
            .get("resources", {})
            for task in _dag_tasks(ir).values()
            if "executorLabel" in components[task["componentRef"]["name"]]}


def test_compile_writes_the_ir_of_the_corpora_pipeline(tmp_path):
    ir = _compile(tmp_path, "corpora")
    assert ir["pipelineInfo"]["name"] == "voxflow-corpora"
    tasks = _dag_tasks(ir)
    names = {task["taskInfo"]["name"] for task in tasks.values()}
    assert names == {"start-parent-run", "stages", "end-parent-run", "vocoder-features",
                     *(f"{step}-{corpus}" for step in ("synth", "ingest") for corpus in CORPORA)}
    # every stage nests its MLflow run under the parent run; the exit handler ends it
    for task in tasks.values():
        if task["taskInfo"]["name"].startswith(("synth-", "ingest-", "vocoder-")):
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
    assert json.loads(defaults["vocoder_features_options"]) == PARAMS["vocoder"]["features"]


def test_compile_writes_the_import_variant(tmp_path):
    ir = _compile(tmp_path, "import-corpus")
    importer = ir["deploymentSpec"]["executors"]["exec-importer"]["importer"]
    assert importer["artifactUri"] == {"runtimeParameter": "uri"}
    tasks = _dag_tasks(ir)
    assert tasks["importer"]["inputs"]["parameters"]["uri"] == {
        "componentInputParameter": "pipelinechannel--corpus_uri"}
    assert tasks["ingest"]["inputs"]["artifacts"]["corpus_root"]["taskOutputArtifact"] == {
        "outputArtifactKey": "artifact", "producerTask": "importer"}


def test_compile_writes_the_ir_of_the_vocoder_pipeline(tmp_path):
    ir = _compile(tmp_path, "vocoder")
    assert ir["pipelineInfo"]["name"] == "voxflow-vocoder"
    tasks = _dag_tasks(ir)
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
    # the one vocoder_options configures every vocoder stage, the features with its `features`
    for task in tasks.values():
        if task["taskInfo"]["name"].startswith("vocoder-") and \
                task["taskInfo"]["name"] != "vocoder-promote":
            assert task["inputs"]["parameters"]["options_json"] == {
                "componentInputParameter": "pipelinechannel--vocoder_options"}
    (features,) = (t for t in tasks.values() if t["taskInfo"]["name"] == "vocoder-features")
    assert features["inputs"]["parameters"]["options_key"] == {
        "runtimeValue": {"constant": "features"}}


def test_promote_runs_only_when_the_gate_passed(tmp_path):
    ir = _compile(tmp_path, "vocoder")
    tasks = _dag_tasks(ir)
    key_of = {task["taskInfo"]["name"]: key for key, task in tasks.items()}
    register = ir["components"][tasks[key_of["vocoder-register"]]["componentRef"]["name"]]
    assert register["outputDefinitions"]["parameters"]["gate_passed"]["parameterType"] == \
        "BOOLEAN"
    gate = tasks[key_of["champion-gate"]]
    channel = "pipelinechannel--vocoder-register-gate_passed"
    assert gate["triggerPolicy"]["condition"] == f"inputs.parameter_values['{channel}'] == true"
    assert gate["inputs"]["parameters"][channel]["taskOutputParameter"] == {
        "outputParameterKey": "gate_passed", "producerTask": key_of["vocoder-register"]}
    inside = ir["components"][gate["componentRef"]["name"]]["dag"]["tasks"]
    assert [task["taskInfo"]["name"] for task in inside.values()] == ["vocoder-promote"]


def test_the_training_tasks_request_gpus_but_not_in_the_local_build(tmp_path):
    resources = _resources(_compile(tmp_path, "vocoder"))
    for name, spec in resources.items():
        if name in TRAINING_TASKS:
            assert spec["accelerator"]["resourceType"] == "nvidia.com/gpu"
            assert spec["accelerator"]["resourceCount"] == "1"
            assert spec["resourceCpuRequest"] and spec["resourceMemoryRequest"]
        else:
            assert "accelerator" not in spec
    assert TRAINING_TASKS <= set(resources)

    module = kfp_runner.pipelines_module("vocoder")
    for gpus, count in ((0, None), (4, "4")):
        out = tmp_path / f"gpus-{gpus}.yaml"
        compiler.Compiler().compile(module.build_vocoder_pipeline(gpus=gpus), str(out))
        for name, spec in _resources(_read_ir(out)).items():
            assert spec.get("accelerator", {}).get("resourceCount") == \
                (count if name in TRAINING_TASKS else None)


def test_run_local_builds_the_vocoder_pipeline_without_gpus(tmp_path, monkeypatch):
    """kfp.local cannot give a task a GPU: the local run builds the pipeline with gpus=0 (the
    run itself takes minutes of training, too slow for the suite)."""
    calls = []

    def build(gpus):
        calls.append(gpus)
        return lambda **arguments: calls.append(arguments)

    monkeypatch.setattr(kfp_runner.pipelines_module("vocoder"), "build_vocoder_pipeline", build)
    assert main(["pipeline", "run-local", "--pipeline", "vocoder", "--workdir", str(tmp_path),
                 "--param", "synth_seed=3"]) == 0
    assert calls == [0, {"synth_seed": 3}]
    assert main(["pipeline", "run-local", "--pipeline", "vocoder", "--corpus", "noise"]) == 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning")     # inside dvc
def test_the_kfp_dags_are_the_dvc_dag(tmp_path):
    """Each pipeline has the dvc.yaml stages it runs and every edge of dvc.yaml into them (so
    it runs on its own), and the two together have every stage of dvc.yaml."""
    with Repo(str(REPO)) as repo:
        graph = repo.index.graph                       # edges: stage -> the stage it depends on
        dvc_stages = {s.addressing for s in graph.nodes if isinstance(s, PipelineStage)}
        dvc_edges = {(up.addressing, down.addressing) for down, up in graph.edges}

    corpora_stages, corpora_edges = _stage_dag(_compile(tmp_path, "corpora"))
    vocoder_stages, vocoder_edges = _stage_dag(_compile(tmp_path, "vocoder"))
    assert corpora_edges == {(up, down) for up, down in dvc_edges if down in corpora_stages}
    assert vocoder_edges == {(up, down) for up, down in dvc_edges if down in vocoder_stages}
    assert corpora_stages | vocoder_stages == dvc_stages
    assert len(corpora_stages) == 2 * len(CORPORA) + 1 and len(vocoder_stages) == 10


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


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """MLflow in a tmp SQLite store, for this process and the tasks' subprocesses."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("VOXFLOW_PARENT_RUN_ID", raising=False)
    monkeypatch.setenv("VOXFLOW_PROGRESS", "0")
    monkeypatch.chdir(tmp_path)         # nothing a task writes lands in the repository
    mlflow.set_tracking_uri(uri)
    return uri


@pytest.mark.filterwarnings("ignore:.*non-Python base image",
                            "ignore:.*no effect in the current local runner")
def test_a_local_run_ingests_the_embedded_default(tmp_path, tracking):
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
    kfp_runner.load_pipeline("import-corpus")(
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
def test_a_failed_local_run_marks_its_parent_run_failed(tmp_path, tracking):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))
    with pytest.raises(RuntimeError, match="FAILURE"):
        kfp_runner.load_pipeline("import-corpus")(corpus="grid",
                                                  corpus_uri=str(tmp_path / "missing"))
    runs = {r.info.run_name: r.info.status
            for r in mlflow.search_runs(experiment_names=["voxflow"], output_format="list")}
    assert runs == {"kfp-import-corpus": "FAILED", "ingest@grid": "FAILED"}
