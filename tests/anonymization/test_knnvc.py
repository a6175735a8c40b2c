"""kNN-VC matching and paper 003's modifications on hand-made and random feature frames."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from voxflow.anonymization.knnvc import (KnnVC, KnnVCConfig, add_noise, change_length, knn_match,
                                         prematch)

DIM = 8


def frames(count: int, seed: int, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def make_knnvc(speakers: int = 3, per_speaker: int = 40, **overrides) -> KnnVC:
    pool = {f"spk{s}": torch.from_numpy(frames(per_speaker, 100 + s)) for s in range(speakers)}
    return KnnVC(pool, replace(KnnVCConfig(), **overrides))


def brute_force(query: np.ndarray, matching: np.ndarray, k: int) -> np.ndarray:
    """Per query frame: cosine similarity to every matching frame, the k largest, their mean."""
    out = []
    for q in query:
        similarity = [float(q @ m / (np.linalg.norm(q) * np.linalg.norm(m))) for m in matching]
        nearest = np.argsort(similarity)[::-1][:k]
        out.append(matching[nearest].mean(axis=0))
    return np.stack(out)


@pytest.mark.parametrize("k,chunk", [(1, 256), (4, 256), (4, 3), (7, 1)])
def test_knn_match_equals_brute_force_cosine_knn_mean(k, chunk):
    query, matching = frames(10, 0), frames(30, 1)
    got = knn_match(torch.from_numpy(query), torch.from_numpy(matching), k, chunk)
    np.testing.assert_allclose(got.numpy(), brute_force(query, matching, k), rtol=1e-5,
                               atol=1e-6)


def test_knn_match_ranks_by_direction_not_distance():
    query = torch.tensor([[1.0, 0.0]])
    matching = torch.tensor([[10.0, 0.5],      # far, nearly the same direction
                             [0.9, 0.9]])      # near, 45 degrees off
    assert torch.equal(knn_match(query, matching, k=1), matching[:1])


def test_knn_match_rejects_k_above_the_matching_frames():
    with pytest.raises(ValueError, match="k must be in"):
        knn_match(torch.zeros(2, DIM), torch.ones(3, DIM), k=4)


def test_each_conversion_draws_one_random_target_speaker():
    knnvc = make_knnvc(speakers=2, k=1)
    sets = {name: m.numpy() for name, m in knnvc.pool.items()}
    used = set()
    for seed in range(10):
        out = knnvc.convert(frames(20, 7), np.random.default_rng(seed))
        owners = {name for row in out for name, m in sets.items()
                  if np.any(np.all(m == row, axis=1))}
        assert len(owners) == 1
        used |= owners
    assert used == set(sets)


def test_the_source_speaker_is_never_its_own_target():
    knnvc = make_knnvc(speakers=2, k=1)
    own = knnvc.pool["spk0"].numpy()
    for seed in range(10):
        out = knnvc.convert(frames(20, 7), np.random.default_rng(seed), exclude="spk0")
        assert not any(np.any(np.all(own == row, axis=1)) for row in out)


@pytest.mark.parametrize("weights", ["uniform", "dirichlet"])
def test_pooled_targets_are_averaged_with_the_documented_weights(weights):
    # each speaker's matching set is one vector k times: its kNN output is that vector
    vectors = {f"spk{s}": np.random.default_rng(s).standard_normal(DIM).astype(np.float32)
               for s in range(3)}
    pool = {name: torch.from_numpy(np.tile(v, (4, 1))) for name, v in vectors.items()}
    knnvc = KnnVC(pool, KnnVCConfig(targets=2, weights=weights))
    out = knnvc.convert(frames(5, 9), np.random.default_rng(3))
    rng = np.random.default_rng(3)                 # the documented draws: targets, then weights
    chosen = rng.choice(3, size=2, replace=False)
    mix = rng.dirichlet(np.ones(2)) if weights == "dirichlet" else np.full(2, 0.5)
    expected = sum(w * vectors[f"spk{c}"] for w, c in zip(mix, chosen))
    np.testing.assert_allclose(out, np.tile(expected, (5, 1)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("factor", [0.8, 1.0, 1.17, 1.2])
def test_change_length_multiplies_the_frames_by_the_factor(factor):
    assert change_length(torch.from_numpy(frames(100, 0)), factor).shape == (
        round(100 * factor), DIM)


def test_length_variation_multiplies_the_duration_by_the_drawn_factor():
    knnvc = make_knnvc(length_variation=(0.8, 1.2))
    out = knnvc.convert(frames(150, 0), np.random.default_rng(5))
    rng = np.random.default_rng(5)                 # targets, (uniform weights), then the factor
    rng.choice(3, size=1, replace=False)
    factor = rng.uniform(0.8, 1.2)
    assert out.shape == (round(150 * factor), DIM) and out.shape[0] != 150


def test_noise_stays_within_the_linf_bound_and_reaches_it():
    features = torch.from_numpy(frames(500, 0))
    noise = add_noise(features, 0.3, np.random.default_rng(0)) - features
    assert float(noise.abs().max()) <= 0.3 + 1e-6
    assert float(noise.abs().max()) > 0.29


def test_noise_bound_is_noise_linf_times_the_pools_mean_feature_std():
    knnvc = make_knnvc(noise_linf=2.0)
    every = np.concatenate([m.numpy() for m in knnvc.pool.values()])
    assert knnvc.noise_bound == pytest.approx(2.0 * every.std(axis=0, ddof=1).mean(), rel=1e-5)


def test_noise_in_changes_the_matches():
    source = frames(50, 0)
    quiet = make_knnvc().convert(source, np.random.default_rng(1))
    noisy = make_knnvc(noise_linf=1.0).convert(source, np.random.default_rng(1))
    assert not np.allclose(quiet, noisy)


def test_conversion_is_deterministic_for_a_fixed_seed():
    knnvc = make_knnvc(targets=2, weights="dirichlet", length_variation=(0.8, 1.2),
                       noise_linf=1.0)
    source = frames(60, 0)
    first = knnvc.convert(source, np.random.default_rng(11))
    again = knnvc.convert(source, np.random.default_rng(11))
    other = knnvc.convert(source, np.random.default_rng(12))
    assert np.array_equal(first, again) and not np.array_equal(first, other[:len(first)])


def test_convert_rejects_features_of_another_dim():
    with pytest.raises(ValueError, match="features must be"):
        make_knnvc().convert(frames(10, 0, dim=DIM + 1), np.random.default_rng(0))


def test_pool_smaller_than_the_targets_is_rejected():
    with pytest.raises(ValueError, match="fewer than the 4 targets"):
        make_knnvc(speakers=3, targets=4)


def test_prematch_never_rebuilds_an_utterance_from_itself():
    utterances = [frames(30, seed) for seed in range(4)]
    rebuilt = prematch(utterances, k=1, min_frames=1)
    for index, (own, out) in enumerate(zip(utterances, rebuilt)):
        others = np.concatenate(utterances[:index] + utterances[index + 1:])
        for row in out:
            assert not np.any(np.all(own == row, axis=1))
            assert np.any(np.all(others == row, axis=1))


def test_prematch_leaves_out_utterances_under_min_frames():
    rebuilt = prematch([frames(30, 0), frames(5, 1), frames(30, 2)], k=4, min_frames=10)
    assert rebuilt[1] is None and rebuilt[0].shape == (30, DIM) and rebuilt[2].shape == (30, DIM)


def test_prematch_needs_another_utterance():
    with pytest.raises(ValueError, match="at least 2 utterances"):
        prematch([frames(30, 0)])


def test_knn_match_with_values_averages_the_values_of_the_nearest_frames():
    query, matching = frames(10, 0), frames(30, 1)
    values = frames(30, 2, dim=3)          # another representation of the same 30 frames
    got = knn_match(torch.from_numpy(query), torch.from_numpy(matching), 4,
                    values=torch.from_numpy(values))
    similarity = (query / np.linalg.norm(query, axis=1, keepdims=True)) @ (
        matching / np.linalg.norm(matching, axis=1, keepdims=True)).T
    expected = values[np.argsort(-similarity, axis=1)[:, :4]].mean(axis=1)
    assert got.shape == (10, 3)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_knn_match_rejects_values_of_another_frame_count():
    with pytest.raises(ValueError, match="values must be"):
        knn_match(torch.zeros(2, DIM), torch.ones(5, DIM), k=1, values=torch.ones(4, 3))


def test_conversion_with_values_returns_the_targets_values():
    pool = {f"spk{s}": torch.from_numpy(frames(40, 100 + s)) for s in range(3)}
    values = {name: torch.full((40, 2), float(s)) for s, name in enumerate(pool)}
    knnvc = KnnVC(pool, KnnVCConfig(), values)
    out = knnvc.convert(frames(20, 7), np.random.default_rng(0), exclude="spk0")
    assert out.shape == (20, 2)
    assert len(np.unique(out)) == 1 and out[0, 0] in (1.0, 2.0)   # one target, never spk0


def test_values_must_cover_the_pools_speakers_frame_for_frame():
    pool = {"a": torch.zeros(10, DIM), "b": torch.zeros(10, DIM)}
    with pytest.raises(ValueError, match="values are given for speakers"):
        KnnVC(pool, KnnVCConfig(), {"a": torch.zeros(10, 2)})
    with pytest.raises(ValueError, match="values of 'b'"):
        KnnVC(pool, KnnVCConfig(), {"a": torch.zeros(10, 2), "b": torch.zeros(9, 2)})


def test_prematch_with_values_rebuilds_values_from_the_other_utterances_only():
    utterances = [frames(30, s) for s in range(3)]
    # each utterance's values: its index one-hot, so a rebuilt frame shows where it came from
    values = [np.tile(np.eye(3, dtype=np.float32)[s], (30, 1)) for s in range(3)]
    for own, out in enumerate(prematch(utterances, k=4, values=values)):
        assert out.shape == (30, 3)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
        assert np.all(out[:, own] == 0)
