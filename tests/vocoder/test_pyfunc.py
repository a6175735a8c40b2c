"""The student vocoder as the registered pyfunc `models:/voxflow-upw-vocoder@champion`: logged,
registered, promoted and loaded back from a real MLflow store, and the consumer example."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import soundfile as sf
import torch
from mlflow.exceptions import MlflowException

from voxflow.features.logmel import LogMelConfig
from voxflow.registry import promote_if_not_worse, register
from voxflow.tracking import experiment_id
from voxflow.vocoder.models import ParallelWaveNetStudent, VocoderConfig, WaveNetTeacher
from voxflow.vocoder.pyfunc import log_vocoder

NAME, CHAMPION = "voxflow-upw-vocoder", "models:/voxflow-upw-vocoder@champion"
FRAMES = 12


def tiny_student() -> ParallelWaveNetStudent:
    torch.manual_seed(0)
    student = ParallelWaveNetStudent.from_teacher(WaveNetTeacher(VocoderConfig.tiny()))
    for flow in student.flows:     # flows start as the identity: make the output depend on them
        torch.nn.init.normal_(flow.output.weight, std=0.1)
    return student.eval()


@pytest.fixture
def champion(tracking):
    """The tiny random student logged, registered and promoted; returns it (in memory)."""
    student = tiny_student()
    with mlflow.start_run(experiment_id=experiment_id()):     # artifacts beside the test store
        uri = log_vocoder(student, student.config, LogMelConfig())
    version = register(uri, NAME, {"test_pesq": 1.0})
    assert promote_if_not_worse(NAME, version, "test_pesq")
    return student


def synthesize(student, mel: np.ndarray, seed: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    return student.synthesize(torch.from_numpy(mel), generator=generator).numpy()


def test_champion_vocodes_like_the_student_it_was_logged_from(champion):
    model = mlflow.pyfunc.load_model(CHAMPION)
    inputs = model.metadata.get_input_schema().inputs[0]
    assert inputs.shape == (-1, 80) and inputs.type == np.dtype("float32")
    assert model.metadata.metadata["mel_config"] == LogMelConfig().as_dict()

    mel = np.random.default_rng(0).normal(-4.0, 2.0, (2, FRAMES, 80)).astype(np.float32)
    audio = model.predict(mel[0])
    assert audio.shape == (FRAMES * 300,) and audio.dtype == np.float32
    assert np.isfinite(audio).all()
    np.testing.assert_array_equal(audio, synthesize(champion, mel[:1], 0)[0])
    np.testing.assert_array_equal(model.predict(mel[0], params={"seed": 0}), audio)
    seeded = model.predict(mel[0], params={"seed": 7})
    np.testing.assert_array_equal(seeded, synthesize(champion, mel[:1], 7)[0])
    assert not np.array_equal(seeded, audio)

    # a batch: the signature is one utterance's (frames, 80), so MLflow's schema check refuses
    # 3-D input; the python model itself takes it
    vocoder = model.unwrap_python_model()
    batch = vocoder.predict(None, mel, params={"seed": 0})
    assert batch.shape == (2, FRAMES * 300) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, synthesize(champion, mel, 0))


def test_champion_loads_where_voxflow_is_not_installed(champion, tmp_path):
    script = f"""
import sys
sys.path = [p for p in sys.path if not p.rstrip("/").endswith("src")]
import importlib.util, mlflow, numpy as np
assert importlib.util.find_spec("voxflow") is None
audio = mlflow.pyfunc.load_model("{CHAMPION}").predict(np.zeros(({FRAMES}, 80), np.float32))
print(audio.shape, "voxflow from", sys.modules["voxflow"].__file__)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"({FRAMES * 300},) voxflow from" in done.stdout and "/code/voxflow" in done.stdout


@pytest.mark.parametrize("bad, message", [
    (np.zeros((FRAMES, 40), np.float32), r"shape \(frames, 80\)"),
    (np.zeros(FRAMES * 80, np.float32), r"shape \(frames, 80\)"),
    (np.zeros((0, 80), np.float32), r"frames >= 1"),
    (np.zeros((FRAMES, 80)), r"expected a float32 log-mel, got float64"),
    (np.full((FRAMES, 80), np.nan, np.float32), r"NaN or infinite"),
])
def test_bad_input_is_refused_with_a_clear_error(bad, message):
    # the python model's own checks, without a store
    from voxflow.vocoder.pyfunc import VocoderPyfunc
    vocoder = VocoderPyfunc()
    vocoder.config = VocoderConfig.tiny()
    with pytest.raises(ValueError, match=message):
        vocoder.predict(None, bad)


def test_loaded_champion_refuses_bad_input(champion):
    model = mlflow.pyfunc.load_model(CHAMPION)
    for bad in (np.zeros((FRAMES, 40), np.float32), np.zeros(FRAMES * 80, np.float32)):
        with pytest.raises(MlflowException, match=r"does not match expected shape \(-1, 80\)"):
            model.predict(bad)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict(np.full((FRAMES, 80), np.nan, np.float32))


def test_example_vocodes_a_wav_with_the_champion(champion, tracking, tmp_path):
    spec = importlib.util.spec_from_file_location(
        "vocode_with_champion",
        Path(__file__).parents[2] / "examples" / "vocode_with_champion.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    t = np.arange(int(0.25 * 16000)) / 16000                  # 0.25 s at 16 kHz: resampled
    sf.write(tmp_path / "in.wav", 0.3 * np.sin(2 * np.pi * 200 * t), 16000)
    example.main(["--wav", str(tmp_path / "in.wav"), "--out", str(tmp_path / "out.wav"),
                  "--tracking-uri", tracking])
    audio, rate = sf.read(tmp_path / "out.wav")
    assert rate == 24000 and len(audio) == 20 * 300          # 6000 samples at 24 kHz: 20 frames
    np.save(tmp_path / "mel.npy", np.zeros((FRAMES, 80), np.float32))
    example.main(["--mel", str(tmp_path / "mel.npy"), "--out", str(tmp_path / "mel.wav")])
    assert sf.info(tmp_path / "mel.wav").frames == FRAMES * 300
