"""Every system's KFP pipeline has exactly the dvc.yaml stages it runs and every edge of dvc.yaml
into them (so it runs on its own), and the systems' pipelines together have every stage of
dvc.yaml; parametrized over the registry of systems (`voxflow.systems`)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from kfp_ir import compile_ir, dvc_dag, stage_dag
from voxflow import kfp_runner
from voxflow.systems import SYSTEMS, cli_module

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")     # inside dvc


@pytest.fixture(scope="module")
def dvc():
    return dvc_dag(REPO)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Each system's pipeline, compiled by `voxflow pipeline compile`, as (stages, edges)."""
    out = tmp_path_factory.mktemp("ir")
    return {system: stage_dag(compile_ir(out, system), REPO) for system in SYSTEMS}


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_systems_pipeline_is_its_part_of_the_dvc_dag(system, compiled, dvc):
    stages, edges = compiled[system]
    dvc_stages, dvc_edges, _ = dvc
    assert stages and stages <= dvc_stages, stages - dvc_stages
    assert edges == {(up, down) for up, down in dvc_edges if down in stages}


def test_the_pipelines_together_are_the_whole_dvc_dag(compiled, dvc):
    assert set().union(*(stages for stages, _ in compiled.values())) == dvc[0]


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_system_registers_its_stages_and_its_pipeline(system):
    assert callable(cli_module(system).add_stages)
    assert system in kfp_runner.pipelines()


def test_the_registry_records_stay_out_of_git():
    """The register and promote stages' outputs describe the local MLflow store, which git does
    not hold: were they in git, a fresh clone's `dvc repro` would find them up to date and
    register nothing in its new store."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    records = [next(iter(out)) if isinstance(out, dict) else out
               for name, stage in stages.items() if name.endswith(("-register", "-promote"))
               for kind in ("outs", "metrics") for out in stage.get(kind, [])]
    assert len(records) >= 9     # a record per register and promote stage of every system
    tracked = subprocess.run(["git", "ls-files", *records], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    assert not tracked, tracked
