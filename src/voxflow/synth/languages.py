"""Synthetic languages: phoneme inventories, phonotactics, prosody and word lists.

Eight languages loosely modelled on those of the MLMS paper (six training languages, two held-out
adaptation targets). They are not the real languages: each is a distinct inventory drawn from the
universal phone table, syllable templates, a stress rule and a prosodic style, which is what an
acoustic model has to learn to tell them apart. "en-us" is the English-like language used for
LibriTTS, GRID and IEMOCAP; its lexicon holds the real GRID grammar words and the digits with
hand-written pronunciations, plus pseudo-words generated from the inventory.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from voxflow.synth.phones import PHONES


@dataclass(frozen=True)
class Word:
    text: str
    syllables: tuple[tuple[str, ...], ...]
    stress: int                         # index of the stressed syllable

    @property
    def phones(self) -> tuple[str, ...]:
        return tuple(p for syl in self.syllables for p in syl)


@dataclass(frozen=True)
class Prosody:
    rate: float                 # phone-duration multiplier (>1 is slower)
    accent_st: float            # pitch-accent height on stressed syllables (semitones)
    accent_delay: float         # accent peak position within the stressed vowel (0..1)
    declination_st: float       # F0 fall across a phrase (semitones)
    final_contour: str          # "fall" or "rise" at the end of non-final phrases
    stressed_lengthening: float


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    vowels: tuple[str, ...]
    onsets: tuple[tuple[str, ...], ...]          # allowed onset clusters (empty tuple: none)
    codas: tuple[tuple[str, ...], ...]
    templates: dict[str, float]                   # "CV", "CVC", "V", ... -> weight
    stress_rule: str                              # "initial", "penultimate", "final"
    prosody: Prosody
    syllables_per_word: dict[int, float]
    graphemes: dict[str, str] = field(default_factory=dict)
    hand_lexicon: dict[str, str] = field(default_factory=dict)
    vocabulary_size: int = 400

    @property
    def inventory(self) -> set[str]:
        phones = set(self.vowels)
        for cluster in self.onsets + self.codas:
            phones.update(cluster)
        for pron in self.hand_lexicon.values():
            phones.update(p.lstrip("*") for p in pron.split() if p != ".")
        return phones

    def spell(self, phones) -> str:
        return "".join(self.graphemes.get(p, PHONES[p].grapheme) for p in phones)

    @cached_property
    def lexicon(self) -> dict[str, Word]:
        """Word list: the hand lexicon first, then pseudo-words, deterministic per language."""
        words = {text: _parse_pron(text, pron) for text, pron in self.hand_lexicon.items()}
        rng = np.random.default_rng(zlib.crc32(self.code.encode()))
        n_syl = list(self.syllables_per_word)
        p_syl = np.array([self.syllables_per_word[k] for k in n_syl], float)
        while len(words) < self.vocabulary_size:
            count = n_syl[rng.choice(len(n_syl), p=p_syl / p_syl.sum())]
            syllables = tuple(self._syllable(rng, final=i == count - 1) for i in range(count))
            text = self.spell(p for syl in syllables for p in syl)
            if text not in words:
                words[text] = Word(text, syllables, self._stress_index(count))
        return words

    @cached_property
    def _ranked_words(self) -> tuple[list[str], np.ndarray]:
        texts = sorted(self.lexicon)
        order = np.random.default_rng(zlib.crc32(self.code.encode()) + 1).permutation(len(texts))
        ranked = [texts[i] for i in order]
        zipf = 1.0 / (np.arange(len(ranked)) + 2.0)
        return ranked, zipf / zipf.sum()

    def sample_words(self, rng: np.random.Generator, n_words: int) -> list[Word]:
        ranked, p = self._ranked_words
        return [self.lexicon[ranked[i]] for i in rng.choice(len(ranked), size=n_words, p=p)]

    def sample_sentence(self, rng: np.random.Generator, n_words: int) -> list[list[Word]]:
        """A sentence as phrases of words; phrase breaks fall every 3 to 7 words."""
        words = self.sample_words(rng, n_words)
        phrases, i = [], 0
        while i < len(words):
            size = int(rng.integers(3, 8))
            if len(words) - (i + size) < 2:
                size = len(words) - i
            phrases.append(words[i:i + size])
            i += size
        return phrases

    def _syllable(self, rng, final: bool) -> tuple[str, ...]:
        names = list(self.templates)
        weights = np.array([self.templates[t] for t in names], float)
        template = names[rng.choice(len(names), p=weights / weights.sum())]
        onset_len = template.index("V")
        coda_len = len(template) - onset_len - 1
        onset = self._cluster(rng, self.onsets, onset_len)
        coda = self._cluster(rng, self.codas, coda_len) if (final or coda_len < 2) else ()
        vowel = self.vowels[rng.integers(len(self.vowels))]
        return (*onset, vowel, *coda)

    @staticmethod
    def _cluster(rng, clusters, length) -> tuple[str, ...]:
        options = [c for c in clusters if len(c) == length]
        return options[rng.integers(len(options))] if options else ()

    def _stress_index(self, n_syllables: int) -> int:
        if self.stress_rule == "initial":
            return 0
        if self.stress_rule == "final":
            return n_syllables - 1
        return max(n_syllables - 2, 0)


def _parse_pron(text: str, pron: str) -> Word:
    """'ax . *g eh n' -> syllables split on '.', '*' marks stress (default: first syllable)."""
    syllables, stress = [], 0
    for i, chunk in enumerate(pron.split(".")):
        phones = chunk.split()
        if phones and phones[0].startswith("*"):
            stress, phones[0] = i, phones[0][1:]
        syllables.append(tuple(phones))
    for p in (p for syl in syllables for p in syl):
        if p not in PHONES:
            raise ValueError(f"unknown phone {p!r} in pronunciation of {text!r}")
    return Word(text, tuple(syllables), stress)


def _singles(names: str) -> tuple[tuple[str, ...], ...]:
    return tuple((n,) for n in names.split())


def _pairs(pairs: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(p.split("+")) for p in pairs.split())


# The real GRID grammar (command colour preposition letter digit adverb) and the digits.
GRID_WORDS = {
    "command": ["bin", "lay", "place", "set"],
    "color": ["blue", "green", "red", "white"],
    "preposition": ["at", "by", "in", "with"],
    "letter": list("abcdefghijklmnopqrstuvxyz"),
    "digit": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
    "adverb": ["again", "now", "please", "soon"],
}

_ENGLISH_HAND_LEXICON = {
    "bin": "b ih n", "lay": "l ey", "place": "p l ey s", "set": "s eh t",
    "blue": "b l uw", "green": "g r iy n", "red": "r eh d", "white": "w ay t",
    "at": "ae t", "by": "b ay", "in": "ih n", "with": "w ih dh",
    "again": "ax . *g eh n", "now": "n aw", "please": "p l iy z", "soon": "s uw n",
    "zero": "z ih . r ow", "one": "w ah n", "two": "t uw", "three": "th r iy", "four": "f ao r",
    "five": "f ay v", "six": "s ih k s", "seven": "s eh . v ax n", "eight": "ey t",
    "nine": "n ay n",
    "a": "ey", "b": "b iy", "c": "s iy", "d": "d iy", "e": "iy", "f": "eh f", "g": "jh iy",
    "h": "ey ch", "i": "ay", "j": "jh ey", "k": "k ey", "l": "eh l", "m": "eh m", "n": "eh n",
    "o": "ow", "p": "p iy", "q": "k y uw", "r": "aa r", "s": "eh s", "t": "t iy", "u": "y uw",
    "v": "v iy", "x": "eh k s", "y": "w ay", "z": "z iy",
    "the": "dh ax", "and": "ae n d", "of": "ah v", "to": "t uw", "was": "w ah z",
    "he": "hh iy", "she": "sh iy", "it": "ih t", "that": "dh ae t", "had": "hh ae d",
    "his": "hh ih z", "her": "hh er", "not": "n aa t", "but": "b ah t", "for": "f ao r",
    "on": "aa n", "they": "dh ey", "said": "s eh d", "you": "y uw", "we": "w iy",
    "all": "ao l", "so": "s ow", "my": "m ay", "me": "m iy", "no": "n ow", "do": "d uw",
    "time": "t ay m", "man": "m ae n", "day": "d ey", "way": "w ey", "old": "ow l d",
    "good": "g uh d", "came": "k ey m", "house": "hh aw s", "down": "d aw n",
    "little": "l ih . t ax l", "very": "v eh . r iy", "over": "ow . v er",
    "after": "ae f . t er", "never": "n eh . v er", "mother": "m ah . dh er",
    "father": "f aa . dh er", "water": "w ao . t er", "morning": "m ao r . n ih ng",
    "think": "th ih ng k", "thing": "th ih ng", "voice": "v oy s", "boy": "b oy",
    "night": "n ay t", "long": "l ao ng", "know": "n ow", "see": "s iy", "go": "g ow",
    "yes": "y eh s", "well": "w eh l", "just": "jh ah s t", "much": "m ah ch",
}

_EN_ONSETS = _singles("p b t d k g f v th dh s z sh hh ch jh m n l r w y") + _pairs(
    "p+l p+r b+l b+r t+r d+r k+l k+r g+l g+r f+l f+r s+t s+p s+k s+l s+m s+n th+r")
_EN_CODAS = _singles("p b t d k g f v th s z sh ch jh m n ng l r") + _pairs(
    "n+t n+d s+t m+p ng+k l+d r+t r+d k+s n+z l+z")

LANGUAGES: dict[str, Language] = {lang.code: lang for lang in [
    Language(
        "en-us", "English-like (US)",
        vowels=("iy", "ih", "eh", "ae", "aa", "ao", "uh", "uw", "ah", "er", "ey", "ay", "ow", "aw"),
        onsets=_EN_ONSETS, codas=_EN_CODAS,
        templates={"CV": 0.3, "CVC": 0.35, "V": 0.05, "VC": 0.08, "CCV": 0.1, "CCVC": 0.08,
                   "CVCC": 0.04},
        stress_rule="initial",
        prosody=Prosody(rate=1.0, accent_st=3.5, accent_delay=0.4, declination_st=3.0,
                        final_contour="rise", stressed_lengthening=1.35),
        syllables_per_word={1: 0.5, 2: 0.35, 3: 0.15},
        hand_lexicon=_ENGLISH_HAND_LEXICON),
    Language(
        "en-gb", "English-like (UK)",
        vowels=("iy", "ih", "eh", "ae", "aa", "ao", "uh", "uw", "ah", "ax", "ey", "ay", "ow", "oy"),
        onsets=_EN_ONSETS, codas=_EN_CODAS,
        templates={"CV": 0.3, "CVC": 0.35, "V": 0.05, "VC": 0.1, "CCV": 0.1, "CCVC": 0.1},
        stress_rule="initial",
        prosody=Prosody(rate=0.95, accent_st=5.0, accent_delay=0.2, declination_st=4.5,
                        final_contour="fall", stressed_lengthening=1.3),
        syllables_per_word={1: 0.45, 2: 0.4, 3: 0.15}),
    Language(
        "fr", "French-like",
        vowels=("i", "e", "eh", "a", "o", "u", "ue", "oe", "ax", "an", "on", "en"),
        onsets=_singles("p b t d k g f v s z sh zh m n l rx ny y w") + _pairs(
            "p+rx b+rx t+rx k+rx p+l b+l k+l f+rx"),
        codas=_singles("rx l t k s m n"),
        templates={"CV": 0.6, "CVC": 0.2, "V": 0.08, "CCV": 0.12},
        stress_rule="final",
        prosody=Prosody(rate=0.9, accent_st=2.5, accent_delay=0.8, declination_st=2.0,
                        final_contour="rise", stressed_lengthening=1.5),
        syllables_per_word={1: 0.3, 2: 0.45, 3: 0.25},
        graphemes={"sh": "ch", "zh": "j", "rx": "r", "ue": "u", "u": "ou", "ny": "gn"}),
    Language(
        "it", "Italian-like",
        vowels=("i", "e", "eh", "a", "ao", "o", "u"),
        onsets=_singles("p b t d k g f v s z ts ch jh m n ny l rr dx") + _pairs(
            "p+rr t+rr k+rr s+t s+p"),
        codas=_singles("n l rr s"),
        templates={"CV": 0.75, "CVC": 0.15, "V": 0.1},
        stress_rule="penultimate",
        prosody=Prosody(rate=0.95, accent_st=4.5, accent_delay=0.5, declination_st=3.5,
                        final_contour="fall", stressed_lengthening=1.45),
        syllables_per_word={2: 0.45, 3: 0.4, 4: 0.15},
        graphemes={"ts": "z", "ch": "ci", "jh": "gi", "ny": "gn", "ao": "o"}),
    Language(
        "de", "German-like",
        vowels=("i", "ih", "e", "eh", "a", "o", "u", "ue", "oe", "ax", "ay", "aw"),
        onsets=_singles("p b t d k g f v s z sh ts x hh m n l rx y") + _pairs(
            "sh+t sh+p sh+rx k+l k+rx t+rx b+rx f+rx g+l"),
        codas=_singles("p t k f s sh x m n ng l rx") + _pairs("n+t l+t rx+t s+t x+t n+s ts+t"),
        templates={"CV": 0.25, "CVC": 0.4, "CCVC": 0.15, "CVCC": 0.12, "VC": 0.08},
        stress_rule="initial",
        prosody=Prosody(rate=1.05, accent_st=3.0, accent_delay=0.35, declination_st=3.0,
                        final_contour="fall", stressed_lengthening=1.3),
        syllables_per_word={1: 0.4, 2: 0.4, 3: 0.2},
        graphemes={"sh": "sch", "ts": "z", "x": "ch", "rx": "r", "y": "j", "ay": "ei",
                   "aw": "au", "v": "w"}),
    Language(
        "es", "Spanish-like",
        vowels=("i", "e", "a", "o", "u"),
        onsets=_singles("p b t d k g f s x ch m n ny l rr dx y") + _pairs(
            "p+dx b+dx t+dx k+dx p+l k+l f+dx"),
        codas=_singles("n s l dx d"),
        templates={"CV": 0.7, "CVC": 0.2, "V": 0.05, "CCV": 0.05},
        stress_rule="penultimate",
        prosody=Prosody(rate=0.8, accent_st=3.0, accent_delay=0.9, declination_st=2.5,
                        final_contour="fall", stressed_lengthening=1.2),
        syllables_per_word={2: 0.5, 3: 0.35, 4: 0.15},
        graphemes={"x": "j", "dx": "r", "ny": "ñ", "y": "ll"}),
    # held-out low-resource targets (the MLMS paper sec. 4.2)
    Language(
        "pl", "Polish-like",
        vowels=("i", "ix", "e", "a", "o", "u", "en", "on"),
        onsets=_singles("p b t d k g f v s z sh zh sx ts ch x m n ny l rr w y") + _pairs(
            "p+sx p+rr t+rr k+rr s+t s+k sh+ch z+d p+sh"),
        codas=_singles("p t k f s sh sx ch m n ny l y"),
        templates={"CV": 0.45, "CVC": 0.25, "CCV": 0.2, "CCVC": 0.1},
        stress_rule="penultimate",
        prosody=Prosody(rate=1.0, accent_st=4.0, accent_delay=0.3, declination_st=3.5,
                        final_contour="rise", stressed_lengthening=1.25),
        syllables_per_word={2: 0.5, 3: 0.35, 4: 0.15},
        graphemes={"sh": "sz", "zh": "ż", "ch": "cz", "ts": "c", "x": "ch", "w": "ł",
                   "y": "j", "ix": "y", "en": "ę", "on": "ą", "v": "w"},
        vocabulary_size=250),
    Language(
        "pt-br", "Brazilian-Portuguese-like",
        vowels=("i", "e", "eh", "a", "ao", "o", "u", "an", "en", "on"),
        onsets=_singles("p b t d k g f v s z sh zh ch jh m n ny l rx dx") + _pairs(
            "p+dx b+dx t+dx k+dx p+l f+dx"),
        codas=_singles("s sh rx l"),
        templates={"CV": 0.7, "CVC": 0.15, "V": 0.1, "CCV": 0.05},
        stress_rule="penultimate",
        prosody=Prosody(rate=0.9, accent_st=5.5, accent_delay=0.6, declination_st=4.0,
                        final_contour="fall", stressed_lengthening=1.4),
        syllables_per_word={2: 0.45, 3: 0.4, 4: 0.15},
        graphemes={"sh": "x", "zh": "j", "ch": "tch", "jh": "dj", "rx": "rr", "dx": "r",
                   "ny": "nh", "an": "ã", "on": "õ", "ao": "ó", "eh": "é"},
        vocabulary_size=250),
]}

TRAINING_LANGUAGES = ("en-us", "en-gb", "fr", "it", "de", "es")
HELD_OUT_LANGUAGES = ("pl", "pt-br")
ENGLISH = LANGUAGES["en-us"]
