"""Linear probes: right on hand-made cases where the answer is known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voxflow.anonymization.probes import (ProbeConfig, best_layer, frame_labels, held_out_split,
                                          probe_layers, wilson_interval)

PHONES = ("a", "e", "i", "o", "u")
HOP_S = 0.02


def make_corpus(speakers: int = 4, utterances: int = 8, frames: int = 50, dim: int = 16,
                seed: int = 0):
    """Utterances of 20 ms frames whose layer 0 is a linear code of (phone, speaker) plus noise,
    layer 1 pure noise: (layers per utterance, speakers, phone intervals)."""
    rng = np.random.default_rng(seed)
    phone_codes = rng.standard_normal((len(PHONES), dim))
    speaker_codes = rng.standard_normal((speakers, dim))
    layers, speaker_ids, alignments = [], [], []
    for s in range(speakers):
        for _ in range(utterances):
            bounds = np.sort(rng.choice(np.arange(1, frames), 6, replace=False))
            edges = np.concatenate([[0], bounds, [frames]])
            labels = rng.integers(len(PHONES), size=len(edges) - 1)
            per_frame = np.repeat(labels, np.diff(edges))
            code = phone_codes[per_frame] + speaker_codes[s]
            layers.append([code + 0.1 * rng.standard_normal(code.shape),
                           rng.standard_normal(code.shape)])
            speaker_ids.append(f"spk{s}")
            alignments.append([(edges[j] * HOP_S, edges[j + 1] * HOP_S, PHONES[labels[j]])
                               for j in range(len(labels))])
    return layers, speaker_ids, alignments


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    layers, speakers, phones = make_corpus()
    return probe_layers({"toy": layers}, speakers, phones, held_out_split(speakers, 0.25, 0),
                        ProbeConfig(frames_per_utterance=40), seed=0)


def test_table_has_one_row_per_feature_set_layer_and_task(table):
    assert sorted(zip(table["layer"], table["task"])) == [
        (0, "phone"), (0, "speaker"), (1, "phone"), (1, "speaker")]


def test_linear_layer_classifies_phones_nearly_perfectly(table):
    row = table[(table["layer"] == 0) & (table["task"] == "phone")].iloc[0]
    assert row["accuracy"] > 0.95


def test_linear_layer_identifies_speakers_nearly_perfectly(table):
    row = table[(table["layer"] == 0) & (table["task"] == "speaker")].iloc[0]
    assert row["accuracy"] > 0.9


def test_noise_layer_classifies_phones_near_chance(table):
    row = table[(table["layer"] == 1) & (table["task"] == "phone")].iloc[0]
    assert row["accuracy"] < 1 / len(PHONES) + 0.1


def test_intervals_contain_the_accuracy(table):
    assert ((table["ci_low"] <= table["accuracy"]) & (table["accuracy"] <= table["ci_high"])).all()


def test_function_source_gives_the_same_table_as_a_list(table):
    layers, speakers, phones = make_corpus()
    again = probe_layers({"toy": lambda i: layers[i]}, speakers, phones,
                         held_out_split(speakers, 0.25, 0), ProbeConfig(frames_per_utterance=40),
                         seed=0)
    pd.testing.assert_frame_equal(again, table)


def test_phone_label_is_the_interval_covering_the_frame_centre():
    # centres at 0.01, 0.03, ..., 0.13 s; the last frame's centre lies past the alignment
    phones = [(0.0, 0.035, "a"), (0.035, 0.08, "b"), (0.08, 0.12, "")]
    assert frame_labels(phones, 7) == ["a", "a", "b", "b", "", "", None]


def test_phone_labels_read_manifest_style_intervals():
    phones = [{"start": 0.0, "end": 0.04, "label": "a"},
              {"start": 0.04, "end": 0.06, "label": "b"}]
    assert frame_labels(phones, 3) == ["a", "a", "b"]


def test_best_layer_is_the_argmax_of_the_task_and_features():
    table = pd.DataFrame({"features": ["ssl", "ssl", "ssl", "mfcc", "ssl"],
                          "layer": [0, 1, 2, 0, 1], "task": ["phone"] * 4 + ["speaker"],
                          "accuracy": [0.3, 0.5, 0.4, 0.9, 0.99]})
    assert best_layer(table, task="phone", features="ssl") == 1


def test_wilson_interval_contains_the_proportion():
    low, high = wilson_interval(7, 10)
    assert low < 0.7 < high


def test_wilson_interval_narrows_with_more_items():
    widths = [np.subtract(*wilson_interval(7 * n, 10 * n)[::-1]) for n in (1, 10, 100)]
    assert widths[0] > widths[1] > widths[2]


def test_held_out_split_leaves_every_speaker_in_training_and_test():
    speakers = ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    held_out = held_out_split(speakers, 0.25, seed=0)
    for speaker in "abc":
        rows = held_out[np.asarray(speakers) == speaker]
        assert rows.any() and not rows.all()


def test_speaker_without_training_utterances_is_refused():
    layers, speakers, phones = make_corpus(speakers=2, utterances=2)
    held_out = np.array([False, False, True, True])     # speaker 1 only held out
    with pytest.raises(ValueError, match="without training utterances"):
        probe_layers({"toy": layers}, speakers, phones, held_out)


def test_differing_layer_counts_are_refused():
    layers, speakers, phones = make_corpus(speakers=2, utterances=2)
    layers[3] = layers[3][:1]
    with pytest.raises(ValueError, match="utterance 3 has 1 layers"):
        probe_layers({"toy": layers}, speakers, phones, [False, True, False, True])
