"""The tiny LibriTTS: layout of corpora.md, valid audio, and learnable speaker identity."""
from __future__ import annotations

import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audio_checks import assert_valid_audio
from voxflow.features import mfcc
from voxflow.synth.corpora import libritts


def _listed(root):
    """utt_id -> (subset, speaker, wav path) for the utterances of every trans.tsv."""
    rows = {}
    for trans in sorted(root.glob("*/*/*/*.trans.tsv")):
        subset, speaker = trans.parts[-4], trans.parts[-3]
        for line in trans.read_text(encoding="utf-8").splitlines():
            utt_id, original, normalized = line.split("\t")
            assert original and normalized
            rows[utt_id] = (subset, speaker, trans.parent / f"{utt_id}.wav")
    return rows


def test_layout_and_metadata(tiny_corpus):
    root = tiny_corpus("libritts")
    for name in ("SPEAKERS.txt", "CHAPTERS.txt", "BOOKS.txt", "speakers.tsv", "reader_book.tsv",
                 "LICENSE.txt", "NOTE.txt"):
        assert (root / name).is_file(), name
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted(libritts.SUBSETS)
    speakers = {}
    for line in (root / "SPEAKERS.txt").read_text().splitlines():
        if not line.startswith(";"):
            reader, sex, subset, minutes, _ = (f.strip() for f in line.split("|"))
            assert sex in "FM" and float(minutes) > 0
            speakers[reader] = subset
    on_disk = {p.name: p.parent.name for p in root.glob("*/*") if p.is_dir()}
    assert on_disk == speakers
    for chapter in root.glob("*/*/*"):
        reader, chap = chapter.parts[-2], chapter.name
        assert (chapter / f"{reader}_{chap}.trans.tsv").is_file()
        book = (chapter / f"{reader}_{chap}.book.tsv").read_text().splitlines()
        for line in book:
            fields = line.split("\t")
            assert fields[0].startswith(f"{reader}_{chap}_") and float(fields[-1]) > 0
        for wav in chapter.glob("*.wav"):
            assert wav.with_suffix(".original.txt").is_file()
            assert wav.with_suffix(".normalized.txt").is_file()


def test_disjoint_speakers_and_unlisted_files(tiny_corpus):
    root = tiny_corpus("libritts")
    listed = _listed(root)
    by_subset = {}
    for subset, speaker, _ in listed.values():
        by_subset.setdefault(subset, set()).add(speaker)
    train = by_subset["train-clean-100"]
    assert not train & by_subset["dev-clean"] and not train & by_subset["test-clean"]
    assert not by_subset["dev-clean"] & by_subset["test-clean"]
    wavs = {p.stem for p in root.glob("*/*/*/*.wav")}
    unlisted = wavs - set(listed)
    assert listed.keys() <= wavs
    assert 1 <= len(unlisted) <= 0.1 * len(wavs)


def test_audio_is_valid(tiny_corpus):
    for wav in tiny_corpus("libritts").glob("*/*/*/*.wav"):
        assert_valid_audio(wav, 24000)


def test_speakers_are_identifiable(tiny_corpus):
    """Logistic regression on mean MFCCs identifies readers on held-out utterances (>= 90%)."""
    listed = _listed(tiny_corpus("libritts"))
    train_x, train_y, test_x, test_y = [], [], [], []
    for k, (utt_id, (subset, speaker, wav)) in enumerate(sorted(listed.items())):
        if subset != "train-clean-100":
            continue
        audio, sr = sf.read(wav)
        features = mfcc(audio, sr).mean(axis=0)
        held_out = int(utt_id.split("_")[-1]) == 2          # every third sentence
        (test_x if held_out else train_x).append(features)
        (test_y if held_out else train_y).append(speaker)
    assert len(set(test_y)) == len(set(train_y)) >= 8 and len(test_y) >= 16
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(train_x, train_y)
    assert model.score(test_x, test_y) >= 0.9
