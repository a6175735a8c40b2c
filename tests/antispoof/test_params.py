"""params.yaml's antispoof section: a preset carries the GMM and training recipe, params.yaml
overrides it key by key."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from voxflow.antispoof.params import PRESETS, antispoof_params
from voxflow.antispoof.systems import backbone_config
from voxflow.stage_io import load_section

ROOT = Path(__file__).parents[2]
SECTION = load_section("antispoof", ROOT / "params.yaml")


def section(**changes) -> dict:
    return {**copy.deepcopy(SECTION), **changes}


def test_the_paper_preset_trains_as_the_siamese_paper():
    """Section 4: minibatches of 64, 50 pairs, margin 2, 50 embedding and 10 classifier epochs."""
    training = antispoof_params(section(preset="paper", training={})).training
    assert (training.batch_size, training.pairs, training.margin) == (64, 50, 2.0)
    assert (training.epochs, training.classifier_epochs) == (50, 10)


def test_the_paper_preset_has_the_organisers_gmms():
    """The ASVspoof 2019 baselines: 512 components, fitted on every training frame."""
    gmm = antispoof_params(section(preset="paper", gmm={"frontends": ["lfcc"], "seed": 0})).gmm
    assert (gmm.components, gmm.max_frames) == (512, None)


def test_the_paper_preset_builds_512_dimensional_embeddings():
    assert backbone_config("paper").embedding_dim == 512


def test_a_key_in_params_yaml_overrides_the_preset():
    params = antispoof_params(section(preset="paper", training={"epochs": 3, "threads": 1}))
    assert (params.training.epochs, params.training.threads) == (3, 1)
    assert params.training.classifier_epochs == 10     # the rest stays the preset's


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_parses(preset):
    assert antispoof_params(section(preset=preset)).preset == preset


def test_an_unknown_preset_is_an_error():
    with pytest.raises(ValueError, match="antispoof.preset"):
        antispoof_params(section(preset="huge"))


@pytest.mark.parametrize("stage", ["antispoof-gmm", "antispoof-train"])
def test_the_stages_that_read_the_preset_depend_on_it(stage):
    """dvc repro reruns them when the preset changes."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert "antispoof.preset" in stages[stage]["do"]["params"]
