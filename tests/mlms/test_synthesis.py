"""Speech from the tiny models: WORLD features from phone features and durations, predicted
durations, and `Voice` from text to a waveform whose length its frames fix."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from voxflow.mlms.synthesis import Voice, generate_features, predict_durations
from voxflow.mlms.world import VUV

SAMPLES_PER_FRAME = 22050 * 0.005          # 5 ms frames at 22.05 kHz


@pytest.fixture(scope="module")
def voice(mlms_voice) -> Voice:
    """The synthesis system's voice with the duration model, the lexicon and WORLD."""
    return mlms_voice


@pytest.fixture(scope="module")
def utterance(voice, mlms_data) -> dict:
    """A dev utterance of the voice's first speaker: its phone features, oracle durations,
    language and speaker."""
    index = pd.read_parquet(mlms_data["linguistic"] / "index.parquet")
    row = index[(index["split"] == "dev") & (index["speaker"] == voice.speakers[0])].iloc[0]
    return {"phones": np.load(mlms_data["linguistic"] / row["phones_path"]),
            "durations": np.load(mlms_data["linguistic"] / row["durations_path"]),
            "language": row["language"], "speaker": row["speaker"]}


def sentence(voice: Voice, language: str, words: int = 3) -> str:
    return " ".join(list(voice.lexicon.pronunciations[language])[:words])


def test_generate_features_gives_a_frame_per_duration_frame_with_binary_vuv(voice, utterance):
    features = generate_features(voice.acoustic, utterance["phones"], utterance["durations"],
                                 utterance["language"], utterance["speaker"])
    assert features.shape == (utterance["durations"].sum(), 49)
    assert features.dtype == np.float32 and np.isfinite(features).all()
    assert set(np.unique(features[:, VUV])) <= {0.0, 1.0}


def test_predict_durations_gives_at_least_one_frame_per_phone(voice, utterance):
    durations = predict_durations(voice.durations, utterance["phones"], utterance["language"],
                                  utterance["speaker"])
    assert durations.shape == (len(utterance["phones"]),)
    assert durations.dtype == np.int64 and durations.min() >= 1


def test_speak_gives_the_waveform_of_its_frames(voice):
    language, speaker = voice.languages[0], voice.speakers[0]
    text = sentence(voice, language)
    frames = len(voice.features(text, language, speaker))
    audio = voice.speak(text, language, speaker)
    assert voice.world.sample_rate == 22050
    assert audio.dtype == np.float32 and np.isfinite(audio).all()
    # WORLD's synthesis of n frames: the last frame's time within the signal
    assert audio.shape == (math.ceil((frames - 1) * SAMPLES_PER_FRAME) + 1,)


@pytest.mark.parametrize("field", ["language", "speaker"])
def test_features_refuse_an_unknown_language_or_speaker_naming_it(voice, field):
    request = {"language": voice.languages[0], "speaker": voice.speakers[0], field: "xx-nobody"}
    with pytest.raises(ValueError, match=f"no {field} 'xx-nobody'"):
        voice.features(sentence(voice, voice.languages[0]), **request)
