"""The MLMS tests' shared fixtures: the stage outputs of the tiny MLMS corpus up to the
linguistic features, as the DAG makes them, and every kind of model trained for a few steps."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from voxflow.ingest import ingest
from voxflow.mlms.data import extract_linguistic
from voxflow.mlms.features import extract_features
from voxflow.mlms.params import mlms_params
from voxflow.mlms.training import adapt, train_duration, train_system
from voxflow.ingest.manifest import read_manifest
from voxflow.stage_io import load_section

PARAMS = Path(__file__).parents[2] / "params.yaml"
SECTION = load_section("mlms", PARAMS)
FEW_STEPS = {"steps": 4, "batch_size": 4, "segment_frames": 50, "validate_every": 2,
             "checkpoint_every": 2, "log_every": 1}


@pytest.fixture(scope="session")
def quick():
    """`quick(**overrides)` -> params.yaml's mlms section with a few short training steps for
    every model (and top-level `overrides`, e.g. setups)."""
    def section(**overrides) -> dict:
        section = copy.deepcopy(SECTION)
        for part in ("training", "adaptation_training", "duration_training"):
            section[part] = dict(FEW_STEPS)
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
    params = mlms_params(SECTION)
    extract_features(table.to_pandas(), root, work / "world", params.world)
    extract_linguistic(work / "mlms.parquet", work / "world", work / "linguistic")
    return {"manifest": work / "mlms.parquet", "world": work / "world",
            "linguistic": work / "linguistic"}


@pytest.fixture(scope="session")
def mlms_models(mlms_data, quick, tmp_path_factory):
    """{"dir": the models folder as the DAG lays it out (mlms-rand, baselines, duration,
    adapted), "section": the params used}: every kind of model after a few steps (read only)."""
    models = tmp_path_factory.mktemp("mlms-models")
    section = quick(systems={name: SECTION["systems"][name]
                             for name in ("mlms-rand", "baselines")})
    params = mlms_params(section)
    world, linguistic = mlms_data["world"], mlms_data["linguistic"]
    for system in params.systems:
        train_system(params, system, world, linguistic, models / system)
    train_duration(params, linguistic, models / "duration")
    adapt(params, models / params.adaptation.source / "model.pt", world, linguistic,
          models / "adapted")
    return {"dir": models, "section": section}
