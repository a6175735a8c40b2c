"""WER and CER: hand-counted cases, corpus-level aggregation, the text normalization, the Kaldi
`text` reader and its errors."""
from __future__ import annotations

import math

import pytest

from voxflow.evaluation.transcripts import evaluate_transcripts, normalize_text, read_kaldi_text


def test_wer_by_hand():
    report = evaluate_transcripts({"u1": "the cat sat on the mat"}, {"u1": "the cat sit on mat"})
    # sat -> sit (substitution), one "the" missing (deletion), over 6 reference words
    assert report.metrics["wer"] == pytest.approx(2 / 6)
    assert (report.metrics["substitutions"], report.metrics["deletions"],
            report.metrics["insertions"], report.metrics["ref_words"]) == (1, 1, 0, 6)
    row = report.tables["transcripts"].iloc[0]
    assert row["wer"] == pytest.approx(1 / 3) and row["ref_words"] == 6


def test_insertions_make_wer_exceed_one():
    report = evaluate_transcripts({"u": "yes"}, {"u": "oh yes yes indeed"})
    assert report.metrics["insertions"] == 3
    assert report.metrics["wer"] == pytest.approx(3.0)


def test_corpus_wer_is_total_errors_over_total_words_not_the_mean():
    references = {"short": "hello", "long": "one two three four five six seven eight nine"}
    hypotheses = {"short": "yellow", "long": "one two three four five six seven eight nine"}
    report = evaluate_transcripts(references, hypotheses)
    # per utterance 1/1 and 0/9: mean 0.5, corpus 1/10
    assert report.tables["transcripts"]["wer"].tolist() == [1.0, 0.0]
    assert report.metrics["wer"] == pytest.approx(0.1)
    assert report.metrics["utterances"] == 2 and report.metrics["ref_words"] == 10


def test_cer_by_hand_counts_spaces():
    report = evaluate_transcripts({"u": "ab cd"}, {"u": "ab ce"})
    assert report.metrics["cer"] == pytest.approx(1 / 5)      # d -> e over 5 characters
    # a merged word: the lost space is one character error, the word error two (1 sub, 1 del)
    merged = evaluate_transcripts({"u": "ab cd", "v": "ef"}, {"u": "abcd", "v": "ef"})
    assert merged.metrics["cer"] == pytest.approx(1 / 7)
    assert merged.metrics["wer"] == pytest.approx(2 / 3)
    assert merged.tables["transcripts"]["cer"].tolist() == pytest.approx([1 / 5, 0.0])


@pytest.mark.parametrize(("raw", "normalized"), [
    ("The Cat SAT", "the cat sat"),
    ("Hello, world! Is it... over?", "hello world is it over"),
    ("Don't stop; it's John's.", "don't stop it's john's"),
    ("\u2018Quoted\u2019 and rock \u2019n\u2019 roll, the dogs' bones",
     "quoted and rock n roll the dogs bones"),
    ("I don\u2019t know", "i don't know"),
    ("well-known state\u2014of\u2013the-art", "well known state of the art"),
    ("  spaced \t out\n  words  ", "spaced out words"),
    ("U.S.A. (and) [noise] \"quote\"", "usa and noise quote"),
    ("\uff21\uff22\uff23 caf\u0065\u0301 \ufb01ne", "abc caf\u00e9 fine"),    # NFKC
    ("50% + 5 = $55 <unk>", "50 + 5 = $55 <unk>"),    # % is punctuation (Po), the rest symbols
    ("...", ""),
])
def test_normalization_rules(raw, normalized):
    assert normalize_text(raw) == normalized


def test_normalization_applies_to_both_sides_unless_disabled():
    references, hypotheses = {"u": "Hello, World!"}, {"u": "hello   world"}
    assert evaluate_transcripts(references, hypotheses).metrics["wer"] == 0
    raw = evaluate_transcripts(references, hypotheses, normalize=False)
    assert raw.metrics["wer"] == 1.0                      # "Hello," and "World!" differ
    assert raw.tables["transcripts"]["hypothesis"].tolist() == ["hello world"]


def test_empty_reference_counts_its_insertions():
    report = evaluate_transcripts({"a": "one two", "b": "?!"}, {"a": "one two", "b": "uh um"})
    row = report.tables["transcripts"].set_index("id").loc["b"]
    assert row["reference"] == "" and row["insertions"] == 2 and math.isnan(row["wer"])
    assert math.isnan(row["cer"])
    assert report.metrics["wer"] == pytest.approx(2 / 2)
    with pytest.raises(ValueError, match="every reference is empty"):
        evaluate_transcripts({"b": "..."}, {"b": "uh"})


def test_missing_and_extra_ids_are_errors_listing_them():
    references = {f"utt{i}": "a b" for i in range(8)}
    hypotheses = {f"utt{i}": "a b" for i in range(2)} | {"other": "x"}
    with pytest.raises(ValueError) as error:
        evaluate_transcripts(references, hypotheses)
    message = str(error.value)
    assert "6 reference id(s) have no hypothesis, e.g. utt2, utt3, utt4, utt5, utt6" in message
    assert "utt7" not in message
    assert "1 hypothesis id(s) are not in the references, e.g. other" in message
    with pytest.raises(ValueError, match="no reference transcripts"):
        evaluate_transcripts({}, {})


def test_read_kaldi_text(tmp_path):
    path = tmp_path / "text"
    path.write_text("utt1 THE CAT  sat\n\nutt2\nutt3   hello world  \nutt4\t tabbed\n",
                    encoding="utf-8")
    assert read_kaldi_text(path) == {"utt1": "THE CAT  sat", "utt2": "", "utt3": "hello world",
                                     "utt4": "tabbed"}
    path.write_text("a one\nb two\na three\n")
    with pytest.raises(ValueError, match=rf"{path}:3: utterance id 'a' already appears on "
                                         "line 1"):
        read_kaldi_text(path)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_kaldi_text(tmp_path / "missing")


def test_read_and_score_files(tmp_path):
    (tmp_path / "ref").write_text("u1 The cat sat on the mat.\nu2 Good morning!\n")
    (tmp_path / "hyp").write_text("u2 good morning\nu1 the cat sit on mat\n")
    report = evaluate_transcripts(read_kaldi_text(tmp_path / "ref"),
                                  read_kaldi_text(tmp_path / "hyp"))
    assert report.metrics["wer"] == pytest.approx(2 / 8)
    assert report.tables["transcripts"]["id"].tolist() == ["u1", "u2"]
    assert list(report.tables["transcripts"].columns) == [
        "id", "reference", "hypothesis", "wer", "substitutions", "deletions", "insertions",
        "ref_words", "cer"]
