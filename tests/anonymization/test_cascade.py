"""The cascade's transcript in the voice's vocabulary (paper 003 section 2.3)."""
from __future__ import annotations

import pytest

from voxflow.anonymization.cascade import nearest_word

VOCABULARY = sorted(["brawch", "soon", "we", "zuddhuth"])


def test_a_word_of_the_vocabulary_is_kept():
    assert nearest_word("soon", VOCABULARY) == "soon"


def test_an_unknown_word_becomes_the_nearest_in_characters():
    assert nearest_word("brawh", VOCABULARY) == "brawch"
    assert nearest_word("zudhuth", VOCABULARY) == "zuddhuth"


def test_a_tie_goes_to_the_first_word_in_sorted_order():
    assert nearest_word("ab", ["ax", "ay"]) == "ax"


def test_an_empty_vocabulary_is_refused():
    with pytest.raises(ValueError, match="vocabulary is empty"):
        nearest_word("we", [])
