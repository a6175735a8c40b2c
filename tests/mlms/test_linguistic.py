"""Linguistic features: segments and silences, the phone inventory and its zero padding, stress,
syllables and phrases, oracle durations on the frame grid, coarse-coded frame positions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voxflow.ingest.manifest import validate
from voxflow.ingest.mlms import prepare_mlms
from voxflow.mlms.linguistic import (STRESS_NAMES, AlignmentError, LinguisticSpec, Segment,
                                     coarse_position, frame_features, is_vowel, phone_durations,
                                     phone_features, segments, split_stress, syllabify,
                                     utterance_segments)
from voxflow.mlms.world import WorldConfig, frame_count

FRAME_S = 0.005


def utterance(words=(("ab", ("a", "b")),), language="xx", utt_id="u1", phone_s=0.1,
              lead_s=0.2, trail_s=0.2, pause_after=(), pause_s=0.15) -> dict:
    """A manifest row: `words` ((text, phone labels), ...) aligned back to back, `phone_s` per
    phone, silences before, after, and after the word numbers in `pause_after`."""
    time, word_rows, phone_rows = lead_s, [], []
    for number, (text, labels) in enumerate(words):
        start = time
        for label in labels:
            phone_rows.append({"start": time, "end": time + phone_s, "label": label})
            time += phone_s
        word_rows.append({"start": start, "end": time, "label": text})
        time += pause_s if number in pause_after else 0.0
    return {"utt_id": utt_id, "language": language, "duration": time + trail_s,
            "words": word_rows, "phones": phone_rows, "text": " ".join(w for w, _ in words)}


def spec_of(*rows: dict) -> LinguisticSpec:
    return LinguisticSpec.from_manifest(pd.DataFrame(list(rows)))


def column(features: np.ndarray, spec: LinguisticSpec, name: str) -> np.ndarray:
    return features[:, spec.phone_feature_names().index(name)]


@pytest.fixture(scope="module")
def corpus(tiny_corpus) -> pd.DataFrame:
    """The tiny corpus's manifest table."""
    return validate(prepare_mlms(tiny_corpus("mlms")).rows).to_pandas()


# segments

def test_silences_fill_the_leading_inner_and_trailing_gaps():
    row = utterance((("ab", ("a", "b")), ("c", ("c",))), pause_after=(0,))
    assert [s.label for s in utterance_segments(row)] == ["sil", "a", "b", "sil", "c", "sil"]


def test_segments_tile_every_corpus_utterance(corpus):
    for row in corpus.to_dict("records"):
        tiling = utterance_segments(row)
        ends = [0.0] + [s.end for s in tiling]
        assert [s.start for s in tiling] == pytest.approx(ends[:-1], abs=1e-9), row["utt_id"]
        assert ends[-1] == row["duration"], row["utt_id"]


def test_corpus_phones_keep_their_labels_and_times(corpus):
    row = corpus.iloc[0].to_dict()
    phones = [s for s in utterance_segments(row) if s.word is not None]
    assert [s.label for s in phones] == [p["label"] for p in row["phones"]]
    assert [(s.start, s.end) for s in phones] == [(p["start"], p["end"]) for p in row["phones"]]


def test_phone_outside_every_word_is_an_error_naming_it():
    row = utterance()
    row["phones"].append({"start": row["duration"] - 0.1, "end": row["duration"],
                          "label": "q"})
    with pytest.raises(AlignmentError, match="'q'.*outside every word"):
        utterance_segments(row)


def test_alignment_errors_name_the_utterance():
    row = utterance((("ab", ("a", "b")), ("c", ("c",))), utt_id="spk_0042")
    row["phones"] = row["phones"][:2]                   # word "c" without its phone
    with pytest.raises(AlignmentError, match="spk_0042"):
        utterance_segments(row)


def test_phones_after_the_end_are_an_error():
    row = utterance(trail_s=0.0)
    with pytest.raises(AlignmentError, match="after the utterance's end"):
        segments(row["phones"], row["words"], row["duration"] - 0.05)


# the inventory

def test_inventory_is_the_sorted_union_without_stress_marks():
    spec = spec_of(utterance((("x", ("b", "AH1")),), language="en"),
                   utterance((("y", ("a", "b")),), language="fr"))
    assert spec.phones == ("AH", "a", "b")
    assert spec.language_phones == {"en": ("AH", "b"), "fr": ("a", "b")}


def test_spec_round_trips_through_json():
    spec = spec_of(utterance((("x", ("b", "AH1")),), language="en"))
    assert LinguisticSpec.from_json(spec.to_json()) == spec


