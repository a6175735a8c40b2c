"""The tiny IEMOCAP: layout of corpora.md, label formats, and learnable emotion from prosody."""
from __future__ import annotations

import re

import numpy as np
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audio_checks import assert_valid_audio
from voxflow.features import estimate_f0

TURN = re.compile(r"^\[(\d+\.\d{4}) - (\d+\.\d{4})\]\t(Ses\d\d[FM]_\w+_[FM]\d{3})\t(\w{3})\t"
                  r"\[(\d\.\d{4}), (\d\.\d{4}), (\d\.\d{4})\]$")
FOUR_CLASS = {"neu": "neu", "hap": "hap", "exc": "hap", "sad": "sad", "ang": "ang"}


def _labels(root):
    """utt_id -> (emotion code, start, end) from every EmoEvaluation file."""
    labels = {}
    for path in sorted(root.glob("Session*/dialog/EmoEvaluation/*.txt")):
        lines = path.read_text().splitlines()
        assert lines[0].startswith("%")
        for line in lines[1:]:
            if line.startswith("["):
                m = TURN.match(line)
                assert m, f"{path}: malformed turn line {line!r}"
                labels[m[3]] = (m[4], float(m[1]), float(m[2]))
            else:
                assert line == "" or re.match(r"^[CA]-E\d:\t", line), line
    return labels


def test_layout_and_labels(tiny_corpus):
    root = tiny_corpus("iemocap")
    assert sorted(p.name for p in root.iterdir()) == [f"Session{i}" for i in range(1, 6)]
    labels = _labels(root)
    wavs = {p.stem: p for p in root.glob("Session*/sentences/wav/*/*.wav")}
    assert set(labels) == set(wavs)
    codes = {code for code, _, _ in labels.values()}
    assert {"neu", "hap", "exc", "sad", "ang", "fru", "xxx"} <= codes
    for session in range(1, 6):
        speakers = {u[:5] + u.split("_")[-1][0] for u in labels if u.startswith(f"Ses0{session}")}
        assert speakers == {f"Ses0{session}F", f"Ses0{session}M"}
    dialogs = {u.rsplit("_", 1)[0] for u in labels}
    assert any("impro" in d for d in dialogs) and any("script" in d for d in dialogs)
    for path in root.glob("Session*/dialog/transcriptions/*.txt"):
        for line in path.read_text().splitlines():
            utt_id, rest = line.split(" ", 1)
            start, end = map(float, re.match(r"^\[(\d+\.\d+)-(\d+\.\d+)\]: .+", rest).groups())
            assert labels[utt_id][1:] == (start, end)
            duration = sf.info(wavs[utt_id]).duration
            assert abs((end - start) - duration) < 1e-3
            assert (path.parents[1] / "wav" / path.name.replace(".txt", ".wav")).is_file()


def test_audio_is_valid(tiny_corpus):
    for wav in tiny_corpus("iemocap").glob("Session*/**/*.wav"):
        assert_valid_audio(wav, 16000)


def _prosody(wav, n_words):
    audio, sr = sf.read(wav)
    f0 = estimate_f0(audio, sr)
    voiced = np.log2(f0[f0 > 0]) * 12
    frames = np.lib.stride_tricks.sliding_window_view(audio, 400)[::160]
    energy_db = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-10)
    active = energy_db > energy_db.max() - 40
    return [voiced.mean(), voiced.std(), energy_db[active].mean(), n_words / (len(audio) / sr)]


def test_emotions_are_learnable_from_prosody(tiny_corpus):
    """F0 mean/std, energy and speaking rate with a linear classifier: 4-class UAR >= 60%,
    leave-one-session-out, features normalised per speaker as is usual for IEMOCAP."""
    root = tiny_corpus("iemocap")
    labels = _labels(root)
    texts = {}
    for path in root.glob("Session*/dialog/transcriptions/*.txt"):
        for line in path.read_text().splitlines():
            utt_id, _, text = line.split(" ", 2)
            texts[utt_id] = text
    rows = [(u, FOUR_CLASS[code]) for u, (code, _, _) in sorted(labels.items())
            if code in FOUR_CLASS]
    x = np.array([_prosody(next(root.glob(f"Session*/sentences/wav/*/{u}.wav")),
                           len(texts[u].split())) for u, _ in rows])
    y = np.array([label for _, label in rows])
    speaker = np.array([u[:5] + u.split("_")[-1][0] for u, _ in rows])
    for s in set(speaker):
        x[speaker == s] = (x[speaker == s] - x[speaker == s].mean(0)) / (x[speaker == s].std(0) + 1e-9)
    session = np.array([u[:5] for u in speaker])
    predicted = np.empty_like(y)
    for held_out in sorted(set(session)):
        test = session == held_out
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(x[~test], y[~test])
        predicted[test] = model.predict(x[test])
    assert set(y) == {"neu", "hap", "sad", "ang"}
    assert recall_score(y, predicted, average="macro") >= 0.6
