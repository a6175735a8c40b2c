"""params.yaml's avse section: a preset carries the training recipe, params.yaml overrides it."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from voxflow.avse.params import PRESETS, avse_params
from voxflow.stage_io import load_section

SECTION = load_section("avse", Path(__file__).parents[2] / "params.yaml")


def section(**changes) -> dict:
    return {**copy.deepcopy(SECTION), **changes}


def test_the_paper_preset_trains_as_section_3_4():
    """Adam 2e-4, minibatches of 16 whole zero-padded utterances."""
    params = avse_params(section(preset="paper", training={}))
    training = params.training
    assert (training.lr, training.batch_size, training.segment_seconds) == (2e-4, 16, 0.0)


def test_the_paper_preset_builds_crns_sizes():
    config = avse_params(section(preset="paper")).model_config("mhca-avcrn")
    assert config.channels == (16, 32, 64, 128, 256) and config.lstm_layers == 2
    assert config.video_width == 80                  # the whole 80 x 80 crop


def test_a_key_in_params_yaml_overrides_the_preset():
    params = avse_params(section(preset="paper", training={"steps": 7}))
    assert params.training.steps == 7 and params.training.lr == 2e-4


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_parses(preset):
    assert avse_params(section(preset=preset)).preset == preset


def test_every_system_is_a_known_variant():
    with pytest.raises(ValueError, match="unknown variant 'vse'"):
        avse_params(section(systems={"vse": {"variant": "vse"}}))
