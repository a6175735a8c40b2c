"""The tiny multilingual TTS corpus: layout, metadata, audio, MFA-style TextGrids that carry the
synthesizer's alignments, and languages that are learnable from what the corpus holds."""
from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audio_checks import assert_valid_audio
from voxflow.features import mfcc
from voxflow.synth import LANGUAGES, sample_speaker, synthesize
from voxflow.synth.corpora import mlms
from voxflow.synth.engine import Interval
from voxflow.synth.languages import HELD_OUT_LANGUAGES, TRAINING_LANGUAGES
from voxflow.synth.textgrid import read_textgrid, tile, write_textgrid

FRAME_S = 0.010


def _speakers(root):
    """speaker -> (language, gender) from speakers.tsv."""
    header, *rows = (root / "speakers.tsv").read_text().splitlines()
    assert header == "speaker\tlanguage\tgender"
    return {speaker: (language, gender)
            for speaker, language, gender in (row.split("\t") for row in rows)}


def _metadata(speaker_dir):
    """utt_id -> (text, normalized_text) from an LJSpeech-style metadata.csv."""
    rows = {}
    for line in (speaker_dir / "metadata.csv").read_text(encoding="utf-8").splitlines():
        utt_id, text, normalized = line.split("|")
        rows[utt_id] = (text, normalized)
    return rows


def _utterances(root):
    """(language, speaker, utt_id, wav, TextGrid) for every metadata row."""
    for speaker, (language, _) in sorted(_speakers(root).items()):
        speaker_dir = root / language / speaker
        for utt_id in _metadata(speaker_dir):
            yield (language, speaker, utt_id, speaker_dir / "wavs" / f"{utt_id}.wav",
                   speaker_dir / "alignments" / f"{utt_id}.TextGrid")


def test_speakers_languages_and_counts(tiny_corpus):
    root = tiny_corpus("mlms")
    speakers = _speakers(root)
    on_disk = {p.name: p.parent.name for p in root.glob("*/*") if p.is_dir()}
    assert on_disk == {s: language for s, (language, _) in speakers.items()}
    genders = {}
    for speaker, (language, gender) in speakers.items():
        assert re.fullmatch(rf"{language}_{gender.lower()}\d", speaker), speaker
        genders.setdefault(language, []).append(gender)
    # the MLMS paper: one female speaker per language, plus a male one in the two English languages
    assert set(genders) == {*TRAINING_LANGUAGES, *HELD_OUT_LANGUAGES}
    for language, found in genders.items():
        assert sorted(found) == (["F", "M"] if language in ("en-us", "en-gb") else ["F"])
    spec = mlms.SIZES["tiny"]
    for speaker, (language, _) in speakers.items():
        count = len(_metadata(root / language / speaker))
        held_out = language in HELD_OUT_LANGUAGES
        assert count == (spec.held_out_utterances if held_out else spec.training_utterances)
    assert spec.held_out_utterances < spec.training_utterances


def test_metadata_matches_files(tiny_corpus):
    root = tiny_corpus("mlms")
    for speaker, (language, _) in _speakers(root).items():
        speaker_dir = root / language / speaker
        rows = _metadata(speaker_dir)
        assert all(re.fullmatch(rf"{speaker}_\d{{4}}", utt_id) for utt_id in rows)
        assert {p.stem for p in (speaker_dir / "wavs").glob("*.wav")} == set(rows)
        assert {p.stem for p in (speaker_dir / "alignments").glob("*.TextGrid")} == set(rows)
        for text, normalized in rows.values():
            assert text[0].isupper() and text.endswith(".")
            assert normalized == re.sub(r"[^\w\s]", "", text).lower()


def test_audio_is_valid(tiny_corpus):
    for *_, wav, _ in _utterances(tiny_corpus("mlms")):
        assert_valid_audio(wav, 22050)


