"""params.yaml's mlms section: a preset carries the network sizes and the training recipes,
params.yaml overrides them key by key, and bad systems are refused by name."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from voxflow.mlms.params import PRESETS, mlms_params
from voxflow.stage_io import load_section

SECTION = load_section("mlms", Path(__file__).parents[2] / "params.yaml")


def section(**changes) -> dict:
    return {**copy.deepcopy(SECTION), **changes}


def test_the_paper_preset_builds_section_4_1s_towers():
    """256-d ReLU projection, 3 LSTMs of 256 cells with 128-d projections, 6 basis towers."""
    config = mlms_params(section(preset="paper")).model_config
    assert (config.projection_dim, config.lstm_cells, config.lstm_projection,
            config.lstm_layers, config.basis_towers, config.out_dim) == (256, 256, 128, 3, 6, 49)


def test_the_tiny_preset_keeps_a_basis_tower_per_training_language():
    params = mlms_params(section(preset="tiny"))
    training_languages = 8 - len(params.held_out_languages)
    assert params.model_config.basis_towers == training_languages == 6


def test_a_key_in_params_yaml_overrides_the_preset_and_keeps_the_rest():
    params = mlms_params(section(preset="paper", training={"steps": 7}))
    assert params.training.steps == 7
    assert params.training.lr == PRESETS["paper"]["training"]["lr"]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_parses(preset):
    assert mlms_params(section(preset=preset)).preset == preset


def test_an_mlms_system_needs_a_known_code_setup():
    with pytest.raises(ValueError, match="codes 'binary'"):
        mlms_params(section(systems={"x": {"kind": "mlms", "codes": "binary"}}))


def test_an_unknown_adaptation_setup_is_named():
    with pytest.raises(ValueError, match="v5"):
        mlms_params(section(adaptation={"source": "mlms-rand", "setups": ["v1", "v5"]}))


def test_the_adaptation_source_must_be_an_mlms_system():
    with pytest.raises(ValueError, match="'baselines' is not an mlms system"):
        mlms_params(section(adaptation={"source": "baselines", "setups": ["v1"]}))


def test_the_stages_depend_on_the_params_they_read():
    """dvc.yaml reruns a training when its recipe changes."""
    import yaml

    stages = yaml.safe_load((Path(__file__).parents[2] / "dvc.yaml").read_text())["stages"]
    assert {"mlms.preset", "mlms.training", "mlms.systems.${key}"} <= \
        set(stages["mlms-train"]["do"]["params"])
    assert {"mlms.adaptation", "mlms.adaptation_training"} <= set(stages["mlms-adapt"]["params"])
    assert "mlms.duration_training" in stages["mlms-duration"]["params"]


def test_the_limited_data_must_be_at_least_one_utterance():
    with pytest.raises(ValueError, match="train_utterances"):
        mlms_params(section(adaptation={"source": "mlms-rand", "setups": ["v1"],
                                        "train_utterances": 0}))
