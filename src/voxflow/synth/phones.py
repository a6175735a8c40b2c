"""The universal phone table of the synthesizer.

Formant targets are for a 17.5 cm adult vocal tract (Peterson & Barney / Klatt 1980 values);
speakers scale them by their vocal-tract length. Articulatory targets (jaw opening, lip rounding,
lip spread, each in [0, 1]) drive the talking face of the GRID videos, so bilabials close the
mouth and open vowels open it wide.
"""
from __future__ import annotations

from dataclasses import dataclass

VOWEL, DIPHTHONG, FRICATIVE, PLOSIVE, AFFRICATE, NASAL, APPROXIMANT, SILENCE = (
    "vowel", "diphthong", "fricative", "plosive", "affricate", "nasal", "approximant", "silence")


@dataclass(frozen=True)
class Phone:
    name: str
    kind: str
    voiced: bool
    formants: tuple[float, float, float]           # F1-F3 target (Hz); consonants: locus
    jaw: float
    rounding: float
    spread: float
    duration: float                                 # intrinsic duration (s)
    grapheme: str
    formants_end: tuple[float, float, float] | None = None   # diphthong glide target
    frication: tuple[float, float] | None = None    # noise centre (Hz), bandwidth (Hz)
    frication_gain: float = 0.0
    nasal_zero: float | None = None                 # antiresonance of nasals and nasal vowels (Hz)


def _v(name, f, jaw, rnd, spr, dur, g, end=None, nasal=None):
    kind = DIPHTHONG if end else VOWEL
    return Phone(name, kind, True, f, jaw, rnd, spr, dur, g, formants_end=end, nasal_zero=nasal)


def _c(name, kind, voiced, locus, jaw, rnd, spr, dur, g, fric=None, gain=0.0, nasal=None):
    return Phone(name, kind, voiced, locus, jaw, rnd, spr, dur, g, frication=fric,
                 frication_gain=gain, nasal_zero=nasal)