def test_textgrids_tile_the_audio_and_match_the_text(tiny_corpus):
    root = tiny_corpus("mlms")
    for language, speaker, utt_id, wav, path in _utterances(root):
        grid = read_textgrid(path)
        assert list(grid.tiers) == ["words", "phones"]
        assert grid.xmin == 0 and abs(grid.xmax - sf.info(wav).duration) < FRAME_S, path
        for intervals in grid.tiers.values():
            assert intervals[0].start == grid.xmin and intervals[-1].end == grid.xmax
            assert all(a.end == b.start < b.end for a, b in zip(intervals, intervals[1:]))
        words, phones = grid.tiers["words"], grid.tiers["phones"]
        normalized = _metadata(root / language / speaker)[utt_id][1]
        assert [w.label for w in words if w.label] == normalized.split()
        # MFA's conventions: silence is an empty label, and word boundaries are phone boundaries
        assert phones[0].label == phones[-1].label == ""
        assert {p.label for p in phones} - {""} <= LANGUAGES[language].inventory
        boundaries = {p.start for p in phones} | {grid.xmax}
        assert all(min(abs(b - t) for b in boundaries) < 1e-9 for w in words
                   for t in (w.start, w.end))


def test_textgrid_keeps_the_synthesizer_times(tmp_path):
    language = LANGUAGES["it"]
    utterance = synthesize(language.sample_sentence(np.random.default_rng(3), 9),
                           sample_speaker(np.random.default_rng(3), "it_f1", "F"), language, 3,
                           mlms.SAMPLE_RATE)
    end = utterance.plan.duration
    write_textgrid(tmp_path / "u.TextGrid", {
        "words": tile(utterance.words, 0.0, end),
        "phones": tile(utterance.phones, 0.0, end, silences=("sil",))}, 0.0, end)
    grid = read_textgrid(tmp_path / "u.TextGrid")
    # ends are written exactly; a start can be one float step off, being the previous end
    for tier, intervals in (("phones", utterance.phones), ("words", utterance.words)):
        written = [i for i in grid.tiers[tier] if i.label] if tier == "words" else grid.tiers[tier]
        assert [i.label or "sil" for i in written] == [i.label for i in intervals]
        assert [i.end for i in written] == [i.end for i in intervals]
        assert np.allclose([i.start for i in written], [i.start for i in intervals], rtol=0,
                           atol=1e-12)


def test_textgrid_reader_takes_praat_and_praatio_variants(tmp_path):
    """Tabs and Windows line endings (praatio), a quote inside a label, Praat's UTF-16."""
    text = ('File type = "ooTextFile"\r\nObject class = "TextGrid"\r\n\r\nxmin = 0 \r\n'
            'xmax = 1.5 \r\ntiers? <exists> \r\nsize = 1 \r\nitem []: \r\n\titem [1]:\r\n'
            '\t\tclass = "IntervalTier" \r\n\t\tname = "words" \r\n\t\txmin = 0 \r\n'
            '\t\txmax = 1.5 \r\n\t\tintervals: size = 2 \r\n\t\tintervals [1]:\r\n'
            '\t\t\txmin = 0 \r\n\t\t\txmax = 0.25 \r\n\t\t\ttext = "" \r\n'
            '\t\tintervals [2]:\r\n\t\t\txmin = 0.25 \r\n\t\t\txmax = 1.5 \r\n'
            '\t\t\ttext = "say ""żółw"" 2 [3]" \r\n')
    expected = (Interval(0.0, 0.25, ""), Interval(0.25, 1.5, 'say "żółw" 2 [3]'))
    for encoding in ("utf-8", "utf-16"):
        (tmp_path / "t.TextGrid").write_bytes(text.encode(encoding))
        grid = read_textgrid(tmp_path / "t.TextGrid")
        assert (grid.xmin, grid.xmax, grid.tiers) == (0.0, 1.5, {"words": expected})
    write_textgrid(tmp_path / "again.TextGrid", {"words": expected}, 0.0, 1.5)
    assert read_textgrid(tmp_path / "again.TextGrid").tiers == {"words": expected}


