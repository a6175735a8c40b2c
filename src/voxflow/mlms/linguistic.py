"""Linguistic features of the MLMS acoustic model, from the MFA alignments of the manifest (tiers
"words" and "phones") or from text through `voxflow.mlms.lexicon`.

An utterance is a sequence of `Segment`s: its phones plus an explicit silence ("sil") for every
gap of the phones tier (leading, between words, trailing up to the end of the audio). Per
segment, `phone_features` gives the phone-level vector (the duration model's input); with the
segments' frame counts (`phone_durations`, oracle durations from the alignment, as the paper
does) `frame_features` gives the acoustic model's frame-level input: the phone-level vector,
3 coarse-coded positions of the frame in its phone and 1 duration feature (paper, section 3).
Both are raw: the caller normalises them with training statistics.

Section 2 of the paper pools the linguistic features of all languages into their union and pads
with zeros what a language lacks. Here the union is of phone identities (`LinguisticSpec.phones`,
built from the alignments of every language): a language's one-hot simply never lights the
columns of phones it does not have. The paper's front-end (Zen et al. 2013) is not public;
what follows is what MFA alignments allow, and the choices it takes:

- Labels. A label's identity is the label without its stress mark: a trailing 0/1/2 (ARPAbet,
  "AH1": unstressed / primary / secondary) or a leading IPA "ˈ" / "ˌ" (primary / secondary). So
  tone digits of a tonal phone set would be misread as stress; no such language is in the paper.
  Labels "sil" and "sp" (older MFA and Kaldi) and the empty label are silence, words "<eps>" too.
- Vowels (`is_vowel`) are the syllable nuclei: a label whose first letter, after its stress mark,
  is a, e, i, o, u (any case: ARPAbet's AA..UW, its syllabic EL/EM/EN/ER, and the embedded
  corpus's ASCII names) or an IPA vowel letter. "y" is left out: ARPAbet and the embedded corpus
  use it for the glide /j/, so IPA's close front rounded [y] would count as a consonant.
- Syllables: each vowel is a nucleus; consonants before the first vowel and after the last join
  the first and the last syllable; consonants between two vowels all go to the following
  syllable (an onset-first simplification: English "after" splits ae | f t er). A word without
  a vowel is one syllable. MFA tiers carry no syllables, so this rule stands in for the
  front-end's syllabification.
- Stress of a syllable is its nucleus's mark: two columns (primary, secondary), zero when
  unstressed or unmarked; they exist only when some label of the manifest has a mark
  (`LinguisticSpec.has_stress`). The embedded corpus's TextGrids have none.
- Phrases: a silence between two words is a phrase break (MFA's short pauses included). Text has
  no pauses (normalized text has no punctuation), so an utterance synthesised from text is one
  phrase: a mismatch with the training alignments that the paper's oracle durations avoid.
- Context: the identities of `LinguisticSpec.context_phones` (default 2, the quinphone of
  HTS / Zen et al. 2013) phones either side, silences included; beyond the utterance: zeros.
- Positions and counts (`POSITION_NAMES`): phone in syllable, syllable in word, syllable in
  phrase, word in phrase, phrase in utterance, word in utterance, each forward and backward and
  1-based, with the count of its unit. Silences have zeros there (their own flag tells them
  apart). Not derivable from the alignments, so absent: parts of speech, accents, ToBI tones.
- Frames (`phone_durations`): WORLD's frame t is centred at t * frame_period (pyworld: frame 0
  at 0 s, floor(len / hop) + 1 frames); a frame belongs to the segment that holds its centre.
  So each boundary moves to the nearest edge between two frames (within half a frame), except
  that every segment keeps at least one frame: a segment shorter than a frame takes one from
  its neighbours, moving boundaries further, only where the alignment has such a segment.
- Coarse coding (`coarse_position`): Merlin's, with the frame's centre as its position: frame i
  of a phone of d frames is at r = (i + 0.5) / d in (0, 1), and its three values are
  exp(-(r - c)^2 / (2 * 0.4^2)) for c = 0, 0.5, 1 (Merlin's Gaussians of width 0.4, scaled to a
  peak of 1). The duration feature is the phone's duration in frames.
"""
from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from voxflow.evaluation.report import require_columns
from voxflow.synth.textgrid import TOLERANCE_S

