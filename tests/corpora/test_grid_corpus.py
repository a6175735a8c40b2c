"""The tiny GRID: Zenodo layout, 3 s audio, exact alignments, MPEG-1 videos whose mouth moves
with the speech, and byte-identical rebuilds."""
from __future__ import annotations

import hashlib
import re

import av
import numpy as np
import pytest
import soundfile as sf

from voxflow.features import estimate_f0
from voxflow.synth.corpora import grid
from voxflow.synth.face import render_frames, sample_face, write_video
from voxflow.synth.languages import GRID_WORDS

GRAMMAR = ("command", "color", "preposition", "letter", "digit", "adverb")
UTT_ID = re.compile(r"^[blps][bgrw][abiw][a-vx-z][0-9][anps]$")
# A box around the mouth of every talker (face centred at x 180, head drift of +-2 px): below
# the nostrils and above the chin, narrower than the face, so only the mouth can be dark in it.
MOUTH_ROWS, MOUTH_COLS = slice(174, 226), slice(134, 226)
DARK_LUMA = 50


def _talkers(root):
    return sorted((p.name for p in root.iterdir() if re.fullmatch(r"s\d+", p.name)),
                  key=lambda name: int(name[1:]))


def _parse_align(path):
    rows = []
    for line in path.read_text().splitlines():
        start, end, word = line.split(" ")
        assert start.isdigit() and end.isdigit(), f"{path}: times must be integer units: {line!r}"
        rows.append((int(start), int(end), word))
    return rows


@pytest.fixture(scope="module")
def videos(tiny_corpus):
    """(talker, utt_id) -> (frame count, size, frame rate, codec, mouth darkness per frame,
    first frame), decoded once for all the video tests."""
    root = tiny_corpus("grid")
    decoded = {}
    for mpg in sorted(root.glob("s*/*.mpg")):
        with av.open(str(mpg)) as container:
            stream = container.streams.video[0]
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            rate, codec = stream.average_rate, stream.codec_context.name
        luma = np.stack([f[MOUTH_ROWS, MOUTH_COLS] for f in frames]) @ [0.299, 0.587, 0.114]
        decoded[mpg.parent.name, mpg.stem] = (len(frames), {f.shape for f in frames}, rate, codec,
                                              (luma < DARK_LUMA).sum(axis=(1, 2)), frames[0])
    return decoded


def test_layout(tiny_corpus):
    root = tiny_corpus("grid")
    spec = grid.SIZES["tiny"]
    talkers = [f"s{k}" for k in range(1, spec.speakers + 1)]
    assert _talkers(root) == talkers
    assert sorted(p.name for p in root.iterdir()) == sorted(["alignments", "audio_25k", *talkers])
    for talker in talkers:
        wavs = {p.stem for p in (root / "audio_25k" / talker).iterdir() if p.suffix == ".wav"}
        aligns = {p.stem for p in (root / "alignments" / talker).iterdir()
                  if p.suffix == ".align"}
        mpgs = {p.stem for p in (root / talker).iterdir() if p.suffix == ".mpg"}
        assert wavs == aligns == mpgs, talker
        assert len(wavs) == spec.sentences_per_speaker
        assert all(UTT_ID.match(u) for u in wavs), wavs


def test_audio_is_3_s_at_25_khz(tiny_corpus):
    wavs = sorted(tiny_corpus("grid").glob("audio_25k/*/*.wav"))
    assert wavs
    for wav in wavs:
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == \
            (25000, 1, "PCM_16", 75000), wav
        audio, _ = sf.read(wav, dtype="int16")
        assert 0 < np.abs(audio).max() < 32767, f"{wav}: silent or clipped"


def test_talkers_of_both_genders(tiny_corpus):
    """Median F0 of one sentence per talker: men (about 115 Hz) and women (about 205 Hz)."""
    root = tiny_corpus("grid")
    medians = []
    for talker in _talkers(root):
        audio, sr = sf.read(sorted((root / "audio_25k" / talker).glob("*.wav"))[0])
        f0 = estimate_f0(audio, sr)
        medians.append(np.median(f0[f0 > 0]))
    assert min(medians) < 150 < max(medians), medians