def test_textgrid_errors_are_value_errors(tmp_path):
    (tmp_path / "bad.TextGrid").write_text("not a textgrid")
    with pytest.raises(ValueError):
        read_textgrid(tmp_path / "bad.TextGrid")
    with pytest.raises(ValueError, match="does not start"):
        write_textgrid(tmp_path / "gap.TextGrid", {"words": [Interval(0.1, 1.0, "a")]}, 0.0, 1.0)
    with pytest.raises(ValueError, match="overlaps"):
        tile([Interval(0.0, 0.6, "a"), Interval(0.5, 1.0, "b")], 0.0, 1.0)


def _split(rows):
    """Every third utterance of each speaker is held out for testing."""
    test = np.array([int(utt_id[-4:]) % 3 == 0 for utt_id in rows])
    return ~test, test


def test_language_is_learnable_from_the_phones_tier(tiny_corpus):
    """Phone frequencies of the TextGrids, logistic regression over the six training languages:
    trained on two thirds of the female speakers' utterances, tested on the other third and on
    the male speakers, whom it never saw. At least 80% right (chance is 1 in 6), and the only
    confusions are between the two English varieties, which share most of their phones."""
    root = tiny_corpus("mlms")
    rows = [(language, speaker, utt_id,
             [p.label for p in read_textgrid(path).tiers["phones"] if p.label])
            for language, speaker, utt_id, _, path in _utterances(root)
            if language in TRAINING_LANGUAGES]
    inventory = sorted({p for *_, phones in rows for p in phones})
    x = np.array([[phones.count(p) / len(phones) for p in inventory] for *_, phones in rows])
    y = np.array([language for language, *_ in rows])
    male = np.array([speaker.endswith("_m1") for _, speaker, *_ in rows])
    train, _ = _split([utt_id for _, _, utt_id, _ in rows])
    train &= ~male
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(x[train], y[train])
    predicted, truth = model.predict(x[~train]), y[~train]
    assert np.mean(predicted == truth) >= 0.8
    english = {"en-us", "en-gb"}
    assert all({p, t} <= english for p, t in zip(predicted, truth) if p != t)


def test_language_speaker_pairs_are_audible(tiny_corpus):
    """Mean and standard deviation of MFCCs, logistic regression over the six training
    languages' female speakers, on held-out utterances: at least 90% right (chance 1 in 6).
    With one speaker per language, as in the MLMS paper's data, this is the voice and language
    together; the phones test above is the one that generalises across speakers."""
    root = tiny_corpus("mlms")
    rows = [(language, utt_id, sf.read(wav)) for language, speaker, utt_id, wav, _
            in _utterances(root) if language in TRAINING_LANGUAGES and speaker.endswith("_f1")]
    features = []
    for _, _, (audio, sample_rate) in rows:
        coefficients = mfcc(audio, sample_rate, deltas=True)
        features.append(np.concatenate([coefficients.mean(0), coefficients.std(0)]))
    x, y = np.array(features), np.array([language for language, *_ in rows])
    train, test = _split([utt_id for _, utt_id, _ in rows])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(x[train], y[train])
    assert np.mean(model.predict(x[test]) == y[test]) >= 0.9


def test_same_seed_gives_identical_bytes(tiny_corpus, tmp_path):
    ours = mlms.build(tmp_path, seed=0, workers=1)
    theirs = tiny_corpus("mlms")
    for name in ("speakers.tsv", "fr/fr_f1/metadata.csv", "fr/fr_f1/wavs/fr_f1_0003.wav",
                 "en-gb/en-gb_m1/alignments/en-gb_m1_0012.TextGrid",
                 "pl/pl_f1/wavs/pl_f1_0006.wav"):
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name


def test_unknown_size_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="unknown size"):
        mlms.build(tmp_path, size="huge")
