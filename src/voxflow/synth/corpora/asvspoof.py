"""Miniature ASVspoof 2019 logical access (LA): bona fide and spoofed speech, CM and ASV lists.

Train, dev and eval have disjoint speakers of both genders. Every spoof imitates a speaker of its
split saying a sentence of its own, made by one of the systems of `voxflow.synth.spoofing`
(A01-A06 in train and dev, A07-A19 in eval). Bona fide and spoofed speech pass through the same
recording conditions (level, a mild channel tilt, a noise floor), so only the spoofing
artefacts tell them apart; bona fide utterances last 1.5 to 3.5 s.

As in the real release, the dev and eval flac folders also hold the ASV enrolment utterances,
which the CM protocols do not list. The ASV trial lists pair every bona fide utterance with its
own speaker (target) and another speaker of the same gender (nontarget), and every spoof with
its speaker (spoof); the score files hold, line by line in the order of the gi trial lists,
the cosine similarity of a simple ASV system computed on the audio (standardised mean MFCC
vectors against the claimed speaker's enrolment).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxflow.parallel import run_parallel
from voxflow.synth import portable
from voxflow.synth.corpora.common import (check_size, corpus_dir, item_rng, item_seed,
                                          write_audio, write_text)
from voxflow.synth.engine import plan_utterance, render
from voxflow.synth.languages import ENGLISH
from voxflow.synth.spoofing import (EVAL_ATTACKS, SAMPLE_RATE, TRAIN_DEV_ATTACKS,
                                     mel_filterbank, spoof)
from voxflow.synth.voice import Speaker, sample_speaker

SPLITS = ("train", "dev", "eval")
SPLIT_LETTER = {"train": "T", "dev": "D", "eval": "E"}
CM_PROTOCOL = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}
ATTACKS = {"train": TRAIN_DEV_ATTACKS, "dev": TRAIN_DEV_ATTACKS, "eval": EVAL_ATTACKS}
DURATION_RANGE = (1.5, 3.5)     # seconds per utterance


@dataclass(frozen=True)
class AsvspoofSize:
    speakers: dict[str, int]            # split -> speakers, half of them female
    bonafide: dict[str, int]            # split -> bona fide utterances in the CM protocol
    spoofs_per_attack: dict[str, int]   # split -> spoofed utterances of each attack
    enrolment_per_speaker: int          # ASV enrolment utterances, dev and eval speakers


SIZES = {
    "tiny": AsvspoofSize(speakers={"train": 20, "dev": 10, "eval": 12},
                         bonafide={"train": 60, "dev": 40, "eval": 60},
                         spoofs_per_attack={"train": 20, "dev": 10, "eval": 8},
                         enrolment_per_speaker=3),
    "small": AsvspoofSize(speakers={"train": 20, "dev": 10, "eval": 24},
                          bonafide={"train": 240, "dev": 160, "eval": 240},
                          spoofs_per_attack={"train": 80, "dev": 40, "eval": 32},
                          enrolment_per_speaker=5),
    "medium": AsvspoofSize(speakers={"train": 20, "dev": 10, "eval": 48},
                           bonafide={"train": 900, "dev": 600, "eval": 900},
                           spoofs_per_attack={"train": 300, "dev": 150, "eval": 120},
                           enrolment_per_speaker=8),
}


@dataclass(frozen=True)
class _Utterance:
    split: str
    utt_id: str
    speaker: Speaker
    system: str                 # "bonafide", "enrolment" or an attack id
    path: Path
    seed: int

    @property
    def key(self) -> str:
        return "bonafide" if self.system in ("bonafide", "enrolment") else "spoof"


def build(out_dir: Path, size: str = "tiny", seed: int = 0, workers: int | None = None) -> Path:
    """Write the corpus under `out_dir/LA` and return that folder."""
    spec = SIZES[check_size(size)]
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    root = corpus_dir(out_dir, "asvspoof")
    speakers = _speakers(spec, seed)
    utterances = _utterances(root, spec, speakers, seed)
    embeddings = dict(zip((u.utt_id for u in utterances),
                          run_parallel(_render, utterances, "ASVspoof 2019 LA", workers)))

    protocols = root / "ASVspoof2019_LA_cm_protocols"
    for split in SPLITS:
        listed = sorted((u for u in utterances if u.split == split and u.system != "enrolment"),
                        key=lambda u: (u.speaker.id, u.system != "bonafide", u.system, u.utt_id))
        write_text(protocols / f"ASVspoof2019.LA.cm.{CM_PROTOCOL[split]}.txt",
                   map(_cm_protocol_line, listed))
    for split in ("dev", "eval"):
        _write_asv_files(root, split, [u for u in utterances if u.split == split],
                         speakers[split], embeddings, item_rng(seed, "asvspoof", "trials", split))
    return root


def _cm_protocol_line(u: _Utterance) -> str:
    """`SPEAKER_ID UTTERANCE_ID - SYSTEM_ID KEY`; the system is `-` for bona fide speech."""
    return f"{u.speaker.id} {u.utt_id} - {'-' if u.key == 'bonafide' else u.system} {u.key}"


def _speakers(spec: AsvspoofSize, seed: int) -> dict[str, list[Speaker]]:
    """Disjoint speakers per split, ids LA_0001..LA_0099 drawn at random, alternating genders."""
    rng = item_rng(seed, "asvspoof", "speakers")
    numbers = iter(rng.choice(np.arange(1, 100), sum(spec.speakers.values()), replace=False))
    speakers = {}
    for split in SPLITS:
        ids = sorted(f"LA_{next(numbers):04d}" for _ in range(spec.speakers[split]))
        speakers[split] = [sample_speaker(item_rng(seed, "asvspoof", "speaker", speaker_id),
                                          speaker_id, "FM"[k % 2])
                           for k, speaker_id in enumerate(ids)]
    return speakers


def _utterances(root: Path, spec: AsvspoofSize, speakers: dict[str, list[Speaker]],
                seed: int) -> list[_Utterance]:
    """Every utterance to render: enrolment (dev, eval), bona fide, then each attack's spoofs;
    speakers take turns so that each has a share of every system."""
    wanted: list[tuple[str, Speaker, str]] = []      # (split, speaker, system)
    for split in SPLITS:
        group = speakers[split]
        if split != "train":
            wanted += [(split, s, "enrolment") for s in group
                       for _ in range(spec.enrolment_per_speaker)]
        wanted += [(split, group[k % len(group)], "bonafide") for k in range(spec.bonafide[split])]
        for a, attack in enumerate(ATTACKS[split]):
            wanted += [(split, group[(k + a) % len(group)], attack)
                       for k in range(spec.spoofs_per_attack[split])]

    numbers = _unique_numbers(item_rng(seed, "asvspoof", "utterance ids"), len(wanted))
    utterances = []
    for (split, speaker, system), number in zip(wanted, numbers):
        utt_id = f"LA_{SPLIT_LETTER[split]}_{number}"
        path = root / f"ASVspoof2019_LA_{split}" / "flac" / f"{utt_id}.flac"
        utterances.append(_Utterance(split, utt_id, speaker, system, path,
                                     item_seed(seed, "asvspoof", utt_id)))
    return utterances


def _unique_numbers(rng: np.random.Generator, count: int) -> list[int]:
    """`count` distinct random 7-digit numbers."""
    numbers: dict[int, None] = {}        # insertion-ordered, so deterministic
    while len(numbers) < count:
        numbers[int(rng.integers(1_000_000, 10_000_000))] = None
    return list(numbers)


def _render(utterance: _Utterance) -> np.ndarray:
    """Synthesize, spoof if needed, record, write the FLAC; returns the ASV embedding."""
    rng = np.random.default_rng(utterance.seed)
    level_db = float(rng.uniform(-6.0, 3.0))
    while True:     # redraw sentences until one fits the duration range
        phrases = ENGLISH.sample_sentence(rng, int(rng.integers(3, 7)))
        plan = plan_utterance(phrases, utterance.speaker, ENGLISH, rng, lead=(0.05, 0.2),
                              trail=(0.05, 0.2), level_db=level_db)
        if DURATION_RANGE[0] <= plan.duration <= DURATION_RANGE[1]:
            break
    if utterance.key == "bonafide":
        speech = render(plan, SAMPLE_RATE).astype(np.float64)
    else:
        speech = spoof(utterance.system, plan, rng)
    audio = _recording(speech, plan.peak_level, rng)
    write_audio(utterance.path, audio, SAMPLE_RATE)
    return _asv_embedding(audio)


def _recording(speech: np.ndarray, peak_level: float, rng: np.random.Generator) -> np.ndarray:
    """The same recording conditions for bona fide and spoofed speech: a first-order spectral
    tilt of up to 2.6 dB either way, a white to pinkish noise floor 55 to 75 dB below the peak,
    and the utterance's peak level."""
    tilt, noise_colour = rng.uniform(-0.15, 0.15, size=2)
    coloured = portable.fir(speech, [1.0, -tilt])[:len(speech)]
    coloured /= np.abs(coloured).max() + 1e-12
    noise = rng.standard_normal(len(speech))
    noise[1:] += noise_colour * noise[:-1]
    noise *= portable.db_to_gain(float(rng.uniform(-75.0, -55.0))) / noise.std()
    recorded = coloured + noise
    return (peak_level * recorded / np.abs(recorded).max()).astype(np.float32)


