"""Miniature LibriTTS: subsets with disjoint readers, chapters, transcripts, 24 kHz wav.

As in the real release, trans.tsv lists only the utterances kept in the corpus, while book.tsv
lists every sentence of the chapter; a few wav files (with their text files) are not in
trans.tsv, and ingestion must leave them out.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxflow.parallel import run_parallel
from voxflow.synth import portable
from voxflow.synth.corpora.common import (check_size, corpus_dir, item_rng, item_seed,
                                          write_audio, write_text)
from voxflow.synth.engine import synthesize
from voxflow.synth.languages import ENGLISH, GRID_WORDS, Word
from voxflow.synth.voice import Speaker, sample_speaker

SAMPLE_RATE = 24000
SUBSETS = ("train-clean-100", "dev-clean", "test-clean")


@dataclass(frozen=True)
class LibriTTSSize:
    speakers: dict[str, int]        # subset -> readers
    chapters_per_speaker: int
    utterances_per_chapter: int
    unlisted_every: int             # one extra wav outside trans.tsv every N chapters


SIZES = {
    "tiny": LibriTTSSize({"train-clean-100": 8, "dev-clean": 2, "test-clean": 2}, 2, 6, 3),
    "small": LibriTTSSize({"train-clean-100": 20, "dev-clean": 4, "test-clean": 4}, 2, 15, 3),
    "medium": LibriTTSSize({"train-clean-100": 40, "dev-clean": 8, "test-clean": 8}, 3, 25, 3),
    # the anonymization DAG's: 8 readers per gender in dev-clean and in test-clean (the VPC's
    # libri-{dev,test}-{f,m} trial subsets), few utterances each
    "vpc": LibriTTSSize({"train-clean-100": 24, "dev-clean": 16, "test-clean": 16}, 1, 8, 3),
    # the same roles at the least that makes trials (2 readers per gender and subset): the
    # anonymization DAG's wiring test
    "vpc-tiny": LibriTTSSize({"train-clean-100": 4, "dev-clean": 4, "test-clean": 4}, 1, 4, 3),
}

_DIGITS = {w: str(i) for i, w in enumerate(GRID_WORDS["digit"])}


@dataclass(frozen=True)
class _Job:
    path: Path
    phrases: list[list[Word]]
    speaker: Speaker
    seed: int
    noise_db: float             # noise floor relative to the speech peak, for book.tsv's SNR


def build(out_dir: Path, size: str = "tiny", seed: int = 0, workers: int | None = None) -> Path:
    spec = SIZES[check_size(size, SIZES)]
    root = corpus_dir(out_dir, "libritts")
    rng = item_rng(seed, "libritts", "layout")
    total_readers = sum(spec.speakers.values())
    reader_ids = sorted(rng.choice(np.arange(14, 9000), total_readers, replace=False).tolist())
    rng.shuffle(reader_ids)

    speakers_rows, chapters_rows, jobs = [], [], []
    for subset in SUBSETS:
        for _ in range(spec.speakers[subset]):
            reader = int(reader_ids.pop())
            gender = "F" if len(speakers_rows) % 2 == 0 else "M"
            speaker = sample_speaker(item_rng(seed, "libritts", "speaker", reader), str(reader),
                                     gender)
            for c in range(spec.chapters_per_speaker):
                chapter = int(item_rng(seed, "libritts", "chapter", reader, c).integers(10**5, 10**6))
                book = int(item_rng(seed, "libritts", "book", reader, c).integers(100, 60000))
                chapter_dir = root / subset / str(reader) / str(chapter)
                listed = spec.utterances_per_chapter
                unlisted = 1 if (len(chapters_rows) % spec.unlisted_every == 0) else 0
                chapter_jobs = _chapter_jobs(seed, reader, chapter, speaker, chapter_dir,
                                             listed + unlisted)
                _write_chapter_texts(chapter_dir, reader, chapter, chapter_jobs, listed)
                jobs += chapter_jobs
                chapters_rows.append((chapter, reader, subset, book))
            speakers_rows.append((reader, gender, subset))

    seconds = run_parallel(_render, jobs, "LibriTTS", workers)
    minutes: dict[int, float] = {}
    for job, s in zip(jobs, seconds):
        reader, chapter = map(int, job.path.stem.split("_")[:2])
        minutes[reader] = minutes.get(reader, 0.0) + s / 60
        minutes[chapter] = minutes.get(chapter, 0.0) + s / 60
    _write_metadata(root, speakers_rows, chapters_rows, minutes)
    return root


def _chapter_jobs(seed, reader, chapter, speaker, chapter_dir, count) -> list[_Job]:
    jobs = []
    for k in range(count):
        utt_id = f"{reader}_{chapter}_{k // 3:06d}_{k % 3:06d}"
        rng = item_rng(seed, "libritts", utt_id)
        phrases = ENGLISH.sample_sentence(rng, int(rng.integers(4, 15)))
        jobs.append(_Job(chapter_dir / f"{utt_id}.wav", phrases, speaker,
                         item_seed(seed, "libritts", "audio", utt_id),
                         float(rng.uniform(-55, -35))))
    return jobs


def _texts(phrases: list[list[Word]]) -> tuple[str, str]:
    """(original, normalized) text: the original writes digits as numerals, like a book."""
    original = ", ".join(" ".join(_DIGITS.get(w.text, w.text) for w in p) for p in phrases)
    normalized = ", ".join(" ".join(w.text for w in p) for p in phrases)
    return original[0].upper() + original[1:] + ".", normalized[0].upper() + normalized[1:] + "."


def _write_chapter_texts(chapter_dir: Path, reader: int, chapter: int, jobs: list[_Job],
                         listed: int) -> None:
    trans, book = [], []
    for k, job in enumerate(jobs):
        utt_id = job.path.stem
        original, normalized = _texts(job.phrases)
        write_text(chapter_dir / f"{utt_id}.original.txt", [original])
        write_text(chapter_dir / f"{utt_id}.normalized.txt", [normalized])
        kept = k < listed
        if kept:
            trans.append(f"{utt_id}\t{original}\t{normalized}")
        book.append(f"{utt_id}\t{original}\t{normalized}\t{str(kept).lower()}\t"
                    f"{-job.noise_db - 6:.2f}")
    write_text(chapter_dir / f"{reader}_{chapter}.trans.tsv", trans)
    write_text(chapter_dir / f"{reader}_{chapter}.book.tsv", book)


def _render(job: _Job) -> float:
    """Render and write one utterance; returns its duration in seconds."""
    utterance = synthesize(job.phrases, job.speaker, ENGLISH, job.seed, SAMPLE_RATE,
                           level_db=float(np.random.default_rng(job.seed).uniform(-3, 1)))
    audio = utterance.audio
    noise = np.random.default_rng(job.seed + 1).standard_normal(len(audio))
    level = np.abs(audio).max() * portable.db_to_gain(job.noise_db)
    audio = audio + (level * noise).astype(np.float32)
    write_audio(job.path, audio, SAMPLE_RATE)
    return len(audio) / SAMPLE_RATE


def _write_metadata(root: Path, speakers_rows, chapters_rows, minutes) -> None:
    """Corpus-level tables; `minutes` maps reader and chapter ids to their audio minutes."""
    write_text(root / "SPEAKERS.txt", [
        "; Synthetic LibriTTS-layout corpus generated by voxflow (no real speech).",
        "; Speakers of the dev and test subsets do not read in the training subsets.",
        ";ID  |SEX| SUBSET           |MINUTES| NAME",
        *(f"{r:<5}| {g} | {s:<17}| {minutes[r]:6.2f}| Synthetic Reader {r}"
          for r, g, s in sorted(speakers_rows))])
    write_text(root / "speakers.tsv", ["READER\tGENDER\tSUBSET\tNAME", *(
        f"{r}\t{g}\t{s}\tSynthetic Reader {r}" for r, g, s in sorted(speakers_rows))])
    write_text(root / "CHAPTERS.txt", [
        ";ID    |READER|MINUTES| SUBSET           | PROJ.|BOOK ID| CH. TITLE | PROJECT TITLE",
        *(f"{c:<7}|{r:<6}|{minutes[c]:6.2f} | {s:<17}| {c % 9000:<5}|{b:<7}| Chapter {c} | Book {b}"
          for c, r, s, b in sorted(chapters_rows))])
    books = sorted({b for *_, b in chapters_rows})
    write_text(root / "BOOKS.txt", [";ID   |TITLE", *(f"{b:<6}| Book {b}" for b in books)])
    write_text(root / "reader_book.tsv", ["READER\tBOOK", *sorted(
        {f"{r}\t{b}" for _, r, _, b in chapters_rows})])
    write_text(root / "LICENSE.txt", [
        "Synthetic data generated by voxflow's parametric synthesizer; free to use (CC0)."])
    write_text(root / "NOTE.txt", [
        "Miniature corpus in the layout of LibriTTS (Zen et al., 2019).",
        "Audio: 24 kHz, mono, 16-bit PCM. Utterances not in a chapter's trans.tsv were",
        "excluded from the corpus, as in the real release."])
