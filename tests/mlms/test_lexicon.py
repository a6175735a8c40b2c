"""The lexicon: pronunciations from the alignments, the most frequent one kept, JSON, unknown
words and languages, and text back to the aligned phones."""
from __future__ import annotations

import pandas as pd
import pytest

from voxflow.ingest.manifest import validate
from voxflow.ingest.mlms import prepare_mlms
from voxflow.mlms.lexicon import Lexicon, UnknownLanguage, UnknownWord
from voxflow.mlms.linguistic import utterance_segments


def utterance(words=(("ab", ("a", "b")),), language="xx", utt_id="u1") -> dict:
    """A manifest row: `words` ((text, phone labels), ...) aligned back to back, 0.1 s per
    phone, 0.2 s of silence before and after."""
    time, word_rows, phone_rows = 0.2, [], []
    for text, labels in words:
        start = time
        for label in labels:
            phone_rows.append({"start": time, "end": time + 0.1, "label": label})
            time += 0.1
        word_rows.append({"start": start, "end": time, "label": text})
    return {"utt_id": utt_id, "language": language, "duration": time + 0.2,
            "words": word_rows, "phones": phone_rows, "text": " ".join(w for w, _ in words)}


def lexicon_of(*rows: dict) -> Lexicon:
    return Lexicon.from_manifest(pd.DataFrame(list(rows)))


@pytest.fixture(scope="module")
def corpus(tiny_corpus) -> pd.DataFrame:
    """The tiny corpus's manifest table."""
    return validate(prepare_mlms(tiny_corpus("mlms")).rows).to_pandas()


@pytest.fixture(scope="module")
def training_lexicon(corpus) -> Lexicon:
    return Lexicon.from_manifest(corpus[corpus["split"] == "train"])


def test_a_pronunciation_is_the_phones_of_its_word():
    lexicon = lexicon_of(utterance((("ab", ("a", "b")), ("c", ("c", "a")))))
    assert lexicon.pronunciations == {"xx": {"ab": ("a", "b"), "c": ("c", "a")}}


def test_stress_digits_are_kept():
    lexicon = lexicon_of(utterance((("about", ("AH0", "B", "AW1", "T")),), language="en"))
    assert lexicon.pronounce("about", "en") == ("AH0", "B", "AW1", "T")


def test_languages_have_separate_lexicons():
    lexicon = lexicon_of(utterance((("a", ("a",)),), language="fr"),
                         utterance((("a", ("ey",)),), language="en", utt_id="u2"))
    assert (lexicon.pronounce("a", "fr"), lexicon.pronounce("a", "en")) == (("a",), ("ey",))


def test_the_most_frequent_pronunciation_wins():
    rows = [utterance((("ab", ("a", "b")),), utt_id="u1"),
            utterance((("ab", ("a", "p")),), utt_id="u2"),
            utterance((("ab", ("a", "p")),), utt_id="u3")]
    assert lexicon_of(*rows).pronounce("ab", "xx") == ("a", "p")


def test_ties_go_to_the_first_pronunciation_in_sorted_order_whatever_the_row_order():
    rows = [utterance((("ab", ("a", "p")),), utt_id="u1"),
            utterance((("ab", ("a", "b")),), utt_id="u2")]
    assert [lexicon_of(*order).pronounce("ab", "xx") for order in (rows, rows[::-1])] == \
        [("a", "b"), ("a", "b")]


def test_lexicon_round_trips_through_json(training_lexicon):
    assert Lexicon.from_json(training_lexicon.to_json()) == training_lexicon


def test_unknown_word_error_names_the_word_and_the_language():
    lexicon = lexicon_of(utterance())
    with pytest.raises(UnknownWord, match=r"'zebra'.*xx"):
        lexicon.segments_for_text("ab zebra", "xx")


def test_unknown_language_is_an_error_naming_it():
    with pytest.raises(UnknownLanguage, match="'klingon'"):
        lexicon_of(utterance()).segments_for_text("ab", "klingon")


def test_empty_text_is_an_error():
    with pytest.raises(ValueError, match="no words"):
        lexicon_of(utterance()).segments_for_text("  ", "xx")


def test_text_has_silence_around_the_words_and_none_between():
    lexicon = lexicon_of(utterance((("ab", ("a", "b")), ("c", ("c",)))))
    assert [(s.label, s.word) for s in lexicon.segments_for_text("c ab", "xx")] == \
        [("sil", None), ("c", 0), ("a", 1), ("b", 1), ("sil", None)]


def test_training_text_gives_the_aligned_phones(corpus, training_lexicon):
    for row in corpus[corpus["split"] == "train"].to_dict("records"):
        from_text = training_lexicon.segments_for_text(row["text"], row["language"])
        aligned = utterance_segments(row)
        assert [(s.label, s.word) for s in from_text if s.word is not None] == \
            [(s.label, s.word) for s in aligned if s.word is not None], row["utt_id"]
