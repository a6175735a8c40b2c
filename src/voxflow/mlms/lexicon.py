"""Each language's pronunciation lexicon, read off the training alignments, and the segments of a
text for synthesis.

A word's pronunciation is the sequence of phone labels inside its interval of the words tier
(`voxflow.mlms.linguistic.segments`: each phone belongs to the word that holds its midpoint),
stress marks kept as aligned. A word aligned with several pronunciations keeps its most frequent
one; ties go to the first in sorted order, so the lexicon depends only on the alignments.

From text (`segments_for_text`): the words are the whitespace-separated tokens of normalized
text, as in the manifest's `text` and the TextGrids' words tier (matched exactly, case
included); the segments are a leading silence, every word's phones, and a trailing silence.
Normalized text has no punctuation, so there is no pause between words (the aligned utterances
have some: `voxflow.mlms.linguistic` documents the consequence). A word the language's lexicon
lacks is an `UnknownWord` error: voxflow has no letter-to-sound rules to guess it.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from voxflow.evaluation.report import require_columns
from voxflow.mlms.linguistic import (MANIFEST_COLUMNS, SILENCE, Segment, is_silence,
                                     utterance_segments)


class UnknownWord(ValueError):
    """A word of the text is not in the language's lexicon."""


class UnknownLanguage(ValueError):
    """The lexicon has no word of that language."""


@dataclass(frozen=True)
class Lexicon:
    """language -> word -> its phone labels, as aligned."""
    pronunciations: dict[str, dict[str, tuple[str, ...]]]

    @classmethod
    def from_manifest(cls, manifest: pd.DataFrame) -> Lexicon:
        """The lexicon of the alignments of every row of a manifest table (pass the training
        rows alone for a lexicon of the training alignments)."""
        require_columns(manifest, MANIFEST_COLUMNS, "mlms manifest")
        counts: dict[str, dict[str, Counter]] = {}
        for row in manifest.to_dict("records"):
            spoken = [w["label"] for w in row["words"] if not is_silence(w["label"])]
            phones: dict[int, list[str]] = {}
            for segment in utterance_segments(row):
                if segment.word is not None:
                    phones.setdefault(segment.word, []).append(segment.label)
            for word, labels in phones.items():
                counts.setdefault(row["language"], {}).setdefault(
                    spoken[word], Counter())[tuple(labels)] += 1
        return cls({language: {word: _most_frequent(counts[language][word])
                               for word in sorted(counts[language])}
                    for language in sorted(counts)})

    def to_json(self) -> str:
        return json.dumps(self.pronunciations, indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Lexicon:
        return cls({language: {word: tuple(pron) for word, pron in words.items()}
                    for language, words in json.loads(text).items()})

    def pronounce(self, word: str, language: str) -> tuple[str, ...]:
        """The phone labels of one word; UnknownWord or UnknownLanguage if the lexicon has
        neither."""
        if language not in self.pronunciations:
            raise UnknownLanguage(f"no lexicon for language {language!r} (the lexicon has "
                                  f"{', '.join(self.pronunciations)})")
        if word not in self.pronunciations[language]:
            raise UnknownWord(f"word {word!r} is not in the {language} lexicon "
                              f"({len(self.pronunciations[language])} words from its "
                              "training alignments)")
        return self.pronunciations[language][word]

    def segments_for_text(self, text: str, language: str) -> list[Segment]:
        """Normalized text -> its segments without times: SILENCE, each word's phones (`word`
        its position in the text), SILENCE."""
        words = text.split()
        if not words:
            raise ValueError(f"no words in the text {text!r}")
        phones = [Segment(label, k) for k, word in enumerate(words)
                  for label in self.pronounce(word, language)]
        return [Segment(SILENCE, None), *phones, Segment(SILENCE, None)]


def _most_frequent(pronunciations: Counter) -> tuple[str, ...]:
    """The most frequent pronunciation; ties to the first in sorted order."""
    return min(pronunciations, key=lambda pron: (-pronunciations[pron], pron))
