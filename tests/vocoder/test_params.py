"""params.yaml's vocoder section: a preset carries the training recipe, params.yaml overrides
it key by key; the model stages take torch's threads from it."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from voxflow.stage_io import load_section
from voxflow.vocoder.params import PRESETS, vocoder_params
from voxflow.vocoder.stages import _stage_params
from voxflow.vocoder.training import vocoder_config

SECTION = load_section("vocoder", Path(__file__).parents[2] / "params.yaml")


def section(**changes) -> dict:
    return {**copy.deepcopy(SECTION), **changes}


def test_the_paper_preset_trains_as_the_upw_paper():
    """Section 3.1: teacher batch 64 x 0.3625 s, student 16 x 0.85 s, Adam 1e-4; KL 1, power
    loss 1 and no mel loss (Parallel WaveNet's objective)."""
    params = vocoder_params(section(preset="paper", teacher={}, student={}))
    assert (params.teacher.batch_size, params.teacher.segment_seconds, params.teacher.lr) == \
        (64, 0.3625, 1e-4)
    assert (params.student.batch_size, params.student.segment_seconds, params.student.lr) == \
        (16, 0.85, 1e-4)
    assert (params.student.kl_weight, params.student.power_weight,
            params.student.mel_weight) == (1.0, 1.0, 0.0)


def test_the_paper_preset_builds_the_paper_architecture():
    config = vocoder_config(vocoder_params(section(preset="paper")), "upw")
    assert (config.teacher.layers, config.teacher.residual_channels) == (24, 128)
    assert config.student.flows == (10, 10, 10, 30)


def test_a_key_in_params_yaml_overrides_the_preset():
    params = vocoder_params(section(preset="paper", student={"steps": 7, "mel_weight": 0.5}))
    assert (params.student.steps, params.student.mel_weight) == (7, 0.5)
    assert params.student.lr == 1e-4           # the rest stays the preset's


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_parses(preset):
    assert vocoder_params(section(preset=preset)).preset == preset


def test_switching_the_preset_changes_the_training():
    tiny, paper = (vocoder_params(section(preset=p)) for p in ("tiny", "paper"))
    assert tiny.teacher != paper.teacher and tiny.student != paper.student


def test_an_unknown_teacher_gate_action_is_an_error():
    with pytest.raises(ValueError, match="teacher_gate.on_fail"):
        vocoder_params(section(teacher_gate={"on_fail": "ignore"}))


@pytest.mark.parametrize("threads", [1, 3, 0])
def test_the_model_stages_run_on_the_threads_of_params_yaml(threads):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        _stage_params(section(threads=threads))
        assert torch.get_num_threads() == (threads or 2)        # 0 keeps torch's
    finally:
        torch.set_num_threads(before)