def test_features_have_one_named_column_each():
    spec = spec_of(utterance())
    features = phone_features(utterance_segments(utterance()), spec)
    assert features.shape == (4, len(spec.phone_feature_names()))
    assert len(set(spec.phone_feature_names())) == features.shape[1]


def test_context_is_a_quinphone_of_named_identities():
    spec = spec_of(utterance((("abc", ("a", "b", "c")),)))
    features = phone_features(utterance_segments(utterance((("abc", ("a", "b", "c")),))), spec)
    b = 2                                   # sil a b c sil
    lit = [name for name, value in zip(spec.phone_feature_names(), features[b])
           if "=" in name and value]
    assert lit == ["phone-2=sil", "phone-1=a", "phone+0=b", "phone+1=c", "phone+2=sil"]


def test_context_beyond_the_utterance_is_zero():
    spec = spec_of(utterance())
    features = phone_features(utterance_segments(utterance()), spec)
    before = [i for i, name in enumerate(spec.phone_feature_names())
              if name.startswith(("phone-2=", "phone-1="))]
    assert not features[0, before].any()


def test_unknown_phone_is_an_error_naming_it():
    spec = spec_of(utterance())
    with pytest.raises(ValueError, match="'zz'"):
        phone_features([Segment("zz", 0)], spec)


def test_a_language_never_lights_the_phones_it_lacks(corpus):
    spec = LinguisticSpec.from_manifest(corpus)
    names = spec.phone_feature_names()
    for language, group in corpus.groupby("language"):
        lacking = [i for i, name in enumerate(names) if "=" in name
                   and name.split("=")[1] not in (*spec.language_phones[language], "sil")]
        assert lacking, language            # every language lacks some phone of the union
        for row in group.to_dict("records"):
            assert not phone_features(utterance_segments(row), spec)[:, lacking].any()


# labels, stress, syllables, phrases

@pytest.mark.parametrize("label, parsed", [("AH1", ("AH", 1)), ("AH0", ("AH", 0)),
                                           ("ER2", ("ER", 2)), ("ˈa", ("a", 1)),
                                           ("ˌɛ", ("ɛ", 2)), ("a", ("a", None)),
                                           ("sh", ("sh", None))])
def test_stress_marks_are_split_from_the_identity(label, parsed):
    assert split_stress(label) == parsed


@pytest.mark.parametrize("label, vowel", [("AA1", True), ("ax", True), ("ɛ", True),
                                          ("ue", True), ("B", False), ("y", False),
                                          ("ʃ", False), ("ng", False)])
def test_vowels_are_told_by_their_first_letter(label, vowel):
    assert is_vowel(label) is vowel


def test_stress_digits_mark_the_syllable_of_their_vowel():
    about = utterance((("about", ("AH0", "B", "AW1", "T")),), language="en")
    spec = spec_of(about)
    features = phone_features(utterance_segments(about), spec)   # sil AH0 | B AW1 T sil
    assert column(features, spec, "syllable_primary_stress").tolist() == [0, 0, 1, 1, 1, 0]


def test_secondary_stress_has_its_own_column():
    word = utterance((("ab", ("EY2", "B", "IY1")),), language="en")
    spec = spec_of(word)
    features = phone_features(utterance_segments(word), spec)
    assert column(features, spec, "syllable_secondary_stress").tolist() == [0, 1, 0, 0, 0]


def test_unmarked_language_has_zero_stress():
    english = utterance((("about", ("AH0", "B", "AW1", "T")),), language="en")
    other = utterance((("ba", ("b", "a")),), language="xx")
    spec = spec_of(english, other)
    stress = [spec.phone_feature_names().index(name) for name in STRESS_NAMES]
    assert not phone_features(utterance_segments(other), spec)[:, stress].any()


def test_no_stress_columns_without_marks():
    assert not set(STRESS_NAMES) & set(spec_of(utterance()).phone_feature_names())


def test_syllables_start_after_the_previous_vowel():
    assert [s.phones for s in syllabify(["ae", "f", "t", "er"], frozenset({"ae", "er"}))] == \
        [range(0, 1), range(1, 4)]


def test_a_word_without_vowels_is_one_syllable():
    assert [s.phones for s in syllabify(["hh", "m"], frozenset({"a"}))] == [range(0, 2)]


