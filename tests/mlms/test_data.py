"""The MLMS training data (voxflow.mlms.data): the linguistic stage's outputs line up with the
WORLD frames, batches pad and window utterances as stated, normalisers are the training
statistics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from voxflow.features.cache import read_index
from voxflow.mlms.data import Normaliser, acoustic_set, duration_set, read_lexicon, read_spec
from voxflow.mlms.world import DIMENSIONS


@pytest.fixture(scope="module")
def train_set(mlms_data):
    return acoustic_set(mlms_data["world"], mlms_data["linguistic"], "train")


def test_every_utterance_has_as_many_input_frames_as_world_frames(train_set):
    for i in range(len(train_set)):
        assert len(train_set.inputs(i)) == len(train_set.targets[i]) > 0
        assert train_set.targets[i].shape[1] == DIMENSIONS


def test_inputs_have_the_spec_s_frame_features(train_set, mlms_data):
    spec = read_spec(mlms_data["linguistic"])
    assert train_set.inputs(0).shape[1] == len(spec.frame_feature_names())


def test_duration_targets_are_log_frames_per_phone(mlms_data):
    durations = duration_set(mlms_data["linguistic"], "train")
    index = read_index(mlms_data["linguistic"]).set_index("utt_id")
    utt_id = durations.rows.at[0, "utt_id"]
    assert np.exp(durations.targets[0][:, 0]).round().sum() == index.at[utt_id, "frames"]
    assert len(durations.inputs(0)) == index.at[utt_id, "phones"]


def test_the_lexicon_has_every_language_that_has_training_speech(mlms_data, train_set):
    lexicon = read_lexicon(mlms_data["linguistic"])
    assert set(lexicon.pronunciations) == set(train_set.rows["language"])


def test_a_batch_pads_to_the_longest_and_reports_lengths(train_set):
    batch = train_set.batch([0, 1], spans=[(0, 30), (5, 20)])
    assert batch["x"].shape[:2] == batch["y"].shape[:2] == (2, 30)
    assert batch["lengths"].tolist() == [30, 20]
    assert torch.equal(batch["y"][1, :20], torch.from_numpy(train_set.targets[1][5:25]))
    assert not batch["x"][1, 20:].any()


def test_the_sampler_draws_windows_inside_their_utterances(train_set):
    sample = train_set.sampler(batch_size=16, segment=50)
    batch = sample(torch.Generator().manual_seed(0))
    assert batch["x"].shape[:2] == (16, 50)
    for row in range(16):           # each window is a stretch of its speaker's utterance
        length = int(batch["lengths"][row])
        utterances = [train_set.targets[i] for i in range(len(train_set))
                      if train_set.rows.at[i, "speaker"] == batch["speakers"][row]]
        window = batch["y"][row, :length].numpy()
        assert any(len(t) >= length and any(np.array_equal(t[s:s + length], window)
                                            for s in range(len(t) - length + 1))
                   for t in utterances)


def test_the_same_generator_seed_draws_the_same_batch(train_set):
    sample = train_set.sampler(batch_size=4, segment=50)
    first, second = (sample(torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(first["x"], second["x"]) and first["speakers"] == second["speakers"]


def test_normaliser_is_the_mean_and_std_of_every_row():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(3.0, 2.0, (n, 4)) for n in (5, 50, 7)]
    normaliser = Normaliser.fit(iter(arrays))
    stacked = np.concatenate(arrays)
    np.testing.assert_allclose(normaliser.mean, stacked.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(normaliser.std, stacked.std(axis=0), rtol=1e-5)


def test_a_constant_dimension_keeps_unit_std():
    normaliser = Normaliser.fit([np.ones((10, 2))])
    assert normaliser.std.tolist() == [1.0, 1.0]


def test_an_empty_set_is_a_clear_error():
    with pytest.raises(ValueError, match="no frame"):
        Normaliser.fit([])


def test_first_keeps_the_first_utterances_by_id(train_set):
    first = train_set.where(speaker=train_set.rows.at[0, "speaker"]).first(3)
    everyone = sorted(train_set.where(speaker=train_set.rows.at[0, "speaker"]).rows["utt_id"])
    assert sorted(first.rows["utt_id"]) == everyone[:3]
    assert len(train_set.first(None)) == len(train_set)
