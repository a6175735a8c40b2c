"""Adding a system is adding its own files and one line in `voxflow.systems`: in a copy of the
working tree, a stub system appears in `voxflow stage`, in the pipelines registry and in the
DAG test, and `dvc repro` runs its stage, with no other system's file edited."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
STUB = {
    "src/voxflow/stub/__init__.py": '"""A stub system: counts the noise manifest\'s rows."""\n',
    "src/voxflow/stub/stages.py": '''
from pathlib import Path

import pyarrow.parquet as pq

from voxflow.stage_io import write_metrics
from voxflow.tracking import stage_run


def features(manifest: Path, metrics_path: Path, section: dict) -> dict:
    with stage_run("stub-features", section, inputs=[Path(manifest)]):
        metrics = {"rows": pq.read_metadata(manifest).num_rows * section["scale"]}
        write_metrics(Path(metrics_path), metrics)
    return metrics
''',
    "src/voxflow/stub/cli.py": '''
from pathlib import Path

from voxflow.stage_io import load_section


def _features(args):
    from voxflow.stub import stages

    stages.features(args.manifest, args.metrics, load_section("stub", args.params))


def add_stages(stage):
    features = stage.add_parser("stub-features", help="count the rows of a manifest")
    features.add_argument("manifest", type=Path)
    features.add_argument("--metrics", type=Path, required=True)
    features.set_defaults(func=_features)
    return [features]
''',
    "components/stub.py": '''
from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def stub_features(manifest: Input[Dataset], options_json: str, metrics: Output[Metrics],
                  mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    import json
    from pathlib import Path

    from voxflow.stub import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    stages.features(Path(manifest.path), Path(metrics.path), json.loads(options_json))
''',
    "pipelines/stub.py": '''
from kfp import dsl

from components.stub import stub_features
from pipelines.common import (SYNTH_DEFAULTS, corpus_tasks, ingest_default, parent_run,
                              section_default)


def build(gpus: int = 1):
    @dsl.pipeline(name="voxflow-stub")
    def stub_pipeline(synth_size: str = SYNTH_DEFAULTS["synth_size"],
                      synth_seed: int = SYNTH_DEFAULTS["synth_seed"],
                      synth_workers: int = SYNTH_DEFAULTS["synth_workers"],
                      ingest_noise: str = ingest_default("noise"),
                      stub_options: str = section_default("stub"),
                      mlflow_tracking_uri: str = ""):
        with parent_run("kfp-stub", mlflow_tracking_uri) as tracking:
            _, ingest_task = corpus_tasks("noise", synth_size, synth_seed, synth_workers,
                                          ingest_noise, tracking)
            stub_features(manifest=ingest_task.outputs["manifest"], options_json=stub_options,
                          **tracking).set_display_name("stub-features")

    return stub_pipeline


PIPELINES = {"stub": build}
''',
}
DVC_STAGE = '''
  stub-features:
    cmd: voxflow stage stub-features data/manifests/noise.parquet --metrics metrics/stub.json
    deps:
      - data/manifests/noise.parquet
      - src/voxflow/stub
    params:
      - stub
    metrics:
      - metrics/stub.json:
          cache: false
'''
KEEP = ("src", "components", "pipelines", "tests", "dvc.yaml", "params.yaml", "pyproject.toml",
        ".dvc", ".dvcignore", ".gitignore")


@pytest.fixture(scope="module")
def stub_tree(tmp_path_factory):
    """The working tree with the stub system added: its files, its params.yaml section, its
    dvc.yaml stage and its line in the registry."""
    tree = tmp_path_factory.mktemp("stub") / "voxflow"
    for name in KEEP:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns(
                "__pycache__", "cache", "tmp", "*.egg-info"))
        else:
            shutil.copy(source, tree / name)
    for path, text in STUB.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_text(text.lstrip())
    with open(tree / "params.yaml", "a") as params:
        params.write("\nstub:\n  scale: 2\n")
    with open(tree / "dvc.yaml", "a") as dvc:
        dvc.write(DVC_STAGE)
    systems = tree / "src" / "voxflow" / "systems.py"
    text = systems.read_text()
    end = text.index("\n)\n", text.index("SYSTEMS = ("))       # the tuple's closing line
    systems.write_text(f'{text[:end]}\n    "stub",{text[end:]}')
    subprocess.run(["git", "init", "-q"], cwd=tree, check=True)
    return tree


def _run(tree: Path, *command: str) -> subprocess.CompletedProcess:
    """`command` in the stub tree with its own voxflow first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "VOXFLOW_PROGRESS": "0",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)


def test_the_stub_adds_only_its_own_files_and_a_registry_line(stub_tree):
    """Of the code, only systems.py differs from the working tree, by one added line."""
    changed = {}
    for folder in ("src", "components", "pipelines"):
        for path in (stub_tree / folder).rglob("*.py"):
            relative = path.relative_to(stub_tree)
            if (REPO / relative).is_file():
                ours, theirs = (REPO / relative).read_text(), path.read_text()
                if ours != theirs:
                    changed[relative.as_posix()] = (ours.splitlines(), theirs.splitlines())
            else:
                assert relative.as_posix() in STUB, relative
    assert list(changed) == ["src/voxflow/systems.py"]
    before, after = changed["src/voxflow/systems.py"]
    assert len(after) == len(before) + 1 and set(before) < set(after)


def test_the_stub_appears_in_voxflow_stage(stub_tree):
    result = _run(stub_tree, sys.executable, "-m", "voxflow", "stage", "--help")
    assert result.returncode == 0 and "stub-features" in result.stdout, result.stderr


def test_the_stub_appears_in_the_pipelines_registry(stub_tree):
    result = _run(stub_tree, sys.executable, "-c", "from voxflow import kfp_runner; "
                  "print(' '.join(kfp_runner.pipelines()))")
    assert result.returncode == 0 and "stub" in result.stdout.split(), result.stderr


def test_the_stub_is_in_the_dag_test_and_passes(stub_tree):
    result = _run(stub_tree, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "-rA", "tests/pipelines/test_dag.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED tests/pipelines/test_dag.py::test_a_systems_pipeline_is_its_part_of_the_" \
           "dvc_dag[stub]" in result.stdout


def test_dvc_repro_runs_the_stub_stage(stub_tree):
    result = _run(stub_tree, str(Path(sys.executable).parent / "dvc"), "repro", "stub-features")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Running stage 'stub-features'" in result.stdout
    assert (stub_tree / "metrics" / "stub.json").read_text().split() == ["{", '"rows":', "96", "}"]
