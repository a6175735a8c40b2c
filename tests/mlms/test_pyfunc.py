"""The MLMS voice as the registered pyfunc `models:/voxflow-mlms@champion`: registered by the
mlms-register stage through the champion gate, loaded back from a real MLflow store, speaking
text like the `Voice` it was logged from, refusing what it cannot say; and the consumer
example."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from mlflow.exceptions import MlflowException

from voxflow import stages as shared_stages
from voxflow.mlms import stages
from voxflow.mlms.data import read_lexicon, read_spec
from voxflow.mlms.lexicon import UnknownWord
from voxflow.mlms.linguistic import phone_features
from voxflow.mlms.params import mlms_params
from voxflow.mlms.synthesis import Voice, predict_durations
from voxflow.mlms.training import DURATION_MODEL, find_models, load_model

REPO = Path(__file__).parents[2]
NAME, CHAMPION = "voxflow-mlms", "models:/voxflow-mlms@champion"
GATE = "dev/mse_training_languages"
SAMPLES_PER_FRAME = 22050 * 0.005          # 5 ms frames at 22.05 kHz


def register(mlms_models, mlms_data, folder: Path, mse: float) -> dict:
    """The mlms-register stage on the tiny models with evaluation metrics written by hand."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evaluation.json").write_text(json.dumps({GATE: mse, "dev/mcd": 9.0,
                                                        "bound/mcd_mean": 3.0}))
    return stages.register(mlms_models["dir"], mlms_data["linguistic"],
                           folder / "evaluation.json", folder / "candidate.json",
                           mlms_models["section"])


@pytest.fixture(scope="module")
def registered(mlms_models, mlms_data, module_tracking, tmp_path_factory) -> dict:
    """The voice registered by the stage and promoted to @champion: {"work", "decision"}."""
    work = tmp_path_factory.mktemp("mlms-register")
    decision = register(mlms_models, mlms_data, work, 1.0)
    shared_stages.promote("mlms", work / "candidate.json", work / "champion.json")
    return {"work": work, "decision": decision}


@pytest.fixture(scope="module")
def voice(mlms_models, mlms_data) -> Voice:
    """The voice the stage logged, built from the same files."""
    params = mlms_params(mlms_models["section"])
    models = find_models(mlms_models["dir"])
    return Voice(load_model(models[params.evaluation.synthesis_system]),
                 load_model(models[DURATION_MODEL]), read_lexicon(mlms_data["linguistic"]),
                 read_spec(mlms_data["linguistic"]), params.world, params.evaluation.postfilter)


@pytest.fixture(scope="module")
def champion(registered):
    return mlflow.pyfunc.load_model(CHAMPION)


@pytest.fixture(scope="module")
def sentence(voice) -> dict:
    """Three lexicon words of the voice's first language, by its last speaker."""
    language = voice.languages[0]
    return {"text": " ".join(list(voice.lexicon.pronunciations[language])[:3]),
            "language": language, "speaker": voice.speakers[-1]}


def test_the_stage_registers_a_candidate_that_passes_and_a_worse_one_that_does_not(
        registered, mlms_models, mlms_data, tmp_path):
    decision = registered["decision"]
    assert decision["model_name"] == NAME and decision["gate_passed"]
    version = mlflow.MlflowClient().get_model_version(NAME, decision["version"])
    assert "candidate" in version.aliases and float(version.tags[GATE]) == 1.0
    # the MSE gate: lower is better
    worse = register(mlms_models, mlms_data, tmp_path, 1.5)
    assert worse["version"] != decision["version"] and not worse["gate_passed"]


def test_the_champion_lists_its_voices(champion, voice):
    assert champion.metadata.metadata == {"sample_rate": 22050, "languages": voice.languages,
                                          "speakers": voice.speakers}


def test_the_champion_speaks_like_the_voice_for_its_predicted_durations(champion, voice,
                                                                       sentence):
    audio = champion.predict(sentence)
    assert audio.dtype == np.float32 and np.isfinite(audio).all() and np.abs(audio).max() > 0
    phones = phone_features(voice.lexicon.segments_for_text(sentence["text"],
                                                            sentence["language"]), voice.spec)
    frames = predict_durations(voice.durations, phones, sentence["language"],
                               sentence["speaker"]).sum()
    assert audio.shape == (math.ceil((frames - 1) * SAMPLES_PER_FRAME) + 1,)
    np.testing.assert_array_equal(audio, voice.speak(**sentence))


def test_a_one_row_dataframe_is_the_same_request(champion, sentence):
    np.testing.assert_array_equal(champion.predict(pd.DataFrame([sentence])),
                                  champion.predict(sentence))


def test_an_unknown_word_is_an_error_naming_it(champion, sentence):
    with pytest.raises(UnknownWord, match="'qqxyzzy' is not in the"):
        champion.predict({**sentence, "text": f"{sentence['text']} qqxyzzy"})


@pytest.mark.parametrize("field", ["language", "speaker"])
def test_an_unknown_language_or_speaker_is_an_error_naming_it(champion, sentence, field):
    with pytest.raises(ValueError, match=f"the voice has no {field} 'xx-nobody'; it has"):
        champion.predict({**sentence, field: "xx-nobody"})


def test_a_request_without_a_field_is_refused_by_the_signature(champion, sentence):
    with pytest.raises(MlflowException, match=r"missing inputs \['speaker'\]"):
        champion.predict({"text": sentence["text"], "language": sentence["language"]})


@pytest.mark.parametrize("bad, message", [
    ({"text": "a", "language": "b"}, "got 1 rows with columns text, language"),
    (pd.DataFrame({"text": ["a", "b"], "language": ["c", "c"], "speaker": ["d", "d"]}),
     "got 2 rows"),
    ({"text": 3, "language": "b", "speaker": "c"}, "text: expected a string, got int64"),
    (np.zeros(3), "got ndarray"),
])
def test_the_python_model_refuses_a_malformed_request(champion, bad, message):
    with pytest.raises(ValueError, match=message):
        champion.unwrap_python_model().predict(None, bad)


def test_the_example_speaks_two_languages_with_the_champion(registered, voice, tmp_path,
                                                            module_tracking):
    spec = importlib.util.spec_from_file_location(
        "speak_with_champion", REPO / "examples" / "speak_with_champion.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(["--out-dir", str(tmp_path), "--words", "2", "--tracking-uri", module_tracking])
    speaker = voice.speakers[0]
    for language in voice.languages[:2]:
        info = sf.info(tmp_path / f"{speaker}_{language}.wav")
        assert info.samplerate == 22050 and info.frames > 0
    assert len(list(tmp_path.glob("*.wav"))) == 2
