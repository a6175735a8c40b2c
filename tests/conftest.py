"""Shared fixtures: the tiny corpora, built once per test session, each on first use; a fresh
MLflow store (per test, or per module for a module-scoped scenario); the MLMS stage outputs of
the tiny MLMS corpus and every kind of MLMS model trained for a few steps (the MLMS tests' and
the cascade's voice)."""
from __future__ import annotations

import copy
import os
from pathlib import Path

# `make test` runs two pytest-xdist workers on two cores: one torch (OpenMP) thread each, set
# before torch loads, and inherited by the stages they start. Two processes of two threads on
# two cores wait on each other's threads at every operator (a small training loop ran 12x slower).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"

import mlflow
import pytest
import torch

from voxflow.ingest import ingest
from voxflow.ingest.manifest import read_manifest
from voxflow.mlms.data import extract_linguistic, read_lexicon, read_spec
from voxflow.mlms.features import extract_features
from voxflow.mlms.params import mlms_params
from voxflow.mlms.synthesis import Voice
from voxflow.mlms.training import (DURATION_MODEL, adapt, find_models, load_model,
                                   train_duration, train_system)
from voxflow.stage_io import load_section
from voxflow.synth.corpora import build_corpus


def pytest_collection_modifyitems(items):
    """The modules of the longest end-to-end tests first (`slow(minutes=...)`), longest first,
    each module's tests kept together: `make test`'s workers (pytest-xdist, one module at a
    time) then start on the two longest and the short tests fill in around them."""
    def minutes(item) -> float:
        marker = item.get_closest_marker("slow")
        return marker.kwargs.get("minutes", 1) if marker else 0

    longest: dict[str, float] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        longest[module] = max(longest.get(module, 0), minutes(item))
    items.sort(key=lambda item: -longest[item.nodeid.split("::")[0]])   # stable


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """A test that sets torch's threads (a stage run in-process takes params.yaml's) leaves the
    process as it found it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """`tiny_corpus("grid")` -> root of the tiny GRID corpus (seed 0), built on first request."""
    out = tmp_path_factory.mktemp("corpora")
    roots: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in roots:
            roots[name] = build_corpus(name, out, size="tiny", seed=0)
        return roots[name]

    return get


def _use_store(folder: Path, patch: pytest.MonkeyPatch) -> str:
    """MLflow in a SQLite store under `folder`, for this process and its subprocesses (no parent
    run, no progress bars); returns its URI."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    patch.setenv("MLFLOW_TRACKING_URI", uri)
    patch.delenv("VOXFLOW_PARENT_RUN_ID", raising=False)
    patch.setenv("VOXFLOW_PROGRESS", "0")
    mlflow.set_tracking_uri(uri)
    return uri


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A fresh MLflow store for one test; returns its URI."""
    return _use_store(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def module_tracking(tmp_path_factory):
    """A fresh MLflow store shared by the tests of one module; returns its URI."""
    with pytest.MonkeyPatch.context() as patch:
        yield _use_store(tmp_path_factory.mktemp("mlflow"), patch)


PARAMS = Path(__file__).parents[1] / "params.yaml"
MLMS_SECTION = load_section("mlms", PARAMS)
MLMS_FEW_STEPS = {"steps": 4, "batch_size": 4, "segment_frames": 50, "validate_every": 2,
                  "checkpoint_every": 2, "log_every": 1}


@pytest.fixture(scope="session")
def quick():
    """`quick(**overrides)` -> params.yaml's mlms section with a few short training steps for
    every model (and top-level `overrides`, e.g. setups)."""
    def section(**overrides) -> dict:
        section = copy.deepcopy(MLMS_SECTION)
        for part in ("training", "adaptation_training", "duration_training"):
            section[part] = dict(MLMS_FEW_STEPS)
        section["duration_training"]["segment_frames"] = 0
        section["evaluation"] = {**section["evaluation"], "utterances": 1,
                                 "bound_utterances": 2, "preference_utterances": 1}
        section.update(overrides)
        return section
    return section


@pytest.fixture(scope="session")
def mlms_data(tiny_corpus, tmp_path_factory):
    """{"manifest", "world", "linguistic"}: the tiny MLMS corpus's manifest, WORLD features and
    linguistic features (read only)."""
    work = tmp_path_factory.mktemp("mlms")
    ingest("mlms", tiny_corpus("mlms"), work / "mlms.parquet",
           **load_section("ingest", PARAMS)["mlms"])
    table, root = read_manifest(work / "mlms.parquet")
    params = mlms_params(MLMS_SECTION)
    extract_features(table.to_pandas(), root, work / "world", params.world)
    extract_linguistic(work / "mlms.parquet", work / "world", work / "linguistic")
    return {"manifest": work / "mlms.parquet", "world": work / "world",
            "linguistic": work / "linguistic"}


@pytest.fixture(scope="session")
def mlms_models(mlms_data, quick, tmp_path_factory):
    """{"dir": the models folder as the DAG lays it out (mlms-rand, baselines, duration,
    adapted), "section": the params used}: every kind of model after a few steps (read only)."""
    models = tmp_path_factory.mktemp("mlms-models")
    section = quick(systems={name: MLMS_SECTION["systems"][name]
                             for name in ("mlms-rand", "baselines")})
    params = mlms_params(section)
    world, linguistic = mlms_data["world"], mlms_data["linguistic"]
    for system in params.systems:
        train_system(params, system, world, linguistic, models / system)
    train_duration(params, linguistic, models / "duration")
    adapt(params, models / params.adaptation.source / "model.pt", world, linguistic,
          models / "adapted")
    return {"dir": models, "section": section}


@pytest.fixture(scope="session")
def mlms_voice(mlms_models, mlms_data) -> Voice:
    """The synthesis system's voice of `mlms_models` with the duration model, the lexicon and
    WORLD."""
    params = mlms_params(mlms_models["section"])
    models = find_models(mlms_models["dir"])
    linguistic = mlms_data["linguistic"]
    return Voice(load_model(models[params.evaluation.synthesis_system]),
                 load_model(models[DURATION_MODEL]), read_lexicon(linguistic),
                 read_spec(linguistic), params.world, params.evaluation.postfilter)