SILENCE = "sil"                                 # the label of a silence segment
SILENCE_LABELS = frozenset({"", "sil", "sp", "<eps>"})    # aligners' silence labels
ARPABET_STRESS = {"0": 0, "1": 1, "2": 2}       # trailing digit: unstressed, primary, secondary
IPA_STRESS = {"ˈ": 1, "ˌ": 2}                   # leading mark: primary, secondary
VOWEL_LETTERS = frozenset("aeiouAEIOU" "æɑɒɐəɘɵɞɛɜɪʏʊɔœɶøɤɯʉɨɚɝʌ")   # no "y": see above
MANIFEST_COLUMNS = ("utt_id", "language", "duration", "words", "phones")

POSITION_NAMES = (
    "phone_in_syllable_fw", "phone_in_syllable_bw", "syllable_phones",
    "syllable_in_word_fw", "syllable_in_word_bw", "word_syllables",
    "syllable_in_phrase_fw", "syllable_in_phrase_bw", "phrase_syllables",
    "word_in_phrase_fw", "word_in_phrase_bw", "phrase_words",
    "phrase_in_utterance_fw", "phrase_in_utterance_bw", "utterance_phrases",
    "word_in_utterance_fw", "word_in_utterance_bw", "utterance_words",
)
STRESS_NAMES = ("syllable_primary_stress", "syllable_secondary_stress")
FRAME_NAMES = ("frame_position_start", "frame_position_middle", "frame_position_end",
               "phone_frames")
COARSE_CENTRES = np.array([0.0, 0.5, 1.0])      # Merlin's three Gaussians over the phone
COARSE_WIDTH = 0.4                              # their standard deviation (Merlin's)


class AlignmentError(ValueError):
    """An utterance's phones and words tiers do not make a sequence of segments."""


@dataclass(frozen=True)
class Segment:
    """One phone or silence of an utterance: `label` as aligned (stress mark kept) or SILENCE;
    `word` the index of its word among the utterance's words (the words tier without its
    silences; None for a silence); `start` and `end` in seconds, None for segments made from
    text (`voxflow.mlms.lexicon`)."""
    label: str
    word: int | None
    start: float | None = None
    end: float | None = None


def split_stress(label: str) -> tuple[str, int | None]:
    """'AH1' -> ('AH', 1), 'ˈa' -> ('a', 1), 'a' -> ('a', None): identity and stress mark."""
    if len(label) > 1 and label[-1] in ARPABET_STRESS:
        return label[:-1], ARPABET_STRESS[label[-1]]
    if len(label) > 1 and label[0] in IPA_STRESS:
        return label[1:], IPA_STRESS[label[0]]
    return label, None


def is_vowel(label: str) -> bool:
    """Whether a phone label (stress mark allowed) is a syllable nucleus; see the docstring."""
    return split_stress(label)[0][0] in VOWEL_LETTERS


def is_silence(label: str) -> bool:
    """Whether an aligner's label marks silence (SILENCE_LABELS)."""
    return label in SILENCE_LABELS


