"""A trained network scores the whole utterance, as the GMM baselines do, not its first
training window."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from voxflow.antispoof.systems import Countermeasure, score_features

FRAMES = 40


@pytest.fixture
def model():
    torch.manual_seed(0)
    return Countermeasure({"backbone": "resnet18", "preset": "tiny", "dims": 60,
                           "objective": "original"}).eval()


def utterance(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((frames, 60)).astype(np.float32)


def test_frames_past_the_training_window_change_the_score(model):
    head = utterance(FRAMES)
    longer = np.concatenate([head, utterance(3 * FRAMES, seed=1)])
    first, whole = score_features(model, [head, longer], FRAMES)
    assert abs(first - whole) > 1e-4


def test_each_utterance_is_scored_alone_whatever_else_is_in_the_list(model):
    utterances = [utterance(FRAMES + 13 * i, seed=i) for i in range(4)]
    together = score_features(model, utterances, FRAMES)
    alone = [score_features(model, [u], FRAMES)[0] for u in utterances]
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)


def test_a_short_utterance_is_repeated_to_the_training_window(model):
    short = utterance(FRAMES // 4)
    repeated = np.tile(short, (4, 1))
    np.testing.assert_allclose(score_features(model, [short], FRAMES),
                               score_features(model, [repeated], FRAMES), atol=1e-6)
