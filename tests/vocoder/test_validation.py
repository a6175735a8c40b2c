"""What guards a distillation: the teacher gate, the student's starting level and the
utterances held out of training for the seen-speaker test set."""
from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import torch

from voxflow.stage_io import load_section
from voxflow.vocoder.models import ParallelWaveNetStudent, VocoderConfig
from voxflow.vocoder.mixture import logistic_noise
from voxflow.vocoder.params import TeacherGate, vocoder_params
from voxflow.vocoder.training import seen_speaker_utterances, segment_sampler
from voxflow.vocoder.validation import check_teacher

SECTION = load_section("vocoder", Path(__file__).parents[2] / "params.yaml")
VOICED = {"step": 10, "nll": 3.0, "mcd": 5.0, "vuv_error": 0.1, "f0_rmse": 20.0}
NOISE = {**VOICED, "vuv_error": 0.7}


def test_a_voiced_teacher_passes_the_gate():
    assert check_teacher([NOISE, VOICED], TeacherGate(0.4, 8.0, "error"), Path("t.pt"))


def test_a_noise_teacher_is_refused():
    with pytest.raises(ValueError, match="vuv_error 0.700 > 0.4"):
        check_teacher([VOICED, NOISE], TeacherGate(0.4, 8.0, "error"), Path("t.pt"))


def test_a_noise_teacher_is_distilled_only_with_a_loud_warning(caplog):
    with caplog.at_level(logging.ERROR):
        assert not check_teacher([NOISE], TeacherGate(0.4, 8.0, "warn"), Path("t.pt"))
    assert "FAILS ITS GATE" in caplog.text


def test_a_nan_measurement_fails_the_gate():
    with pytest.raises(ValueError, match="mcd nan"):
        check_teacher([{**VOICED, "mcd": float("nan")}], TeacherGate(0.4, 8.0, "error"),
                      Path("t.pt"))


def test_the_untrained_student_starts_at_the_speech_level():
    torch.manual_seed(0)
    student = ParallelWaveNetStudent(VocoderConfig.tiny(audio_encoder=False))
    student.set_output_level(0.05)
    mel = torch.randn(1, 40, 80)
    cond, _ = student.conditioning(mel)
    z = logistic_noise((1, 40 * 300), torch.Generator().manual_seed(0))
    with torch.no_grad():
        audio = student(z, cond).audio
    assert audio.std() == pytest.approx(0.05, rel=0.1)


def test_seen_speaker_utterances_are_held_out_of_every_training(features):
    params = vocoder_params(copy.deepcopy(SECTION))
    held_out = seen_speaker_utterances(params, features)
    assert len(held_out) == params.evaluation.seen_speaker_utterances
    for system in params.systems:
        sampler = segment_sampler(features, params, system, params.teacher)
        drawn = {Path(str(m.filename)).name.removesuffix(".mel.npy") for m in sampler.mels}
        assert drawn and not drawn & set(held_out), system
