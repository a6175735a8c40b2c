"""Cascaded ASR-TTS anonymization (paper 003 section 2.3, table 1 ID 4): the source utterance
is transcribed, and the transcript spoken by a voice drawn at random per utterance.

The paper cascades Whisper medium-en and a VITS voice of 904 LibriTTS speakers; voxflow
cascades its own models:
- the recognizer: the evaluation's CTC recognizer (`voxflow.anonymization.asr`, `anon-asr`,
  trained on the original LibriTTS training speakers), greedy decoding; or, at paper size,
  Whisper read from a local checkpoint file (`voxflow.anonymization.whisper_asr`,
  params.yaml's `cascade.whisper`);
- the voice: the registered multilingual acoustic model (`models:/voxflow-mlms`, paper 002),
  its duration model and WORLD (`voxflow.mlms.synthesis.Voice`). The pool of voices is every
  speaker the acoustic model has a code for, each speaking the source's language (the
  LibriTTS language, `en-us`), cross-lingually for the speakers of the other languages, which
  the model is built for: as many voices as the model can offer (10 on the embedded default).

The voice speaks only words of its lexicon (the MLMS training alignments' words; voxflow has no
letter-to-sound rules). A recognized word outside it becomes the lexicon word nearest in
characters (Levenshtein distance, ties to the first in sorted order), as a recognizer decoding
with that vocabulary would have written it. The prosody is the voice's own (predicted durations
and F0): of the source only the words survive, which is what the cascade is for.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from rapidfuzz import distance, process

from voxflow.anonymization.audio import RATE, resample

LANGUAGE = "en-us"      # the synthetic LibriTTS's language (voxflow.synth.languages)

# 16 kHz waveforms -> their normalised transcripts, one each
Transcriber = Callable[[Sequence[np.ndarray]], list[str]]


def nearest_word(word: str, vocabulary: list[str]) -> str:
    """The word of `vocabulary` nearest to `word` in characters (Levenshtein distance, ties to
    the first): `word` itself when the vocabulary has it (the only one at distance 0)."""
    if not vocabulary:
        raise ValueError("the vocabulary is empty")
    match, _, _ = process.extractOne(word, vocabulary, scorer=distance.Levenshtein.distance)
    return match


class CascadeAnonymizer:
    """Recognizer -> transcript in the voice's vocabulary -> a random voice of the pool."""

    def __init__(self, transcribe: Transcriber, voice, language: str = LANGUAGE):
        """transcribe: the recognizer (`load_transcriber`); voice: a
        `voxflow.mlms.synthesis.Voice` with `language` in its lexicon."""
        words = voice.lexicon.pronunciations.get(language)
        if not words:
            raise ValueError(f"the voice's lexicon has no {language!r} words (it has "
                             f"{', '.join(voice.lexicon.pronunciations)})")
        if language not in voice.languages:
            raise ValueError(f"the voice's acoustic model has no language {language!r} (it has "
                             f"{', '.join(voice.languages)})")
        self.transcribe, self.voice, self.language = transcribe, voice, language
        self.vocabulary = sorted(words)
        self.pool = list(voice.speakers)

    def transcript(self, waveform: np.ndarray) -> str:
        """The 16 kHz waveform's words as the voice will say them ('' when none recognized)."""
        return " ".join(nearest_word(word, self.vocabulary)
                        for word in self.transcribe([waveform])[0].split())

    def anonymize(self, waveform: np.ndarray, rate: int, rng: np.random.Generator,
                  speaker: str | None = None) -> np.ndarray:
        """(samples,) at `rate` -> (samples',) float32 16 kHz: the transcript spoken by a voice
        drawn from `rng`. `speaker` plays no part (the pool is the TTS model's, not the
        source corpus's). Where the recognizer finds no word there is nothing to say: silence
        as long as the source."""
        source = resample(waveform, rate, RATE)
        text = self.transcript(source)
        if not text:
            return np.zeros_like(source)
        drawn = self.pool[int(rng.integers(len(self.pool)))]
        audio = self.voice.speak(text, self.language, drawn)
        return resample(audio, self.voice.world.sample_rate, RATE)


def load_transcriber(asr_file: Path, whisper_file: Path | None = None) -> Transcriber:
    """Whisper from `whisper_file` (an openai-whisper checkpoint) where one is given, else the
    CTC recognizer `voxflow.anonymization.asr.save_asr` wrote to `asr_file`."""
    from voxflow.anonymization.asr import load_asr, transcribe
    from voxflow.anonymization.whisper_asr import load_whisper

    if whisper_file is not None:
        return load_whisper(Path(whisper_file)).transcribe
    return partial(transcribe, load_asr(Path(asr_file)))


def load_cascade(asr_file: Path, acoustic_file: Path, duration_file: Path,
                 linguistic_dir: Path, world_file: Path, postfilter: bool,
                 whisper_file: Path | None = None) -> CascadeAnonymizer:
    """The cascade from the files the DAGs write: the recognizer (`load_transcriber`: anon-asr's
    asr.pt, or a Whisper checkpoint file) and the MLMS voice: an acoustic and the duration model
    (model.pt of `voxflow.mlms.training`), the linguistic folder (its lexicon and phone spec)
    and the WORLD config (world.json of the mlms-features stage) they were trained on."""
    from voxflow.mlms.data import read_lexicon, read_spec
    from voxflow.mlms.synthesis import Voice
    from voxflow.mlms.training import load_model
    from voxflow.mlms.world import WorldConfig
    from voxflow.stage_io import parse, read_json

    voice = Voice(load_model(Path(acoustic_file)), load_model(Path(duration_file)),
                  read_lexicon(Path(linguistic_dir)), read_spec(Path(linguistic_dir)),
                  parse(WorldConfig, read_json(Path(world_file)), str(world_file)), postfilter)
    return CascadeAnonymizer(load_transcriber(asr_file, whisper_file), voice)
