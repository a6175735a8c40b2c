"""The cascade (paper 003 section 2.3): the transcript in the voice's vocabulary, the round
trip (recognized, spoken, recognized again) and the voice drawn per utterance."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from voxflow.anonymization.asr import ASRConfig, ASRTraining, train_asr, transcribe
from voxflow.anonymization.audio import RATE, resample
from voxflow.anonymization.cascade import CascadeAnonymizer, nearest_word

VOCABULARY = sorted(["brawch", "soon", "we", "zuddhuth"])


def test_a_word_of_the_vocabulary_is_kept():
    assert nearest_word("soon", VOCABULARY) == "soon"


def test_an_unknown_word_becomes_the_nearest_in_characters():
    assert nearest_word("brawh", VOCABULARY) == "brawch"
    assert nearest_word("zudhuth", VOCABULARY) == "zuddhuth"


def test_a_tie_goes_to_the_first_word_in_sorted_order():
    assert nearest_word("ab", ["ax", "ay"]) == "ax"


def test_an_empty_vocabulary_is_refused():
    with pytest.raises(ValueError, match="vocabulary is empty"):
        nearest_word("we", [])


def _speak(voice, text: str, language: str, speaker: str) -> np.ndarray:
    return resample(voice.speak(text, language, speaker), voice.world.sample_rate, RATE)


@pytest.fixture(scope="module")
def round_trip(mlms_voice, tmp_path_factory):
    """{"cascade", "recognizer", "language", "words"}: the tiny MLMS voice (a few training
    steps: its speech is not speech, but each phone sounds its own way) and a word recognizer
    trained on that voice's utterances of three of its words, by every voice of its pool (the
    untrained voice does not separate words in a sentence clearly enough for a recognizer of
    seconds)."""
    language = mlms_voice.languages[0]
    lexicon = sorted(mlms_voice.lexicon.pronunciations[language])
    words = [lexicon[0], lexicon[len(lexicon) // 2], lexicon[-1]]     # far apart in spelling
    rng = np.random.default_rng(0)
    texts = [str(rng.choice(words)) for _ in range(48)]
    waves = [_speak(mlms_voice, text, language, mlms_voice.speakers[i % len(mlms_voice.speakers)])
             for i, text in enumerate(texts)]
    recognizer = train_asr(
        waves, texts, tmp_path_factory.mktemp("recognizer"),
        ASRConfig(tokens="words", subsampling=4, conv_channels=32, lstm_cells=32,
                  lstm_layers=1, dropout=0.0),
        ASRTraining(steps=800, batch_size=8, lr=5e-3, grad_clip=5.0, validate_every=0,
                    checkpoint_every=1000, log_every=50), seed=0)
    return {"cascade": CascadeAnonymizer(partial(transcribe, recognizer), mlms_voice, language),
            "recognizer": recognizer, "language": language, "words": words}


@pytest.mark.parametrize("index", range(3))
def test_the_recognized_text_is_spoken_and_recognized_again(round_trip, index):
    cascade, language = round_trip["cascade"], round_trip["language"]
    text = round_trip["words"][index]
    source = _speak(cascade.voice, text, language, cascade.pool[-1])
    assert cascade.transcript(source) == text
    for seed in range(3):
        spoken = cascade.anonymize(source, RATE, np.random.default_rng(seed))
        assert transcribe(round_trip["recognizer"], [spoken]) == [text]


def test_the_voice_is_drawn_from_the_pool_by_the_random_state(round_trip):
    cascade, language = round_trip["cascade"], round_trip["language"]
    source = _speak(cascade.voice, round_trip["words"][0], language, cascade.pool[0])
    outputs = {seed: cascade.anonymize(source, RATE, np.random.default_rng(seed))
               for seed in range(8)}
    assert np.array_equal(outputs[0], cascade.anonymize(source, RATE,
                                                        np.random.default_rng(0)))
    assert len({out.tobytes() for out in outputs.values()}) > 1
