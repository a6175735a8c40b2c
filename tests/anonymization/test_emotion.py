"""The speech emotion recognizer of the VPC utility evaluation: 4-class mapping, session folds,
learning, mixed precision, determinism and fold-wise scoring."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from voxflow.anonymization.audio import RATE, fbank_features
from voxflow.anonymization.emotion import (CLASSES, EmotionConfig, EmotionRecognizer,
                                           EmotionTraining, balanced_sampler, class_indices,
                                           emotion_loss, four_class, load_ser,
                                           predict, save_ser, session_folds, train_fold)

SESSIONS = [f"Session{i}" for i in range(1, 6)]


def tone(label: str, rng: np.random.Generator) -> np.ndarray:
    """A harmonic tone whose pitch or energy contour marks the "emotion" (fbank is mean-
    normalised per utterance, so only changes over time can): neu steady, hap rising, sad
    falling, ang pulsed at 5 Hz."""
    seconds = rng.uniform(0.8, 1.2)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = rng.uniform(120, 250)
    glide = {"hap": 1.6, "sad": 0.6}.get(label, 1.0) ** (t / seconds)
    phase = 2 * np.pi * np.cumsum(f0 * glide) / RATE
    wave = sum(np.sin(k * phase) / k for k in (1, 2, 3))
    if label == "ang":
        wave = wave * (np.sin(2 * np.pi * 5 * t) > 0)
    wave = 0.3 * wave + 0.01 * rng.standard_normal(len(t))
    return wave.astype(np.float32)


def synthetic(per_class: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)
    labels = [label for label in CLASSES for _ in range(per_class)]
    return [tone(label, rng) for label in labels], labels


def small_config(**overrides) -> EmotionConfig:
    return EmotionConfig(**{"channels": 24, "kernels": (5, 3), "dilations": (1, 2),
                            "attention_dim": 16, "embedding_dim": 32, "dropout": 0.0,
                            **overrides})


def small_training(**overrides) -> EmotionTraining:
    return EmotionTraining(**{"steps": 60, "batch_size": 16, "crop_frames": 150, "lr": 3e-3,
                              "checkpoint_every": 1000, "log_every": 20, **overrides})


def constant_model(label: str) -> EmotionRecognizer:
    """A recognizer whose class layer always picks `label` (zero weights, one large bias)."""
    model = EmotionRecognizer(small_config())
    final = model.head[-1]
    with torch.no_grad():
        final.weight.zero_()
        final.bias.copy_(torch.tensor([10.0 if c == label else 0.0 for c in CLASSES]))
    return model.eval()


def test_four_class_merges_exc_into_hap_and_drops_the_other_codes():
    assert four_class(["neu", "hap", "exc", "sad", "ang", "fru", "sur", "xxx", None]) == \
        ["neu", "hap", "hap", "sad", "ang", None, None, None, None]


def test_classes_are_the_four_iemocap_classes():
    assert sorted(CLASSES) == ["ang", "hap", "neu", "sad"]


def test_session_folds_train_on_every_session_but_the_held_out_one():
    sessions = np.array(SESSIONS * 3)
    for held_out, train_mask in session_folds(sessions):
        assert set(sessions[train_mask]) == set(SESSIONS) - {held_out}
        assert not (sessions[~train_mask] != held_out).any()


def test_session_folds_hold_out_each_session_once():
    assert [held_out for held_out, _ in session_folds(SESSIONS[::-1] * 2)] == SESSIONS


def test_session_folds_refuse_a_single_session():
    with pytest.raises(ValueError, match="at least 2 sessions"):
        session_folds(["Session1", "Session1"])


def test_unknown_label_is_refused_with_its_index():
    with pytest.raises(ValueError, match="label 1: 'fru'"):
        class_indices(["neu", "fru"])


def test_empty_waveform_is_refused_with_its_index():
    with pytest.raises(ValueError, match="waveform 1"):
        fbank_features([np.zeros(1600, np.float32), np.zeros(0, np.float32)])


def test_training_refuses_a_missing_class(tmp_path):
    waves, labels = synthetic(2, seed=0)
    with pytest.raises(ValueError, match="no training utterance of class"):
        train_fold(waves[:6], labels[:6], tmp_path, small_config(), small_training(), seed=0)


def test_padding_does_not_change_a_prediction():
    torch.manual_seed(0)
    model = EmotionRecognizer(small_config()).eval()
    waves, _ = synthetic(1, seed=1)
    features = fbank_features(waves)
    alone = [model(f[None], torch.tensor([len(f)])) for f in features]
    padded = torch.nn.utils.rnn.pad_sequence(features, batch_first=True)
    together = model(padded, torch.tensor([len(f) for f in features]))
    torch.testing.assert_close(together, torch.cat(alone), atol=1e-5, rtol=1e-4)


def test_the_recognizer_learns_synthetic_emotions_far_above_chance(tmp_path):
    waves, labels = synthetic(12, seed=0)
    model = train_fold(waves, labels, tmp_path, small_config(), small_training(), seed=0)
    test_waves, test_labels = synthetic(8, seed=1)
    predicted = predict(model, test_waves)
    recall = [np.mean([p == c for p, l in zip(predicted, test_labels) if l == c])
              for c in CLASSES]
    assert np.mean(recall) > 0.75          # chance: 0.25


def test_loss_under_cpu_bf16_autocast_is_finite_and_close_to_fp32():
    waves, labels = synthetic(4, seed=0)
    sample = balanced_sampler(fbank_features(waves), class_indices(labels), 8, 120)
    batch = sample(torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = EmotionRecognizer(small_config()).eval()
    full, _ = emotion_loss(model, batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half, _ = emotion_loss(model, batch)
    assert torch.isfinite(half)
    assert abs(half.item() - full.item()) < 0.05 * abs(full.item()) + 1e-3


def test_training_is_deterministic(tmp_path):
    waves, labels = synthetic(3, seed=0)
    runs = [train_fold(waves, labels, tmp_path / str(k), small_config(dropout=0.1),
                       small_training(steps=4), seed=3) for k in range(2)]
    for (name, a), b in zip(runs[0].state_dict().items(), runs[1].state_dict().values()):
        assert torch.equal(a, b), name


def test_saved_recognizer_predicts_the_same(tmp_path):
    torch.manual_seed(0)
    model = EmotionRecognizer(small_config()).eval()
    waves, _ = synthetic(2, seed=2)
    loaded = load_ser(save_ser(model, tmp_path / "ser.pt"))
    features = fbank_features(waves[:1])[0][None]
    torch.testing.assert_close(loaded(features, torch.tensor([features.shape[1]])),
                               model(features, torch.tensor([features.shape[1]])))