def test_alignments_cover_3_s_and_follow_the_grammar(tiny_corpus):
    root = tiny_corpus("grid")
    aligns = sorted(root.glob("alignments/*/*.align"))
    assert aligns
    pauses = 0
    for path in aligns:
        rows = _parse_align(path)
        assert rows[0][0] == 0 and rows[0][2] == "sil", path
        assert rows[-1][1:] == (75000, "sil"), path
        for (_, end, _), (start, _, _) in zip(rows, rows[1:]):
            assert start == end, f"{path}: gap or overlap at {end}"
        assert all(start < end for start, end, _ in rows), path
        inner = [word for _, _, word in rows[1:-1]]
        assert "sil" not in inner, path
        pauses += inner.count("sp")
        words = [w for w in inner if w != "sp"]
        assert len(words) == len(GRAMMAR), path
        for word, slot, letter in zip(words, GRAMMAR, path.stem):
            assert word in GRID_WORDS[slot], f"{path}: {word!r} is not a {slot}"
            expected = str(GRID_WORDS["digit"].index(word)) if slot == "digit" else word[0]
            assert letter == expected, f"{path}: id letter {letter!r} for {word!r}"
        # the alignment matches the audio: words are far louder than the padding silences
        audio, _ = sf.read(root / "audio_25k" / path.parent.name / f"{path.stem}.wav")
        speech = np.concatenate([audio[start:end] for start, end, w in rows if w != "sil"])
        silence = np.concatenate([audio[start:end] for start, end, w in rows if w == "sil"])
        assert np.mean(speech ** 2) > 100 * np.mean(silence ** 2), path
    assert pauses > 0, "no sentence has an sp pause"


def test_videos_are_mpeg1_75_frames_of_360x288_at_25_fps(tiny_corpus, videos):
    assert len(videos) == len(list(tiny_corpus("grid").glob("audio_25k/*/*.wav")))
    for key, (count, shapes, rate, codec, _, _) in videos.items():
        assert (count, shapes, rate, codec) == (75, {(288, 360, 3)}, 25, "mpeg1video"), key


def test_talkers_look_different(videos):
    first = {}
    for (talker, _), (*_, frame) in sorted(videos.items()):
        first.setdefault(talker, frame.astype(float))
    talkers = sorted(first)
    for i, a in enumerate(talkers):
        for b in talkers[i + 1:]:
            assert np.abs(first[a] - first[b]).mean() > 5, (a, b)


def test_mouth_opening_follows_audio_energy(tiny_corpus, videos):
    """Dark mouth-interior pixels per decoded frame against the RMS of the 40 ms of audio under
    that frame: Pearson r >= 0.5 over the corpus, and positive for most sentences."""
    root = tiny_corpus("grid")
    darkness, energy, per_sentence = [], [], []
    for (talker, utt_id), (*_, dark, _) in sorted(videos.items()):
        audio, _ = sf.read(root / "audio_25k" / talker / f"{utt_id}.wav")
        rms = np.sqrt((audio.reshape(75, 1000) ** 2).mean(axis=1))
        assert dark.min() == 0, f"{talker}/{utt_id}: the mouth never closes"
        darkness.append(dark)
        energy.append(rms)
        per_sentence.append(np.corrcoef(dark, rms)[0, 1])
    r = np.corrcoef(np.concatenate(darkness), np.concatenate(energy))[0, 1]
    assert r >= 0.5, r
    assert np.mean(np.array(per_sentence) > 0.2) >= 0.9, per_sentence


def test_same_seed_gives_identical_bytes_whatever_the_workers(tiny_corpus, tmp_path):
    def digests(root):
        return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    rebuilt = grid.build(tmp_path, size="tiny", seed=0, workers=1)
    ours, theirs = digests(rebuilt), digests(tiny_corpus("grid"))
    assert {p.suffix for p in ours} == {".wav", ".align", ".mpg"}
    assert ours == theirs


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown size"):
        grid.build(tmp_path, size="huge")
    with pytest.raises(ValueError, match="gender"):
        sample_face(np.random.default_rng(0), "X")
    face = sample_face(np.random.default_rng(0), "F")
    with pytest.raises(ValueError, match="articulation"):
        render_frames(face, np.zeros((75, 2)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "x.mpg", np.zeros((75, 288, 360, 3)))
