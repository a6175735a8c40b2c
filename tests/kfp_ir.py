"""Reading compiled KFP pipelines (IR YAML) back as dvc.yaml stages and edges, for the tests
that compare the two DAGs."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from dvc.repo import Repo
from dvc.stage import PipelineStage
from kfp import components as kfp_components

from voxflow.cli import main

# tasks that are no stage of dvc.yaml: the parent MLflow run's, the exit handler and gate groups
NOT_STAGES = {"start-parent-run", "end-parent-run", "stages", "champion-gate"}


def read_ir(path: Path) -> dict:
    kfp_components.load_component_from_file(str(path))     # KFP reads it back: valid IR
    return yaml.safe_load(path.read_text())


def compile_ir(tmp_path: Path, pipeline: str) -> dict:
    """`voxflow pipeline compile --pipeline <pipeline>`, read back."""
    out = tmp_path / f"{pipeline}.yaml"
    assert main(["pipeline", "compile", "--pipeline", pipeline, "--out", str(out)]) == 0
    return read_ir(out)


def dvc_dag(repo_root: Path) -> tuple[set[str], set[tuple[str, str]], set[str]]:
    """dvc.yaml's stages, its (upstream, downstream) edges and the names of its foreach
    stages, from DVC's own graph."""
    with Repo(str(repo_root)) as repo:
        graph = repo.index.graph                       # edges: stage -> the stage it depends on
        stages = {s.addressing for s in graph.nodes if isinstance(s, PipelineStage)}
        edges = {(up.addressing, down.addressing) for down, up in graph.edges}
    foreach = {name.split("@")[0] for name in stages if "@" in name}
    return stages, edges, foreach


def dag_tasks(ir: dict) -> dict[str, dict]:
    """Every task of the pipeline, nested DAGs (the exit handler's, a dsl.If's) included, by
    task key."""
    dags = [ir["root"]["dag"]] + [c["dag"] for c in ir["components"].values() if "dag" in c]
    return {key: task for dag in dags for key, task in dag["tasks"].items()}


def upstream_tasks(ir: dict) -> dict[str, set[str]]:
    """Each task's upstream task keys: its dependentTasks and those of the groups it is in (a
    task inside a dsl.If depends on what the condition reads through the group task)."""
    dags = {"root": ir["root"]["dag"],
            **{name: c["dag"] for name, c in ir["components"].items() if "dag" in c}}
    group_of_dag = {task["componentRef"]["name"]: key for dag in dags.values()
                    for key, task in dag["tasks"].items() if task["componentRef"]["name"] in dags}
    group_of = {key: group_of_dag.get(name) for name, dag in dags.items() for key in dag["tasks"]}
    tasks = dag_tasks(ir)

    def upstream(key: str | None) -> set[str]:
        return set() if key is None else \
            set(tasks[key].get("dependentTasks", [])) | upstream(group_of[key])

    return {key: upstream(key) for key in tasks}


def stage_name(display_name: str, foreach: set[str]) -> str:
    """A KFP task's display name as its dvc.yaml stage: `synth-libritts` -> `synth@libritts`,
    `vocoder-teacher-upw` -> `vocoder-teacher@upw` (foreach stages; KFP forbids `@`),
    `vocoder-features` -> `vocoder-features`."""
    for stage in sorted(foreach, key=len, reverse=True):
        if display_name.startswith(f"{stage}-"):
            return f"{stage}@{display_name[len(stage) + 1:]}"
    return display_name


def loops(ir: dict) -> dict[str, tuple[list[str], list]]:
    """Each dsl.ParallelFor group task: (the task keys inside it, its items)."""
    dags = {name: c["dag"] for name, c in ir["components"].items() if "dag" in c}
    return {key: (list(dags[task["componentRef"]["name"]]["tasks"]),
                  json.loads(task["parameterIterator"]["items"]["raw"]))
            for key, task in dag_tasks(ir).items() if "parameterIterator" in task}


def stage_dag(ir: dict, repo_root: Path) -> tuple[set[str], set[tuple[str, str]]]:
    """The dvc.yaml stages of a compiled pipeline and its (upstream, downstream) edges between
    them; the tracking tasks (parent MLflow run) and groups are no stages and are left out. A
    task inside a dsl.ParallelFor is one stage per item, `<display name>@<item>` (dvc.yaml's
    foreach), and a task reading the loop's dsl.Collected output depends on the loop group.
    Every other task maps to a stage name, so that a task dvc.yaml lacks shows as a difference."""
    foreach = dvc_dag(repo_root)[2]
    tasks, upstream, groups = dag_tasks(ir), upstream_tasks(ir), loops(ir)
    item_of = {inner: items for inner_keys, items in groups.values() for inner in inner_keys}
    stages_of = {}
    for key, task in tasks.items():
        name = task["taskInfo"]["name"]
        if name in NOT_STAGES or key in groups:
            continue
        stages_of[key] = ({f"{name}@{item}" for item in item_of[key]} if key in item_of
                          else {stage_name(name, foreach)})
    for key, (inner_keys, _) in groups.items():
        stages_of[key] = set().union(*(stages_of.get(inner, set()) for inner in inner_keys))
    stage_tasks = [key for key in stages_of if key not in groups]
    edges = {(up_stage, down_stage) for down in stage_tasks for up in upstream[down]
             if up in stages_of for up_stage in stages_of[up] for down_stage in stages_of[down]}
    return set().union(*(stages_of[key] for key in stage_tasks)), edges


def resources(ir: dict) -> dict[str, dict]:
    """The container resources of each task that runs a container, by display name."""
    components, executors = ir["components"], ir["deploymentSpec"]["executors"]
    return {task["taskInfo"]["name"]:
            executors[components[task["componentRef"]["name"]]["executorLabel"]]["container"]
            .get("resources", {})
            for task in dag_tasks(ir).values()
            if "executorLabel" in components[task["componentRef"]["name"]]}


def pipeline_stage_runs(pipeline: str) -> set[str]:
    """The run names of the stages of the one pipeline run tagged `voxflow.pipeline` =
    `pipeline` in the current MLflow store, after checking that the parent run finished."""
    import mlflow

    runs = mlflow.search_runs(experiment_names=["voxflow"], output_format="list")
    (parent,) = (r for r in runs if r.data.tags.get("voxflow.pipeline") == pipeline)
    assert parent.info.status == "FINISHED"
    return {r.info.run_name for r in runs
            if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