def _asv_embedding(audio: np.ndarray) -> np.ndarray:
    """The ASV system's utterance vector: mean MFCC 1-19 over the louder 60 % of frames."""
    coefficients = _mfcc(audio)
    loud = coefficients[:, 0] >= np.percentile(coefficients[:, 0], 40)
    return coefficients[loud, 1:].mean(axis=0)


def _mfcc(audio: np.ndarray) -> np.ndarray:
    """voxflow.features.mfcc(audio, 16000): 20 coefficients of 40 HTK mel bands (20 Hz to
    8 kHz) of 25 ms Hamming frames every 10 ms, 512-point FFT; here with `portable`'s log, cos
    and matrix product, as the ASV scores are part of the corpus and must not depend on the
    CPU."""
    from scipy.fft import dct, rfft

    win, hop, n_fft, n_mels = 400, 160, 512, 40
    x = np.asarray(audio, np.float64)
    x = np.pad(x, (0, max(win - len(x), 0)))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:1 + (len(x) - win) // hop]
    hamming = 0.54 - 0.46 * portable.cos(2 * np.pi * np.arange(win) / win)
    power = portable.power_spectrum(rfft(frames * hamming, n_fft, axis=1))
    bank = mel_filterbank(n_mels, f_min=20.0)           # spoofing's frames are 512 points too
    log_mel = portable.log(portable.matmul(power, bank.T) + 1e-10)
    return dct(log_mel, type=2, norm="ortho", axis=1)[:, :20].astype(np.float32)


