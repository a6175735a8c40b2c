"""Word and character error rates of ASR hypotheses against reference transcripts (jiwer).

Transcripts come as Kaldi/ESPnet `text` files, `<utterance-id> <transcript>` per line.

Both sides are normalized the same way before scoring (`normalize_text`, unless
`normalize=False`, which only collapses whitespace):

1. Unicode NFKC (full-width and compatibility forms to plain ones), then lower case;
2. typographic apostrophes (U+2019, U+02BC) become `'`;
3. dashes and hyphens (Unicode category Pd) become spaces: "well-known" -> "well known";
4. every other punctuation character (Unicode categories P*) is deleted, except `'` between two
   letters or digits: "don't" stays, "'quoted'" -> "quoted", "dogs'" -> "dogs",
   "U.S.A." -> "usa", "50%" -> "50"; symbols (Unicode S*: + = $ < > ...) stay, so "<unk>" does;
5. whitespace runs become one space; leading and trailing whitespace goes.

Error rates are corpus-level: total errors over total reference units, not the mean of
per-utterance rates. WER counts words (whitespace-separated); CER counts characters including the
single spaces between words (as jiwer's `cer` and ESPnet's CER with `<space>` tokens), so a
missing word boundary is one error. An utterance whose reference is empty after normalization is
scored too: its hypothesis words count as insertions in the totals, and its own WER/CER are NaN.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

import jiwer
import pandas as pd

from voxflow.evaluation.report import Report

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'"})
_LONE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")    # not between two word characters


def _punctuation_rule(character: str) -> str:
    category = unicodedata.category(character)
    if character == "'" or not category.startswith("P"):
        return character
    return " " if category == "Pd" else ""


def normalize_text(text: str) -> str:
    """The text as scored: see the module docstring for the rules."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES)
    text = "".join(_punctuation_rule(c) for c in text)
    return " ".join(_LONE_APOSTROPHE.sub("", text).split())


def read_kaldi_text(path: Path) -> dict[str, str]:
    """{utterance id: transcript} of a Kaldi/ESPnet `text` file; a line with only an id is an
    empty transcript, blank lines are skipped, a repeated id is an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: transcript file not found")
    texts: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.strip().split(maxsplit=1)
        if not fields:
            continue
        utterance = fields[0]
        if utterance in texts:
            raise ValueError(f"{path}:{number}: utterance id {utterance!r} already appears on "
                             f"line {first_line[utterance]}")
        texts[utterance] = fields[1] if len(fields) > 1 else ""
        first_line[utterance] = number
    return texts


def _check_ids(references: dict, hypotheses: dict) -> None:
    if not references:
        raise ValueError("no reference transcripts to score")
    problems = []
    for ids, what in (([u for u in references if u not in hypotheses],
                       "reference id(s) have no hypothesis"),
                      ([u for u in hypotheses if u not in references],
                       "hypothesis id(s) are not in the references")):
        if ids:
            problems.append(f"{len(ids)} {what}, e.g. {', '.join(map(str, ids[:5]))}")
    if problems:
        raise ValueError("; ".join(problems))


class Counts(NamedTuple):
    """Edit operations of one alignment and the reference length, in words or characters."""
    substitutions: int
    deletions: int
    insertions: int
    reference: int

    @property
    def rate(self) -> float:
        """(S + D + I) / reference length; NaN for an empty reference."""
        errors = self.substitutions + self.deletions + self.insertions
        return errors / self.reference if self.reference else float("nan")


def _counts(output) -> Counts:
    """The counts of a jiwer `process_words` / `process_characters` output."""
    return Counts(output.substitutions, output.deletions, output.insertions,
                  output.hits + output.substitutions + output.deletions)


def evaluate_transcripts(references: dict[str, str], hypotheses: dict[str, str],
                         normalize: bool = True) -> Report:
    """Corpus WER and CER of `hypotheses` against `references` ({utterance id: text}, the same
    ids on both sides). Table "transcripts": per utterance the scored (normalized) texts, WER,
    its substitutions, deletions, insertions and reference words, and CER."""
    _check_ids(references, hypotheses)
    clean = normalize_text if normalize else (lambda text: " ".join(text.split()))
    rows, word_counts, character_counts = [], [], []
    for utterance, reference in references.items():
        reference, hypothesis = clean(reference), clean(hypotheses[utterance])
        # jiwer scores an empty reference as all insertions
        words = _counts(jiwer.process_words(reference, hypothesis))
        characters = _counts(jiwer.process_characters(reference, hypothesis))
        word_counts.append(words)
        character_counts.append(characters)
        rows.append({"id": utterance, "reference": reference, "hypothesis": hypothesis,
                     "wer": words.rate, "substitutions": words.substitutions,
                     "deletions": words.deletions, "insertions": words.insertions,
                     "ref_words": words.reference, "cer": characters.rate})
    # corpus level: sum the counts, then divide
    word_totals = Counts(*map(sum, zip(*word_counts)))
    character_totals = Counts(*map(sum, zip(*character_counts)))
    if word_totals.reference == 0:
        raise ValueError("every reference is empty after normalization: no words to score")
    metrics = {"wer": word_totals.rate, "cer": character_totals.rate,
               "substitutions": word_totals.substitutions, "deletions": word_totals.deletions,
               "insertions": word_totals.insertions, "ref_words": word_totals.reference,
               "utterances": len(rows)}
    return Report(metrics=metrics, tables={"transcripts": pd.DataFrame(rows)})
