"""Miniature IEMOCAP: five sessions of dyadic dialogs with categorical and dimensional labels.

Each session has one female and one male speaker; dialogs are improvised (`Ses01F_impro01`) or
scripted (`Ses01M_script01_1`), and every turn is spoken by F or M whatever the dialog's name,
so the speaker comes from the last field of the utterance id. Emotions are realised by the
synthesizer's prosody and voice quality; fru, sur and xxx turns exist so the usual 4-class
mapping (neu, hap+exc, sad, ang) has something to drop.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxflow.parallel import run_parallel
from voxflow.synth.corpora.common import (check_size, corpus_dir, item_rng, item_seed,
                                          write_audio, write_text)
from voxflow.synth.engine import synthesize
from voxflow.synth.languages import ENGLISH, Word
from voxflow.synth.voice import Speaker, sample_speaker

SAMPLE_RATE = 16000
SESSIONS = 5


@dataclass(frozen=True)
class IemocapSize:
    improvised_dialogs: int     # per session
    scripted_dialogs: int       # per session
    turns_per_dialog: int


SIZES = {
    "tiny": IemocapSize(1, 1, 16),
    "small": IemocapSize(2, 2, 24),
    "medium": IemocapSize(4, 4, 30),
}

# code -> (share of turns, synthesizer emotion, evaluator word, mean [V, A, D])
EMOTION_CODES = {
    "neu": (0.24, "neutral", "Neutral", (2.5, 2.5, 2.5)),
    "hap": (0.11, "happy", "Happiness", (4.0, 3.2, 3.0)),
    "exc": (0.11, "happy", "Excited", (3.8, 3.8, 3.2)),
    "sad": (0.17, "sad", "Sadness", (1.8, 2.0, 2.0)),
    "ang": (0.16, "angry", "Anger", (1.7, 4.0, 4.0)),
    "fru": (0.11, "angry", "Frustration", (2.0, 3.3, 3.3)),
    "sur": (0.03, "happy", "Surprise", (3.2, 3.7, 2.8)),
    "xxx": (0.07, None, None, (2.6, 2.9, 2.7)),     # evaluators disagree
}
_CODES = list(EMOTION_CODES)
_SHARES = np.array([EMOTION_CODES[c][0] for c in _CODES])
_FOUR = ("neutral", "happy", "sad", "angry")


@dataclass(frozen=True)
class _Job:
    path: Path
    phrases: list[list[Word]]
    speaker: Speaker
    emotion: str
    seed: int


@dataclass(frozen=True)
class _Turn:
    utt_id: str
    code: str
    vad: tuple[float, float, float]
    evaluators: tuple[str, ...]
    text: str
    job: _Job


def build(out_dir: Path, size: str = "tiny", seed: int = 0, workers: int | None = None) -> Path:
    spec = SIZES[check_size(size)]
    root = corpus_dir(out_dir, "iemocap")
    dialogs: list[tuple[Path, str, list[_Turn]]] = []
    for session in range(1, SESSIONS + 1):
        speakers = {g: sample_speaker(item_rng(seed, "iemocap", "speaker", session, g),
                                      f"Ses{session:02d}{g}", g) for g in "FM"}
        session_dir = root / f"Session{session}"
        names = [f"Ses{session:02d}{'FM'[k % 2]}_impro{k + 1:02d}"
                 for k in range(spec.improvised_dialogs)]
        names += [f"Ses{session:02d}{'MF'[k % 2]}_script{k // 2 + 1:02d}_{k % 2 + 1}"
                  for k in range(spec.scripted_dialogs)]
        for name in names:
            turns, per_speaker = [], {"F": 0, "M": 0}
            for k in range(spec.turns_per_dialog):
                # speakers mostly alternate, as in a conversation
                rng = item_rng(seed, "iemocap", name, k)
                gender = "FM"[k % 2] if rng.random() < 0.85 else "MF"[k % 2]
                utt_id = f"{name}_{gender}{per_speaker[gender]:03d}"
                per_speaker[gender] += 1
                turns.append(_turn(seed, rng, session_dir, name, utt_id, speakers[gender]))
            dialogs.append((session_dir, name, turns))

    jobs = [t.job for _, _, turns in dialogs for t in turns]
    audio = dict(zip((j.path.stem for j in jobs), run_parallel(_render, jobs, "IEMOCAP", workers)))
    for session_dir, name, turns in dialogs:
        _write_dialog(session_dir, name, turns, audio, item_rng(seed, "iemocap", "timing", name))
    return root


def _turn(seed: int, rng, session_dir: Path, dialog: str, utt_id: str,
          speaker: Speaker) -> _Turn:
    code = _CODES[rng.choice(len(_CODES), p=_SHARES / _SHARES.sum())]
    _, emotion, word, vad_mean = EMOTION_CODES[code]
    if emotion is None:
        emotion = _FOUR[rng.integers(len(_FOUR))]
    vad = tuple(float(np.clip(np.round(2 * (v + rng.normal(0, 0.4))) / 2, 1.0, 5.0))
                for v in vad_mean)
    phrases = ENGLISH.sample_sentence(rng, int(rng.integers(3, 11)))
    text = ", ".join(" ".join(w.text for w in p) for p in phrases)
    job = _Job(session_dir / "sentences" / "wav" / dialog / f"{utt_id}.wav", phrases,
               speaker, emotion, item_seed(seed, "iemocap", "audio", utt_id))
    return _Turn(utt_id, code, vad, _evaluator_lines(rng, code, vad), text[0].upper() + text[1:] + ".",
                 job)


def _evaluator_lines(rng, code: str, vad) -> tuple[str, ...]:
    """Categorical (C-) and dimensional (A-) evaluator lines, which ingestion skips."""
    words = [EMOTION_CODES[c][2] for c in _CODES if EMOTION_CODES[c][2]]
    agreed = EMOTION_CODES[code][2]
    lines = []
    for evaluator in ("E1", "E2", "E3"):
        label = agreed if agreed and rng.random() < 0.8 else words[rng.integers(len(words))]
        lines.append(f"C-{evaluator}:\t{label};\t()")
    for evaluator in ("E1", "E2"):
        v, a, d = (int(np.clip(round(x + rng.normal(0, 0.5)), 1, 5)) for x in vad)
        lines.append(f"A-{evaluator}:\tval {v}; act {a}; dom  {d};\t()")
    return tuple(lines)


def _render(job: _Job) -> np.ndarray:
    level = float(np.random.default_rng(job.seed).uniform(-2, 2))
    utterance = synthesize(job.phrases, job.speaker, ENGLISH, job.seed, SAMPLE_RATE,
                           emotion=job.emotion, level_db=level)
    write_audio(job.path, utterance.audio, SAMPLE_RATE)
    return utterance.audio


def _write_dialog(session_dir: Path, name: str, turns: list[_Turn], audio: dict, rng) -> None:
    """EmoEvaluation, transcription and the whole-dialog recording, turns placed in time."""
    t = float(rng.uniform(2.0, 6.0))
    spans = []
    for turn in turns:
        duration = len(audio[turn.utt_id]) / SAMPLE_RATE
        spans.append((t, t + duration))
        t += duration + float(rng.uniform(0.3, 1.2))
    recording = np.zeros(int(np.ceil((t + 1.0) * SAMPLE_RATE)), np.float32)
    for turn, (start, _) in zip(turns, spans):
        a = int(round(start * SAMPLE_RATE))
        recording[a:a + len(audio[turn.utt_id])] += audio[turn.utt_id]
    write_audio(session_dir / "dialog" / "wav" / f"{name}.wav", recording, SAMPLE_RATE)

    emo = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for turn, (start, end) in zip(turns, spans):
        v, a, d = turn.vad
        emo += [f"[{start:.4f} - {end:.4f}]\t{turn.utt_id}\t{turn.code}\t[{v:.4f}, {a:.4f}, {d:.4f}]",
                *turn.evaluators, ""]
    write_text(session_dir / "dialog" / "EmoEvaluation" / f"{name}.txt", emo)
    write_text(session_dir / "dialog" / "transcriptions" / f"{name}.txt",
               [f"{turn.utt_id} [{start:08.4f}-{end:08.4f}]: {turn.text}"
                for turn, (start, end) in zip(turns, spans)])