def segments(phones: Sequence[dict], words: Sequence[dict], end_time: float) -> list[Segment]:
    """The phones ({start, end, label} in seconds, silences absent or labelled as one) and words
    of one utterance -> its segments tiling [0, end_time], a SILENCE segment in every gap. Each
    phone belongs to the word that holds its midpoint; raises AlignmentError for overlapping
    phones, a phone outside every word, a word without phones or phones after `end_time`."""
    spoken = [w for w in words if not is_silence(w["label"])]
    word_starts = [w["start"] for w in spoken]
    result, cursor, phoned = [], 0.0, set()
    for phone in (p for p in phones if not is_silence(p["label"])):
        start, end, label = float(phone["start"]), float(phone["end"]), phone["label"]
        if start < cursor - TOLERANCE_S or end <= start:
            raise AlignmentError(f"phone {label!r} at [{start}, {end}] s is empty or overlaps "
                                 f"the previous one (ending at {cursor} s)")
        middle = (start + end) / 2
        word = bisect.bisect_right(word_starts, middle) - 1
        if word < 0 or spoken[word]["end"] < middle:
            raise AlignmentError(f"phone {label!r} at [{start}, {end}] s lies outside every "
                                 "word of the words tier")
        if start > cursor + TOLERANCE_S:
            result.append(Segment(SILENCE, None, cursor, start))
        result.append(Segment(label, word, result[-1].end if result else 0.0, end))
        cursor = end
        phoned.add(word)
    if cursor > end_time + TOLERANCE_S:
        raise AlignmentError(f"the phones end at {cursor} s, after the utterance's end "
                             f"{end_time} s")
    missing = [w for k, w in enumerate(spoken) if k not in phoned]
    if missing:
        raise AlignmentError(f"word {missing[0]['label']!r} at [{missing[0]['start']}, "
                             f"{missing[0]['end']}] s has no phones")
    if not result:
        raise AlignmentError("no phones")
    if end_time > cursor + TOLERANCE_S:
        result.append(Segment(SILENCE, None, cursor, float(end_time)))
    else:
        last = result[-1]
        result[-1] = Segment(last.label, last.word, last.start, float(end_time))
    return result


def utterance_segments(row: dict) -> list[Segment]:
    """`segments` of one manifest row (its phones, words and duration); errors name the
    utterance."""
    try:
        return segments(row["phones"], row["words"], row["duration"])
    except AlignmentError as err:
        raise AlignmentError(f"utterance {row['utt_id']}: {err}") from None