def test_syllable_positions_of_a_handmade_word():
    banana = utterance((("banana", ("b", "a", "n", "a", "n", "a")),))
    spec = spec_of(banana)
    features = phone_features(utterance_segments(banana), spec)[1:-1]   # without silences
    assert column(features, spec, "word_syllables").tolist() == [3] * 6
    assert column(features, spec, "syllable_in_word_fw").tolist() == [1, 1, 2, 2, 3, 3]
    assert column(features, spec, "syllable_in_word_bw").tolist() == [3, 3, 2, 2, 1, 1]
    assert column(features, spec, "phone_in_syllable_fw").tolist() == [1, 2] * 3


def test_silences_have_zero_positions():
    row = utterance((("ab", ("a", "b")), ("c", ("c",))), pause_after=(0,))
    spec = spec_of(row)
    features = phone_features(utterance_segments(row), spec)
    silent = column(features, spec, "silence") == 1
    assert not column(features, spec, "utterance_words")[silent].any()


def test_a_pause_between_words_starts_a_phrase():
    row = utterance((("ab", ("a", "b")), ("c", ("c",)), ("d", ("d",))), pause_after=(0,))
    spec = spec_of(row)
    words = phone_features(utterance_segments(row), spec)[[1, 4, 5]]     # a, c, d
    assert column(words, spec, "phrase_in_utterance_fw").tolist() == [1, 2, 2]
    assert column(words, spec, "word_in_phrase_fw").tolist() == [1, 1, 2]
    assert column(words, spec, "utterance_phrases").tolist() == [2, 2, 2]


def test_features_need_only_labels_and_words():
    row = utterance((("ab", ("a", "b")), ("c", ("c",))))
    spec = spec_of(row)
    aligned = utterance_segments(row)
    untimed = [Segment(s.label, s.word) for s in aligned]
    np.testing.assert_array_equal(phone_features(untimed, spec), phone_features(aligned, spec))


# durations

def test_durations_sum_to_the_world_frame_count(corpus):
    for row in corpus.to_dict("records"):
        frames = frame_count(row["num_samples"], WorldConfig())
        assert phone_durations(utterance_segments(row), frames).sum() == frames, row["utt_id"]


def test_frame_boundaries_lie_within_half_a_frame_of_the_alignment(corpus):
    for row in corpus.to_dict("records"):
        tiling = utterance_segments(row)
        durations = phone_durations(tiling, frame_count(row["num_samples"], WorldConfig()))
        edges_s = (np.cumsum(durations)[:-1] - 0.5) * FRAME_S     # between two frame centres
        starts_s = np.array([s.start for s in tiling[1:]])
        assert np.abs(edges_s - starts_s).max() <= FRAME_S / 2 + 1e-9, row["utt_id"]


def test_a_segment_shorter_than_a_frame_keeps_one():
    tiling = [Segment("sil", None, 0.0, 0.1), Segment("a", 0, 0.1, 0.101),
              Segment("sil", None, 0.101, 0.2)]
    durations = phone_durations(tiling, 41)
    assert durations.min() == 1 and durations.sum() == 41


def test_durations_need_times():
    with pytest.raises(ValueError, match="without times"):
        phone_durations([Segment("sil", None), Segment("a", 0)], 10)


def test_durations_refuse_a_frame_count_of_other_audio():
    with pytest.raises(ValueError, match="features have 80 frames"):
        phone_durations(utterance_segments(utterance()), 80)      # 0.6 s: 121 frames


# frames

@pytest.mark.parametrize("frames", [1, 5, 9, 40])
def test_coarse_coding_peaks_at_the_start_middle_and_end(frames):
    coding = coarse_position(frames)
    assert coding[frames // 2].argmax() == 1
    if frames > 2:
        assert coding[0].argmax() == 0 and coding[-1].argmax() == 2


def test_frame_features_repeat_each_phone_over_its_frames():
    phone_feats = np.array([[1.0], [2.0], [3.0]], np.float32)
    frames = frame_features(phone_feats, np.array([2, 0, 3]))
    assert frames[:, 0].tolist() == [1, 1, 3, 3, 3]


def test_the_duration_feature_is_the_phone_frames():
    frames = frame_features(np.zeros((2, 1), np.float32), np.array([2, 3]))
    assert frames[:, -1].tolist() == [2, 2, 3, 3, 3]


def test_frame_features_have_the_frame_names():
    spec = spec_of(utterance())
    tiling = utterance_segments(utterance())
    frames = frame_features(phone_features(tiling, spec), phone_durations(tiling, 121))
    assert frames.shape == (121, len(spec.frame_feature_names()))
