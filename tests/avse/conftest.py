"""The AV-SE tests' shared fixture: the stage outputs of the tiny GRID and noise corpora up to
the features, as the DAG makes them."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from voxflow.avse.crops import extract_crops
from voxflow.avse.data import extract_features
from voxflow.avse.mixing import mix_corpus
from voxflow.avse.params import avse_params
from voxflow.ingest import ingest
from voxflow.stage_io import load_section

PARAMS = Path(__file__).parents[2] / "params.yaml"
SECTION = load_section("avse", PARAMS)


@pytest.fixture(scope="session")
def quick():
    """`quick(**training)` -> params.yaml's avse section with a few short training steps (and
    `training` overrides)."""
    def section(**training) -> dict:
        section = copy.deepcopy(SECTION)
        section["threads"] = 1          # `make test`'s two workers share two cores
        section["training"] = {"steps": 4, "batch_size": 4, "segment_seconds": 0.4,
                               "validate_every": 2, "checkpoint_every": 2, "log_every": 1,
                               **training}
        return section
    return section


@pytest.fixture(scope="session")
def avse_data(tiny_corpus, tmp_path_factory):
    """{"mixtures", "features", "crops", "section"} of the tiny corpora split as params.yaml
    says (read only). The tiny GRID has one talker in dev and in test, so only train has
    competing-talker mixtures."""
    work = tmp_path_factory.mktemp("avse")
    options = load_section("ingest", PARAMS)
    for corpus in ("grid", "noise"):
        ingest(corpus, tiny_corpus(corpus), work / f"{corpus}.parquet", **options[corpus])
    section = copy.deepcopy(SECTION)
    section["threads"] = 1
    section["mixing"]["mixtures_per_utterance"] = 2
    params = avse_params(section)
    mix_corpus(work / "grid.parquet", work / "noise.parquet", work / "mixtures.parquet",
               params.mixing)
    extract_crops(work / "grid.parquet", work / "crops", params.crops)
    extract_features(work / "mixtures.parquet", work / "features", params.features)
    return {"mixtures": work / "mixtures.parquet", "features": work / "features",
            "crops": work / "crops", "section": section}
