"""Miniature multilingual multi-speaker TTS corpus (the MLMS paper): LJSpeech metadata, MFA
TextGrids.

As in the paper's data, six training languages have one female professional speaker each, and
the two English ones a male speaker as well; the two held-out adaptation languages (Polish-like,
Brazilian-Portuguese-like) have one female speaker each and far fewer utterances. Every
utterance has a 22.05 kHz wav, a metadata.csv row (`id|text|normalized_text`) and a TextGrid
whose "words" and "phones" tiers are the synthesizer's own alignments, silences left empty.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxflow.parallel import run_parallel
from voxflow.synth.corpora.common import (check_size, corpus_dir, item_rng, item_seed,
                                          write_audio, write_text)
from voxflow.synth.engine import synthesize
from voxflow.synth.languages import HELD_OUT_LANGUAGES, LANGUAGES, TRAINING_LANGUAGES, Word
from voxflow.synth.textgrid import tile, write_textgrid
from voxflow.synth.voice import Speaker, sample_speaker

SAMPLE_RATE = 22050
MALE_SPEAKER_LANGUAGES = ("en-us", "en-gb")
WORDS_PER_UTTERANCE = (5, 13)       # drawn uniformly, upper bound excluded


@dataclass(frozen=True)
class MlmsSize:
    training_utterances: int        # per speaker of a training language
    held_out_utterances: int        # per speaker of a held-out language


SIZES = {
    "tiny": MlmsSize(12, 6),
    "small": MlmsSize(48, 24),
    "medium": MlmsSize(180, 90),
}


@dataclass(frozen=True)
class _Job:
    speaker_dir: Path
    utt_id: str
    phrases: list[list[Word]]
    speaker: Speaker
    language: str
    seed: int


def build(out_dir: Path, size: str = "tiny", seed: int = 0, workers: int | None = None) -> Path:
    spec = SIZES[check_size(size)]
    root = corpus_dir(out_dir, "mlms")
    speaker_rows, jobs = [], []
    for language in (*TRAINING_LANGUAGES, *HELD_OUT_LANGUAGES):
        count = (spec.training_utterances if language in TRAINING_LANGUAGES
                 else spec.held_out_utterances)
        genders = ("F", "M") if language in MALE_SPEAKER_LANGUAGES else ("F",)
        for gender in genders:
            speaker_id = f"{language}_{gender.lower()}1"
            speaker = sample_speaker(item_rng(seed, "mlms", "speaker", speaker_id), speaker_id,
                                     gender)
            speaker_dir = root / language / speaker_id
            speaker_jobs = [_job(seed, speaker_dir, f"{speaker_id}_{k:04d}", speaker, language)
                            for k in range(1, count + 1)]
            write_text(speaker_dir / "metadata.csv",
                       [f"{job.utt_id}|{'|'.join(_texts(job.phrases))}" for job in speaker_jobs])
            speaker_rows.append(f"{speaker_id}\t{language}\t{gender}")
            jobs += speaker_jobs
    write_text(root / "speakers.tsv", ["speaker\tlanguage\tgender", *speaker_rows])
    run_parallel(_render, jobs, "MLMS", workers)
    return root


def _job(seed: int, speaker_dir: Path, utt_id: str, speaker: Speaker, language: str) -> _Job:
    rng = item_rng(seed, "mlms", utt_id)
    phrases = LANGUAGES[language].sample_sentence(rng, int(rng.integers(*WORDS_PER_UTTERANCE)))
    return _Job(speaker_dir, utt_id, phrases, speaker, language,
                item_seed(seed, "mlms", "audio", utt_id))


def _texts(phrases: list[list[Word]]) -> tuple[str, str]:
    """(text, normalized_text): written with capital, commas and full stop; normalized is the
    lower-case words alone, which is what the TextGrid's words tier holds."""
    words = [w.text for phrase in phrases for w in phrase]
    written = ", ".join(" ".join(w.text for w in phrase) for phrase in phrases)
    return written[0].upper() + written[1:] + ".", " ".join(words)


def _render(job: _Job) -> None:
    """Synthesize one utterance; write its wav and its TextGrid."""
    # professional recordings: a steady level from one utterance to the next
    level = float(np.random.default_rng(job.seed).uniform(-1.5, 1.5))
    utterance = synthesize(job.phrases, job.speaker, LANGUAGES[job.language], job.seed,
                           SAMPLE_RATE, level_db=level)
    write_audio(job.speaker_dir / "wavs" / f"{job.utt_id}.wav", utterance.audio, SAMPLE_RATE)
    # the alignments end where the plan ends, within half a sample of the wav's duration
    end = utterance.plan.duration
    tiers = {"words": tile(utterance.words, 0.0, end),
             "phones": tile(utterance.phones, 0.0, end, silences=("sil",))}
    write_textgrid(job.speaker_dir / "alignments" / f"{job.utt_id}.TextGrid", tiers, 0.0, end)
