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
FOREACH_STAGES = ("synth", "ingest", "vocoder-teacher", "vocoder-student",    # of dvc.yaml
                  "antispoof-features", "antispoof-gmm", "antispoof-siamese")
STAGE_PREFIXES = ("synth-", "ingest-", "vocoder-", "antispoof-")
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


def _loops(ir: dict) -> dict[str, tuple[list[str], list]]:
    """Each dsl.ParallelFor group task: (the task keys inside it, its items)."""
    dags = {name: c["dag"] for name, c in ir["components"].items() if "dag" in c}
    return {key: (list(dags[task["componentRef"]["name"]]["tasks"]),
                  json.loads(task["parameterIterator"]["items"]["raw"]))
            for key, task in _dag_tasks(ir).items() if "parameterIterator" in task}


def _stage_dag(ir: dict) -> tuple[set[str], set[tuple[str, str]]]:
    """The dvc.yaml stages of a compiled pipeline and its (upstream, downstream) edges between
    them; the tracking tasks (parent MLflow run) and groups are no stages and are left out. A
    task inside a dsl.ParallelFor is one stage per item, `<display name>@<item>` (dvc.yaml's
    foreach), and a task reading the loop's dsl.Collected output depends on the loop group."""
    tasks, upstream, loops = _dag_tasks(ir), _upstream(ir), _loops(ir)
    item_of = {inner: items for inner_keys, items in loops.values() for inner in inner_keys}
    stages_of = {}
    for key, task in tasks.items():
        name = task["taskInfo"]["name"]
        if name.startswith(STAGE_PREFIXES):
            stages_of[key] = ({f"{name}@{item}" for item in item_of[key]} if key in item_of
                              else {_stage_name(name)})
    for key, (inner_keys, _) in loops.items():
        stages_of[key] = set().union(*(stages_of.get(inner, set()) for inner in inner_keys))
    stage_tasks = [key for key in stages_of if key not in loops]
    edges = {(up_stage, down_stage) for down in stage_tasks for up in upstream[down]
             if up in stages_of for up_stage in stages_of[up] for down_stage in stages_of[down]}
    return set().union(*(stages_of[key] for key in stage_tasks)), edges


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
    """kfp.local cannot give a task a GPU: the local run builds the pipeline with gpus=0."""
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
    antispoof_stages, antispoof_edges = _stage_dag(_compile(tmp_path, "antispoof"))
    assert corpora_edges == {(up, down) for up, down in dvc_edges if down in corpora_stages}
    assert vocoder_edges == {(up, down) for up, down in dvc_edges if down in vocoder_stages}
    assert antispoof_edges == {(up, down) for up, down in dvc_edges if down in antispoof_stages}
    assert corpora_stages | vocoder_stages | antispoof_stages == dvc_stages
    assert len(corpora_stages) == 2 * len(CORPORA) + 1 and len(vocoder_stages) == 10
    antispoof = PARAMS["antispoof"]
    # synth, ingest, features and GMMs per front-end, the systems, evaluate, register, promote
    assert len(antispoof_stages) == 2 + len(antispoof["frontends"]) + 2 + \
        len(antispoof["systems"]) + 3


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


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*non-Python base image",
                            "ignore:.*no effect in the current local runner")
def test_a_local_run_of_the_vocoder_pipeline(tmp_path, tracking):
    """kfp.local runs the whole vocoder DAG, with a few training steps and a short evaluation:
    every stage's task, the registration and, the registry being empty, the promotion."""
    import copy

    options = copy.deepcopy(PARAMS["vocoder"])
    for part in ("teacher", "student"):
        options[part].update(steps=2, batch_size=2, segment_seconds=0.05, checkpoint_every=1,
                             log_every=1)
    options["student"].update(n_fft=256, hop_length=64)
    options["evaluation"].update(utterances=2, max_seconds=0.5)     # BS.1770 needs 0.4 s
    options["registry"]["model_name"] = "kfp-vocoder-test"
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
    outcome = json.loads((outputs / "vocoder-promote" / "outcome").read_text())
    assert outcome["promoted"] is True
    client = mlflow.MlflowClient()
    assert client.get_model_version_by_alias("kfp-vocoder-test", "champion").version == \
        int(decision["version"])

    runs = mlflow.search_runs(experiment_names=["voxflow"], output_format="list")
    (parent,) = (r for r in runs if r.data.tags.get("voxflow.pipeline") == "kfp-vocoder")
    assert parent.info.status == "FINISHED"
    stages = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") ==
              parent.info.run_id}
    assert stages == {"synth@libritts", "ingest@libritts", "vocoder-features",
                      "vocoder-teacher@upw", "vocoder-teacher@sdpw", "vocoder-student@upw",
                      "vocoder-student@sdpw", "vocoder-evaluate", "vocoder-register",
                      "vocoder-promote"}


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


