"""Miniature GRID audio-visual corpus in the layout of its Zenodo release.

Every talker s1..sK reads fixed-grammar sentences (command colour preposition letter digit
adverb) of exactly 3 s: a 25 kHz wav, a word alignment in 1/25000 s units and a 25 fps MPEG-1
video of a talking face whose mouth follows the synthesizer's articulation, so audio and video
agree frame by frame. The utterance id spells each word's first letter, digits as numerals
(`bbaf2n` = "bin blue at f two now"). As in the real alignments, a short pause inside a
sentence is marked `sp`, and `sil` pads the start and the end.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voxflow.parallel import run_parallel
from voxflow.synth.corpora.common import (check_size, corpus_dir, item_rng,
                                          write_audio, write_text)
from voxflow.synth.engine import Interval, synthesize
from voxflow.synth.face import FaceStyle, render_frames, sample_face, write_video
from voxflow.synth.languages import ENGLISH, GRID_WORDS
from voxflow.synth.voice import Speaker, sample_speaker

SAMPLE_RATE = 25000
DURATION = 3.0                  # seconds, every sentence
ALIGN_UNITS = 25000             # .align time units per second (1000 per video frame)
GRAMMAR = ("command", "color", "preposition", "letter", "digit", "adverb")
PAUSE_PROBABILITY = 0.3         # share of sentences with an `sp` pause between two words


@dataclass(frozen=True)
class GridSize:
    speakers: int
    sentences_per_speaker: int


SIZES = {
    "tiny": GridSize(4, 6),
    "small": GridSize(8, 20),
    "medium": GridSize(16, 60),
}


@dataclass(frozen=True)
class _Job:
    root: Path
    speaker: Speaker
    face: FaceStyle
    utt_id: str
    words: tuple[str, ...]
    corpus_seed: int


def build(out_dir: Path, size: str = "tiny", seed: int = 0, workers: int | None = None) -> Path:
    spec = SIZES[check_size(size)]
    root = corpus_dir(out_dir, "grid")
    jobs, looks = [], set()
    for number in range(1, spec.speakers + 1):
        name = f"s{number}"
        gender = "M" if number % 2 else "F"
        speaker = sample_speaker(item_rng(seed, "grid", "speaker", name), name, gender)
        # redraw until the colours differ from every earlier talker's, so faces tell them apart
        face_rng = item_rng(seed, "grid", "face", name)
        face = sample_face(face_rng, gender)
        while (face.skin, face.hair, face.background) in looks:
            face = sample_face(face_rng, gender)
        looks.add((face.skin, face.hair, face.background))
        sentences = _sentences(item_rng(seed, "grid", "sentences", name),
                               spec.sentences_per_speaker)
        jobs += [_Job(root, speaker, face, utt_id, words, seed)
                 for utt_id, words in sentences.items()]
    run_parallel(_render, jobs, "GRID", workers)
    return root


def _sentences(rng, count: int) -> dict[str, tuple[str, ...]]:
    """`count` distinct grammatical sentences, by utterance id."""
    sentences: dict[str, tuple[str, ...]] = {}
    while len(sentences) < count:
        words = tuple(GRID_WORDS[slot][rng.integers(len(GRID_WORDS[slot]))] for slot in GRAMMAR)
        sentences.setdefault(_utterance_id(words), words)
    return sentences


def _utterance_id(words: tuple[str, ...]) -> str:
    digits = GRID_WORDS["digit"]
    return "".join(str(digits.index(w)) if w in digits else w[0] for w in words)


def _render(job: _Job) -> None:
    """Synthesize one sentence and write its wav, alignment and video."""
    talker = job.speaker.id
    rng = item_rng(job.corpus_seed, "grid", talker, job.utt_id)
    lexicon = [ENGLISH.lexicon[w] for w in job.words]
    if rng.random() < PAUSE_PROBABILITY:
        split = int(rng.integers(1, len(lexicon)))
        phrases = [lexicon[:split], lexicon[split:]]
    else:
        phrases = [lexicon]
    utterance = synthesize(phrases, job.speaker, ENGLISH, int(rng.integers(2**63)), SAMPLE_RATE,
                           total_duration=DURATION, level_db=float(rng.uniform(-2, 2)))
    write_audio(job.root / "audio_25k" / talker / f"{job.utt_id}.wav", utterance.audio,
                SAMPLE_RATE)
    write_text(job.root / "alignments" / talker / f"{job.utt_id}.align",
               _alignment(utterance.words))
    write_video(job.root / talker / f"{job.utt_id}.mpg",
                render_frames(job.face, utterance.articulation, rng))


def _alignment(words: tuple[Interval, ...]) -> list[str]:
    """`start end word` lines in 1/25000 s covering the whole sentence, gaps as sil or sp."""
    lines, position = [], 0
    for word in words:
        start, end = round(word.start * ALIGN_UNITS), round(word.end * ALIGN_UNITS)
        if start > position:
            lines.append(f"{position} {start} {'sil' if position == 0 else 'sp'}")
        lines.append(f"{start} {end} {word.label}")
        position = end
    lines.append(f"{position} {round(DURATION * ALIGN_UNITS)} sil")
    return lines
