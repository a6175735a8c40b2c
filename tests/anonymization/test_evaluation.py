"""The VPC metrics of one system with their intervals: UAR over the dev and test sessions by the
fold models, WER by the recognizer, and their table-1 averages."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from voxflow.anonymization.asr import ASRConfig, CTCRecognizer, Tokenizer
from voxflow.anonymization.audio import RATE
from voxflow.anonymization.emotion import CLASSES, EmotionConfig, EmotionRecognizer, predict_folds
from voxflow.anonymization.evaluation import (_fold_mean_uar, _uar, content_utility,
                                             emotion_utility)
from voxflow.evaluation.classification import evaluate_classification

SESSIONS = [f"Session{i}" for i in range(1, 6)]


def constant_recognizer(label: str) -> EmotionRecognizer:
    """Always predicts `label` (zero class weights, one large bias)."""
    model = EmotionRecognizer(EmotionConfig(channels=8, kernels=(3,), dilations=(1,),
                                            attention_dim=4, embedding_dim=8, dropout=0.0))
    with torch.no_grad():
        model.head[-1].weight.zero_()
        model.head[-1].bias.copy_(torch.tensor([10.0 if c == label else 0.0 for c in CLASSES]))
    return model.eval()


def emotion_set(per_class: int = 2) -> tuple[pd.DataFrame, list[np.ndarray]]:
    rows = [{"split": session, "emotion": label} for session in SESSIONS for label in CLASSES
            for _ in range(per_class)]
    rng = np.random.default_rng(0)
    return pd.DataFrame(rows), [0.1 * rng.standard_normal(RATE // 2).astype(np.float32)
                                for _ in rows]


def test_uar_is_the_mean_recall_of_the_classes_present():
    labels = np.array(["neu", "neu", "sad", "sad", "sad", "sad"])
    assert _uar(labels, labels) == 100.0
    assert _uar(labels, np.array(["neu"] * 6)) == 50.0     # not accuracy (33 %)


def test_uar_equals_the_projects_classification_uar():
    rng = np.random.default_rng(0)
    labels, predicted = rng.choice(CLASSES, 200), rng.choice(CLASSES, 200)
    assert _uar(labels, predicted) == pytest.approx(
        100 * evaluate_classification(labels, predicted, CLASSES).metrics["uar"])


def test_each_utterance_is_scored_by_the_model_of_its_own_session():
    models = {"Session1": constant_recognizer("neu"), "Session2": constant_recognizer("ang")}
    waves = emotion_set()[1][:4]
    predicted = predict_folds(models, waves, ["Session1", "Session1", "Session2", "Session2"])
    assert predicted.tolist() == ["neu", "neu", "ang", "ang"]


def test_the_uar_of_a_set_is_the_mean_of_its_fold_uars():
    # Session1: neu right, sad wrong -> UAR 50; Session2: ang right -> UAR 100
    labels = np.array(["neu", "sad", "ang", "ang"])
    predicted = np.array(["neu", "neu", "ang", "ang"])
    sessions = np.array(["Session1", "Session1", "Session2", "Session2"])
    assert _fold_mean_uar(labels, predicted, sessions) == pytest.approx(75.0)


def test_a_session_without_a_fold_model_is_refused():
    with pytest.raises(ValueError, match="no fold model for session"):
        predict_folds({"Session1": constant_recognizer("neu")}, emotion_set()[1][:2],
                      ["Session1", "Session3"])


def test_emotion_utility_scores_each_set_with_an_interval_and_averages_them():
    table, waves = emotion_set()
    models = {session: constant_recognizer("neu") for session in SESSIONS}
    metrics, predictions = emotion_utility(models, table, waves, SESSIONS[:3], resamples=50,
                                           seed=0)
    assert metrics["uar/dev"] == metrics["uar/test"] == 25.0          # one class of four
    assert metrics["uar/avg_low"] <= metrics["uar/avg"] <= metrics["uar/avg_high"]
    assert (predictions["predicted"] == "neu").all()


def test_emotion_utility_uses_each_sessions_own_fold_model():
    table, waves = emotion_set()
    models = {session: constant_recognizer("sad" if session == "Session5" else "neu")
              for session in SESSIONS}
    _, predictions = emotion_utility(models, table, waves, SESSIONS[:3], resamples=10, seed=0)
    assert set(predictions.loc[predictions["split"] == "Session5", "predicted"]) == {"sad"}


def test_emotion_utility_refuses_an_empty_test_set():
    table, waves = emotion_set()
    models = {session: constant_recognizer("neu") for session in SESSIONS}
    with pytest.raises(ValueError, match="test set"):
        emotion_utility(models, table, waves, SESSIONS, resamples=10, seed=0)


def test_content_utility_gives_the_wer_of_each_set_in_percent():
    tokenizer = Tokenizer.from_texts(["a b"], "chars")
    model = CTCRecognizer(ASRConfig(subsampling=2, conv_channels=8, lstm_cells=8,
                                    lstm_layers=1), tokenizer).eval()
    table = pd.DataFrame({"utt_id": ["u1", "u2", "u3", "u4"], "text": ["a b"] * 4,
                          "split": ["dev", "dev", "test", "test"]})
    waves = [np.zeros(RATE // 2, np.float32) for _ in range(4)]
    metrics, transcripts = content_utility(model, table, waves, resamples=20, seed=0)
    assert metrics["wer/dev"] == pytest.approx(
        100 * transcripts[:2]["errors"].sum() / transcripts[:2]["ref_words"].sum())
    assert metrics["wer/avg"] == pytest.approx((metrics["wer/dev"] + metrics["wer/test"]) / 2)


def test_content_utility_gives_jiwers_corpus_cer_of_each_set_in_percent():
    import jiwer

    tokenizer = Tokenizer.from_texts(["ab cd"], "chars")
    model = CTCRecognizer(ASRConfig(subsampling=2, conv_channels=8, lstm_cells=8,
                                    lstm_layers=1), tokenizer).eval()
    texts = ["ab cd", "a", "abcd ab", "cd"]
    table = pd.DataFrame({"utt_id": ["u1", "u2", "u3", "u4"], "text": texts,
                          "split": ["dev", "dev", "test", "test"]})
    waves = [np.random.default_rng(i).standard_normal(RATE // 2).astype(np.float32)
             for i in range(4)]
    metrics, transcripts = content_utility(model, table, waves, resamples=20, seed=0)
    hypotheses = transcripts["hypothesis"].fillna("").tolist()
    for name, rows in (("dev", slice(0, 2)), ("test", slice(2, 4))):
        assert metrics[f"cer/{name}"] == pytest.approx(
            100 * jiwer.cer(texts[rows], hypotheses[rows]))
    assert metrics["cer/avg"] == pytest.approx((metrics["cer/dev"] + metrics["cer/test"]) / 2)