def test_compile_writes_the_ir_of_the_antispoof_pipeline(tmp_path):
    ir = _compile(tmp_path, "antispoof")
    assert ir["pipelineInfo"]["name"] == "voxflow-antispoof"
    tasks = _dag_tasks(ir)
    names = {task["taskInfo"]["name"] for task in tasks.values()}
    antispoof = PARAMS["antispoof"]
    assert names == {"start-parent-run", "stages", "end-parent-run", "champion-gate",
                     "synth-asvspoof", "ingest-asvspoof", "antispoof-siamese",
                     *(f"antispoof-features-{f}" for f in antispoof["frontends"]),
                     "antispoof-gmm-lfcc", "antispoof-gmm-cqcc", "antispoof-evaluate",
                     "antispoof-register", "antispoof-promote",
                     *(f"systems-{f}" for f in antispoof["frontends"])}
    defaults = {name: spec.get("defaultValue")
                for name, spec in ir["root"]["inputDefinitions"]["parameters"].items()}
    assert json.loads(defaults["antispoof_options"]) == antispoof
    assert json.loads(defaults["ingest_asvspoof"]) == PARAMS["ingest"]["asvspoof"]
    # one ParallelFor per front-end over its systems of params.yaml, fanned in by the evaluation
    loops = {tasks[key]["taskInfo"]["name"]: items for key, (_, items) in _loops(ir).items()}
    assert loops == {f"systems-{f}": [n for n, s in antispoof["systems"].items()
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


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*non-Python base image",
                            "ignore:.*no effect in the current local runner")
def test_a_local_run_of_the_antispoof_pipeline(tmp_path, tracking):
    """kfp.local runs the whole antispoof DAG (ParallelFor loops and their dsl.Collected fan-in
    included) at a reduced size, about 2 min on two cores, the gate and promotion included."""
    import copy

    options = copy.deepcopy(PARAMS["antispoof"])
    options["workers"] = 2
    options["frontends"]["cqcc"] = {"bins_per_octave": 24}     # a 4x smaller CQT
    options["frames"] = {"lfcc": 60, "cqcc": 60, "ssl": 30}
    options["gmm"].update(components=4, max_iter=20)
    options["training"].update(batch_size=16, pairs=20, epochs=2, classifier_epochs=2,
                               checkpoint_every=10, log_every=5)
    options["registry"]["model_name"] = "kfp-antispoof-test"
    assert main(["pipeline", "run-local", "--pipeline", "antispoof", "--workdir",
                 str(tmp_path / "kfp"), "--param",
                 f"antispoof_options={json.dumps(options)}"]) == 0

    (outputs,) = (tmp_path / "kfp").glob("voxflow-antispoof-*")
    report = outputs / "antispoof-evaluate" / "report"
    metrics = json.loads((report / "evaluation.json").read_text())
    systems = ["lfcc-gmm", "cqcc-gmm", *options["systems"]]
    assert {f"{s}/eval/eer" for s in systems} <= set(metrics)
    assert "RANDOM INITIALISATION" in (report / "report.md").read_text()
    decision = json.loads((outputs / "antispoof-register" / "decision").read_text())
    assert decision["gate_passed"] is True and decision["system"] in options["systems"]
    assert decision["value"] == metrics[f"{decision['system']}/eval/eer"]
    version = mlflow.MlflowClient().get_model_version_by_alias("kfp-antispoof-test", "candidate")
    assert str(version.version) == decision["version"]
    assert json.loads((outputs / "antispoof-promote" / "outcome").read_text())["promoted"] is True
    champion = mlflow.MlflowClient().get_model_version_by_alias("kfp-antispoof-test", "champion")
    assert champion.version == version.version

    runs = mlflow.search_runs(experiment_names=["voxflow"], output_format="list")
    (parent,) = (r for r in runs if r.data.tags.get("voxflow.pipeline") == "kfp-antispoof")
    assert parent.info.status == "FINISHED"
    stages = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") ==
              parent.info.run_id}
    assert {f"antispoof-siamese@{s}" for s in options["systems"]} | {
        "synth@asvspoof", "ingest@asvspoof", "antispoof-evaluate", "antispoof-register",
        *(f"antispoof-features@{f}" for f in options["frontends"]),
        "antispoof-gmm@lfcc", "antispoof-gmm@cqcc"} <= stages