def _write_asv_files(root: Path, split: str, utterances: list[_Utterance],
                     speakers: list[Speaker], embeddings: dict[str, np.ndarray],
                     rng: np.random.Generator) -> None:
    """Enrolment lists, trial lists (per gender and gender-independent) and ASV scores."""
    protocols = root / "ASVspoof2019_LA_asv_protocols"
    enrolment = {s.id: [u.utt_id for u in utterances
                        if u.speaker.id == s.id and u.system == "enrolment"] for s in speakers}
    trials = _asv_trials(utterances, speakers, rng)
    for gender, name in (("F", "female"), ("M", "male")):
        write_text(protocols / f"ASVspoof2019.LA.asv.{split}.{name}.trn.txt",
                   [f"{s.id} {','.join(enrolment[s.id])}" for s in speakers if s.gender == gender])
        write_text(protocols / f"ASVspoof2019.LA.asv.{split}.{name}.trl.txt",
                   [" ".join(t) for t in trials[gender]])
    gender_independent = trials["M"] + trials["F"]      # male trials first, as in the release
    write_text(protocols / f"ASVspoof2019.LA.asv.{split}.gi.trl.txt",
               [" ".join(t) for t in gender_independent])
    scores = _asv_scores(gender_independent, enrolment, embeddings)
    scores_file = f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt"
    write_text(root / "ASVspoof2019_LA_asv_scores" / scores_file,
               [f"{source} {key} {score:.6f}"
                for (_, _, source, key), score in zip(gender_independent, scores)])


def _asv_trials(utterances: list[_Utterance], speakers: list[Speaker],
                rng: np.random.Generator) -> dict[str, list[tuple[str, str, str, str]]]:
    """gender -> trials (claimed speaker, utterance, source, key), targets first, then
    nontargets (a bona fide utterance against another speaker of its gender), then spoofs."""
    trials: dict[str, list[tuple[str, str, str, str]]] = {"F": [], "M": []}
    for u in utterances:
        claimed, gender = u.speaker.id, u.speaker.gender
        if u.system == "bonafide":
            others = [s.id for s in speakers if s.gender == gender and s.id != claimed]
            trials[gender] += [(claimed, u.utt_id, "bonafide", "target"),
                               (str(rng.choice(others)), u.utt_id, "bonafide", "nontarget")]
        elif u.key == "spoof":
            trials[gender].append((claimed, u.utt_id, u.system, "spoof"))
    order = {"target": 0, "nontarget": 1, "spoof": 2}
    return {gender: sorted(group, key=lambda t: (order[t[3]], t[0], t[1]))
            for gender, group in trials.items()}


def _asv_scores(trials: list[tuple[str, str, str, str]], enrolment: dict[str, list[str]],
                embeddings: dict[str, np.ndarray]) -> list[float]:
    """Cosine similarity between the trial's vector and the claimed speaker's mean enrolment
    vector, both standardised with the statistics of all enrolment utterances of the split."""
    enrolled = np.array([embeddings[u] for ids in enrolment.values() for u in ids])
    centre, scale = enrolled.mean(axis=0), enrolled.std(axis=0) + 1e-9
    models = {speaker_id: ((np.array([embeddings[u] for u in ids]) - centre) / scale).mean(axis=0)
              for speaker_id, ids in enrolment.items()}
    scores = []
    for claimed, utt_id, _, _ in trials:
        vector, model = (embeddings[utt_id] - centre) / scale, models[claimed]
        scores.append(portable.dot(vector, model)
                      / (portable.norm(vector) * portable.norm(model)))
    return scores