_PHONES = [
    # vowels: F1 F2 F3, jaw, rounding, spread, duration, grapheme
    _v("iy", (280, 2250, 2900), 0.25, 0.0, 0.9, 0.105, "ee"),
    _v("ih", (400, 1920, 2560), 0.35, 0.0, 0.6, 0.075, "i"),
    _v("eh", (550, 1770, 2490), 0.55, 0.0, 0.45, 0.085, "e"),
    _v("ae", (690, 1660, 2490), 0.8, 0.0, 0.45, 0.115, "a"),
    _v("aa", (730, 1090, 2440), 0.95, 0.1, 0.1, 0.115, "ah"),
    _v("ao", (590, 880, 2540), 0.7, 0.6, 0.0, 0.115, "aw"),
    _v("uh", (450, 1030, 2380), 0.35, 0.6, 0.0, 0.075, "oo"),
    _v("uw", (310, 870, 2250), 0.25, 1.0, 0.0, 0.105, "u"),
    _v("ah", (640, 1190, 2390), 0.65, 0.1, 0.15, 0.08, "u"),
    _v("ax", (500, 1500, 2500), 0.45, 0.1, 0.2, 0.06, "e"),
    _v("er", (490, 1350, 1690), 0.4, 0.4, 0.1, 0.11, "er"),
    _v("a", (750, 1250, 2550), 1.0, 0.05, 0.2, 0.095, "a"),
    _v("e", (420, 2050, 2650), 0.4, 0.0, 0.6, 0.09, "e"),
    _v("o", (460, 820, 2550), 0.5, 0.85, 0.0, 0.095, "o"),
    _v("i", (300, 2200, 2950), 0.25, 0.0, 0.85, 0.085, "i"),
    _v("u", (320, 800, 2300), 0.25, 1.0, 0.0, 0.09, "u"),
    _v("ue", (290, 1750, 2150), 0.25, 1.0, 0.0, 0.095, "ü"),    # front rounded [y]
    _v("oe", (420, 1550, 2300), 0.4, 0.8, 0.0, 0.095, "ö"),     # front rounded [ø]
    _v("ix", (330, 1600, 2450), 0.3, 0.0, 0.3, 0.08, "y"),      # central [ɨ]
    _v("an", (700, 1200, 2500), 0.85, 0.1, 0.2, 0.12, "an", nasal=1000),
    _v("on", (500, 850, 2500), 0.5, 0.8, 0.0, 0.12, "on", nasal=900),
    _v("en", (550, 1750, 2500), 0.55, 0.0, 0.4, 0.12, "en", nasal=1100),
    _v("ey", (480, 1950, 2600), 0.45, 0.0, 0.6, 0.14, "ay", end=(300, 2250, 2900)),
    _v("ay", (720, 1200, 2500), 0.95, 0.0, 0.3, 0.16, "igh", end=(320, 2100, 2800)),
    _v("ow", (500, 900, 2500), 0.5, 0.8, 0.0, 0.145, "oa", end=(330, 850, 2300)),
    _v("aw", (720, 1200, 2500), 0.95, 0.3, 0.1, 0.16, "ow", end=(350, 850, 2300)),
    _v("oy", (550, 880, 2550), 0.6, 0.7, 0.0, 0.17, "oy", end=(320, 2100, 2800)),
    # plosives: locus formants, jaw, rounding, spread, closure+release duration, burst spectrum
    _c("p", PLOSIVE, False, (400, 800, 2200), 0.05, 0.2, 0.0, 0.085, "p", (900, 1400), 0.5),
    _c("b", PLOSIVE, True, (300, 800, 2200), 0.05, 0.2, 0.0, 0.07, "b", (900, 1400), 0.35),
    _c("t", PLOSIVE, False, (400, 1750, 2700), 0.25, 0.0, 0.2, 0.08, "t", (4200, 2500), 0.7),
    _c("d", PLOSIVE, True, (300, 1750, 2700), 0.25, 0.0, 0.2, 0.065, "d", (4000, 2500), 0.5),
    _c("k", PLOSIVE, False, (400, 2000, 2400), 0.35, 0.0, 0.1, 0.09, "k", (2000, 900), 0.7),
    _c("g", PLOSIVE, True, (300, 2000, 2400), 0.35, 0.0, 0.1, 0.07, "g", (2000, 900), 0.5),
    # affricates: closure + strident release
    _c("ch", AFFRICATE, False, (400, 2000, 2600), 0.2, 0.5, 0.0, 0.11, "ch", (3000, 1600), 0.8),
    _c("jh", AFFRICATE, True, (300, 2000, 2600), 0.2, 0.5, 0.0, 0.09, "j", (3000, 1600), 0.55),
    _c("ts", AFFRICATE, False, (400, 1750, 2700), 0.22, 0.0, 0.3, 0.1, "z", (5200, 2400), 0.8),
    # fricatives: noise centre and bandwidth, relative noise gain
    _c("f", FRICATIVE, False, (350, 900, 2300), 0.12, 0.0, 0.2, 0.1, "f", (6000, 5000), 0.25),
    _c("v", FRICATIVE, True, (300, 900, 2300), 0.12, 0.0, 0.2, 0.07, "v", (6000, 5000), 0.15),
    _c("th", FRICATIVE, False, (400, 1400, 2700), 0.2, 0.0, 0.2, 0.1, "th", (6500, 5500), 0.2),
    _c("dh", FRICATIVE, True, (300, 1400, 2700), 0.2, 0.0, 0.2, 0.055, "dh", (6500, 5500), 0.12),
    _c("s", FRICATIVE, False, (400, 1700, 2700), 0.18, 0.0, 0.45, 0.11, "s", (5500, 2200), 0.9),
    _c("z", FRICATIVE, True, (300, 1700, 2700), 0.18, 0.0, 0.45, 0.08, "z", (5200, 2200), 0.5),
    _c("sh", FRICATIVE, False, (400, 1900, 2500), 0.2, 0.6, 0.0, 0.115, "sh", (2900, 1500), 0.9),
    _c("zh", FRICATIVE, True, (300, 1900, 2500), 0.2, 0.6, 0.0, 0.08, "zh", (2900, 1500), 0.5),
    _c("sx", FRICATIVE, False, (400, 2100, 2800), 0.2, 0.1, 0.4, 0.11, "ś", (3800, 1800), 0.85),
    _c("x", FRICATIVE, False, (400, 1400, 2400), 0.35, 0.0, 0.0, 0.1, "kh", (1600, 900), 0.55),
    _c("rx", FRICATIVE, True, (450, 1200, 2300), 0.35, 0.0, 0.0, 0.07, "r", (1300, 900), 0.25),
    _c("hh", FRICATIVE, False, (500, 1500, 2500), 0.45, 0.0, 0.1, 0.07, "h"),
    # nasals: murmur formants, nasal antiresonance
    _c("m", NASAL, True, (250, 1100, 2300), 0.04, 0.2, 0.0, 0.075, "m", nasal=1000),
    _c("n", NASAL, True, (250, 1650, 2500), 0.22, 0.0, 0.2, 0.065, "n", nasal=1800),
    _c("ng", NASAL, True, (250, 2000, 2400), 0.3, 0.0, 0.1, 0.08, "ng", nasal=3000),
    _c("ny", NASAL, True, (250, 2150, 2850), 0.22, 0.0, 0.3, 0.075, "ñ", nasal=2400),
    # approximants, trill and tap
    _c("l", APPROXIMANT, True, (360, 1300, 2700), 0.3, 0.0, 0.2, 0.065, "l"),
    _c("r", APPROXIMANT, True, (350, 1100, 1550), 0.3, 0.5, 0.0, 0.07, "r"),
    _c("w", APPROXIMANT, True, (300, 650, 2200), 0.15, 1.0, 0.0, 0.06, "w"),
    _c("y", APPROXIMANT, True, (260, 2150, 3000), 0.2, 0.0, 0.6, 0.055, "y"),
    _c("rr", APPROXIMANT, True, (420, 1300, 2500), 0.3, 0.0, 0.1, 0.075, "rr"),
    _c("dx", APPROXIMANT, True, (400, 1650, 2600), 0.3, 0.0, 0.2, 0.03, "r"),
    Phone("sil", SILENCE, False, (500, 1500, 2500), 0.0, 0.0, 0.0, 0.2, ""),
]

PHONES: dict[str, Phone] = {p.name: p for p in _PHONES}
SILENCE_PHONE = PHONES["sil"]