@dataclass(frozen=True)
class LinguisticSpec:
    """What fixes the layout of the features: `phone_feature_names()` names the columns of
    `phone_features`, `frame_feature_names()` those of `frame_features`."""
    phones: tuple[str, ...]         # union of all languages' phone identities, sorted
    language_phones: dict[str, tuple[str, ...]]     # language -> the identities it uses
    vowels: tuple[str, ...]         # the identities that are syllable nuclei (`is_vowel`)
    has_stress: bool                # some label has a stress mark: adds the STRESS_NAMES columns
    context_phones: int = 2         # identities of this many phones either side (quinphone)

    @classmethod
    def from_manifest(cls, manifest: pd.DataFrame, context_phones: int = 2) -> LinguisticSpec:
        """The phone inventories of the alignments of a manifest table (every language the
        model will see, adaptation languages included: the union must cover them)."""
        require_columns(manifest, MANIFEST_COLUMNS, "mlms manifest")
        inventories: dict[str, set[str]] = {}
        has_stress = False
        for row in manifest.itertuples(index=False):
            for phone in row.phones:
                if is_silence(phone["label"]):
                    continue
                identity, stress = split_stress(phone["label"])
                inventories.setdefault(row.language, set()).add(identity)
                has_stress = has_stress or stress is not None
        if not inventories:
            raise ValueError("mlms manifest: no phones in its alignments")
        phones = tuple(sorted(set().union(*inventories.values())))
        return cls(phones, {lang: tuple(sorted(p)) for lang, p in sorted(inventories.items())},
                   tuple(p for p in phones if is_vowel(p)), has_stress, context_phones)

    def to_json(self) -> str:
        return json.dumps({"phones": self.phones, "language_phones": self.language_phones,
                           "vowels": self.vowels, "has_stress": self.has_stress,
                           "context_phones": self.context_phones}, indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> LinguisticSpec:
        d = json.loads(text)
        missing = [k for k in ("phones", "language_phones", "vowels", "has_stress",
                               "context_phones") if k not in d]
        if missing:
            raise ValueError(f"linguistic spec JSON: missing {', '.join(missing)}")
        return cls(tuple(d["phones"]),
                   {lang: tuple(p) for lang, p in d["language_phones"].items()},
                   tuple(d["vowels"]), bool(d["has_stress"]), int(d["context_phones"]))

    @property
    def identities(self) -> tuple[str, ...]:
        """The one-hot vocabulary: SILENCE, then the phones."""
        return (SILENCE, *self.phones)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {identity: i for i, identity in enumerate(self.identities)}

    def identity_index(self, segment: Segment) -> int:
        """Position of a segment's identity in `identities` (0 for a silence)."""
        if segment.word is None:
            return 0
        identity = split_stress(segment.label)[0]
        if identity not in self._index or identity == SILENCE:
            raise ValueError(f"phone {segment.label!r} is not in the linguistic spec's "
                             f"inventory ({len(self.phones)} phones of "
                             f"{', '.join(self.language_phones)})")
        return self._index[identity]

    def phone_feature_names(self) -> list[str]:
        offsets = range(-self.context_phones, self.context_phones + 1)
        names = [f"phone{offset:+d}={identity}" for offset in offsets
                 for identity in self.identities]
        return [*names, "silence", *(STRESS_NAMES if self.has_stress else ()), *POSITION_NAMES]

    def frame_feature_names(self) -> list[str]:
        return [*self.phone_feature_names(), *FRAME_NAMES]


@dataclass(frozen=True)
class Syllable:
    """Positions of a syllable's phones in its word, and its nucleus's stress mark."""
    phones: range
    stress: int | None


def syllabify(labels: Sequence[str], vowels: frozenset[str]) -> list[Syllable]:
    """The phone labels of one word -> its syllables (see the module docstring: each vowel a
    nucleus, intervocalic consonants to the next syllable)."""
    nuclei = [i for i, label in enumerate(labels) if split_stress(label)[0] in vowels]
    if not nuclei:
        return [Syllable(range(len(labels)), None)]
    starts = [0, *(nucleus + 1 for nucleus in nuclei[:-1])]
    return [Syllable(range(a, b), split_stress(labels[nucleus])[1])
            for a, b, nucleus in zip(starts, [*starts[1:], len(labels)], nuclei)]


def _words(segments: Sequence[Segment]) -> list[list[int]]:
    """Segment indices of each word, in order; raises ValueError unless each word's segments
    are contiguous and the words in order."""
    words: list[list[int]] = []
    for i, segment in enumerate(segments):
        if segment.word is None:
            continue
        previous = segments[words[-1][-1]].word if words else None
        if segment.word == previous and words[-1][-1] == i - 1:
            words[-1].append(i)
        elif previous is None or segment.word > previous:
            words.append([i])
        else:
            raise ValueError(f"segment {i} ({segment.label!r}) of word {segment.word} does not "
                             "follow its word's other phones: words must be contiguous, in order")
    return words


def _phrases(words: list[list[int]]) -> list[list[int]]:
    """Word numbers (positions in `words`) of each phrase: a silence between two words breaks."""
    phrases = [[0]] if words else []
    for number in range(1, len(words)):
        if words[number][0] != words[number - 1][-1] + 1:
            phrases.append([])
        phrases[-1].append(number)
    return phrases


def phone_features(segments: Sequence[Segment], spec: LinguisticSpec) -> np.ndarray:
    """(P,) segments of one utterance (aligned or from text) -> (P, len(spec.phone_feature_names()))
    float32 phone-level features, in the order of the names."""
    vocabulary = len(spec.identities)
    identities = [spec.identity_index(s) for s in segments]
    context = np.zeros((len(segments), 2 * spec.context_phones + 1, vocabulary), np.float32)
    for i in range(len(segments)):
        for k, offset in enumerate(range(-spec.context_phones, spec.context_phones + 1)):
            if 0 <= i + offset < len(segments):
                context[i, k, identities[i + offset]] = 1
    silence = np.array([[s.word is None] for s in segments], np.float32)
    stress = np.zeros((len(segments), len(STRESS_NAMES)), np.float32)
    positions = np.zeros((len(segments), len(POSITION_NAMES)), np.float32)
    words = _words(segments)
    phrases = _phrases(words)
    vowels = frozenset(spec.vowels)
    syllables = [syllabify([segments[i].label for i in word], vowels) for word in words]
    for p, phrase in enumerate(phrases):
        phrase_syllables = sum(len(syllables[w]) for w in phrase)
        syllable_in_phrase = 0
        for w_in_phrase, w in enumerate(phrase):
            for s, syllable in enumerate(syllables[w]):
                syllable_in_phrase += 1
                size = len(syllable.phones)
                for k, j in enumerate(syllable.phones):
                    row = words[w][j]
                    if syllable.stress in (1, 2):
                        stress[row, syllable.stress - 1] = 1
                    positions[row] = (                  # in the order of POSITION_NAMES
                        k + 1, size - k, size,
                        s + 1, len(syllables[w]) - s, len(syllables[w]),
                        syllable_in_phrase, phrase_syllables - syllable_in_phrase + 1,
                        phrase_syllables,
                        w_in_phrase + 1, len(phrase) - w_in_phrase, len(phrase),
                        p + 1, len(phrases) - p, len(phrases),
                        w + 1, len(words) - w, len(words))
    columns = [context.reshape(len(segments), -1), silence,
               *([stress] if spec.has_stress else []), positions]
    return np.concatenate(columns, axis=1)


def phone_durations(segments: Sequence[Segment], n_frames: int,
                    frame_period_s: float = 0.005) -> np.ndarray:
    """(P,) aligned segments tiling [0, end] -> (P,) int64 frames per segment, summing to
    `n_frames` (the WORLD features' frame count): see the module docstring for the rounding.
    Raises ValueError for segments without times, an alignment whose end does not match
    `n_frames` within a frame, or more segments than frames."""
    if not segments or any(s.start is None or s.end is None for s in segments):
        raise ValueError("segments without times (made from text): their durations come from "
                         "the duration model, not the alignment")
    end_frames = int(np.ceil(segments[-1].end / frame_period_s))
    if abs(end_frames - n_frames) > 1:
        raise ValueError(f"the alignment ends at {segments[-1].end:.3f} s ({end_frames} frames "
                         f"of {frame_period_s} s) but the features have {n_frames} frames")
    if len(segments) > n_frames:
        raise ValueError(f"{len(segments)} segments cannot each have a frame of {n_frames}")
    # boundary = frames whose centre t * frame_period lies before it
    inner = np.ceil(np.array([s.start for s in segments[1:]]) / frame_period_s)
    boundaries = np.clip(np.concatenate([[0], inner, [n_frames]]), 0, n_frames).astype(np.int64)
    # at least one frame each: push boundaries right of their left neighbour, then left of
    # their right neighbour (a no-op unless a segment is shorter than a frame)
    last = len(boundaries) - 1
    for k in range(1, last):
        boundaries[k] = max(boundaries[k], boundaries[k - 1] + 1)
    for k in range(last - 1, 0, -1):
        boundaries[k] = min(boundaries[k], boundaries[k + 1] - 1)
    return np.diff(boundaries)


def coarse_position(frames: int) -> np.ndarray:
    """(frames, 3) coarse-coded positions of the frames of one phone (see the module docstring)."""
    position = (np.arange(frames) + 0.5) / frames
    return np.exp(-(position[:, None] - COARSE_CENTRES) ** 2 / (2 * COARSE_WIDTH ** 2))


def frame_features(phone_feats: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """(P, D) phone-level features and (P,) frames per phone -> (sum(durations), D + 4) float32
    frame-level features: each phone's row over its frames, then FRAME_NAMES."""
    durations = np.asarray(durations)
    if phone_feats.ndim != 2 or durations.shape != (len(phone_feats),) or (durations < 0).any():
        raise ValueError(f"expected (P, D) features and (P,) non-negative durations, got "
                         f"{phone_feats.shape} and {durations.shape}")
    coarse = np.concatenate([coarse_position(int(d)) for d in durations])
    return np.concatenate([np.repeat(phone_feats, durations, axis=0), coarse,
                           np.repeat(durations, durations)[:, None]], axis=1).astype(np.float32)
