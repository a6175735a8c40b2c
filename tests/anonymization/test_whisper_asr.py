"""The cascade's Whisper (paper 003 section 2.3) read from a checkpoint file in openai-whisper's
format: a tiny randomly initialised one stands in for medium.en.pt. It transcribes as
openai-whisper's own loader does; other files are refused with their name; the cascade and its
registered model speak what it recognizes."""
from __future__ import annotations

import json
from dataclasses import asdict

import mlflow
import numpy as np
import pytest
import torch
import whisper
from whisper.model import ModelDimensions, Whisper

from voxflow.anonymization.asr import (MODEL_FILE, ASRConfig, CTCRecognizer, Tokenizer,
                                       save_asr)
from voxflow.anonymization.audio import RATE
from voxflow.anonymization.cascade import CascadeAnonymizer, load_cascade
from voxflow.anonymization.pyfunc import CascadeFiles, log_anonymizer
from voxflow.anonymization.whisper_asr import load_whisper
from voxflow.evaluation.transcripts import normalize_text
from voxflow.mlms.params import mlms_params
from voxflow.mlms.training import DURATION_MODEL, find_models
from voxflow.tracking import experiment_id

# openai-whisper's multilingual vocabulary (its tokenizer's), everything else tiny
DIMS = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=16, n_audio_head=2,
                       n_audio_layer=1, n_vocab=51865, n_text_ctx=448, n_text_state=16,
                       n_text_head=2, n_text_layer=1)


def noise(seed: int, seconds: float = 1.0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(
        np.float32)


def write_checkpoint(path, dims: ModelDimensions = DIMS, seed: int = 0):
    torch.manual_seed(seed)
    model = Whisper(dims)
    # openai-whisper leaves it torch.empty (a checkpoint fills it): drawn, so the file is seeded
    torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def whisper_file(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("whisper") / "tiny.pt")


def test_the_checkpoint_transcribes_as_openai_whisper_loads_it(whisper_file):
    waves = [noise(0), noise(1, 2.0)]
    reference = whisper.load_model(str(whisper_file), device="cpu")
    expected = [normalize_text(reference.transcribe(
        wave, language="en", temperature=0.0, condition_on_previous_text=False,
        fp16=False)["text"]) for wave in waves]
    assert all(expected)          # random weights still say something: the comparison tells
    assert load_whisper(whisper_file).transcribe(waves) == expected


def test_other_weights_transcribe_otherwise(whisper_file, tmp_path):
    other = write_checkpoint(tmp_path / "other.pt", seed=1)
    assert load_whisper(other).transcribe([noise(0)]) != load_whisper(whisper_file).transcribe(
        [noise(0)])


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="medium.en.pt"):
        load_whisper(tmp_path / "medium.en.pt")


def test_a_file_of_another_format_is_refused_by_name(tmp_path):
    torch.save({"config": {}, "state": {}}, tmp_path / "asr.pt")
    with pytest.raises(ValueError, match=r"asr\.pt: not an openai-whisper checkpoint"):
        load_whisper(tmp_path / "asr.pt")


def test_weights_that_do_not_fit_their_dims_are_refused(tmp_path):
    saved = {"dims": asdict(DIMS),
             "model_state_dict": Whisper(ModelDimensions(**{**asdict(DIMS), "n_text_state": 8,
                                                            "n_audio_state": 8})).state_dict()}
    torch.save(saved, tmp_path / "mixed.pt")
    with pytest.raises(ValueError, match=r"mixed\.pt: the weights do not fit its dims"):
        load_whisper(tmp_path / "mixed.pt")


def test_the_cascade_speaks_the_whisper_transcript_in_its_voice_vocabulary(whisper_file,
                                                                           mlms_voice):
    language = mlms_voice.languages[0]
    cascade = CascadeAnonymizer(load_whisper(whisper_file).transcribe, mlms_voice, language)
    words = cascade.transcript(noise(0)).split()
    assert words and set(words) <= set(cascade.vocabulary)
    assert cascade.anonymize(noise(0), RATE, np.random.default_rng(0)).std() > 0


@pytest.fixture
def cascade_files(whisper_file, mlms_models, mlms_data, tmp_path) -> CascadeFiles:
    """The cascade's files as the DAG writes them: an (untrained) anon-asr recognizer, the MLMS
    voice and the Whisper file."""
    params = mlms_params(mlms_models["section"])
    models = find_models(mlms_models["dir"])
    save_asr(CTCRecognizer(ASRConfig(conv_channels=8, lstm_cells=8, lstm_layers=1),
                           Tokenizer.from_texts(["a b"], "chars")), tmp_path / MODEL_FILE)
    (tmp_path / "world.json").write_text(json.dumps(asdict(params.world)))
    return CascadeFiles(tmp_path, models[params.evaluation.synthesis_system],
                        models[DURATION_MODEL], mlms_data["linguistic"], tmp_path / "world.json",
                        params.evaluation.postfilter, whisper_file)


def test_the_registered_cascade_transcribes_with_whisper(cascade_files, tracking):
    with mlflow.start_run(experiment_id=experiment_id()):
        uri = log_anonymizer("cascade", 0, cascade=cascade_files)
    files = cascade_files
    expected = load_cascade(files.asr_dir / MODEL_FILE, files.acoustic, files.duration,
                            files.linguistic_dir, files.world_json, files.postfilter,
                            files.whisper).anonymize(noise(0), RATE, np.random.default_rng(3))
    assert expected.std() > 0       # something recognized and spoken
    np.testing.assert_allclose(mlflow.pyfunc.load_model(uri).predict(noise(0),
                                                                     params={"seed": 3}),
                               expected, atol=1e-6)
