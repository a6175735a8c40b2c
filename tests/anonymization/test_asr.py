"""The CTC recognizer of the VPC utility evaluation: greedy decoding, tokens, learning, mixed
precision, save/load and WER."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from voxflow.anonymization.asr import (ASRConfig, ASRTraining, CTCRecognizer, Tokenizer,
                                       ctc_batches, ctc_loss, greedy_ctc, load_asr, save_asr,
                                       train_asr, transcribe, wer)
from voxflow.anonymization.audio import RATE
from voxflow.anonymization.audio import fbank_features

# three synthetic "words", each a sequence of two tones (Hz); a sentence is words in a row
WORDS = {"ba": (300, 900), "di": (1500, 500), "gu": (700, 2000)}
STEPS = 300                 # the small word recognizer is exact on new sentences from ~200


def sentence(words: list[str], rng: np.random.Generator) -> np.ndarray:
    """The words' tones (80-120 ms each) with 100 ms pauses around each word."""
    pause = np.zeros(int(0.1 * RATE), np.float32)
    parts = [pause]
    for word in words:
        for frequency in WORDS[word]:
            t = np.arange(int(rng.uniform(0.08, 0.12) * RATE)) / RATE
            parts.append(0.3 * np.sin(2 * np.pi * frequency * rng.uniform(0.97, 1.03) * t))
        parts.append(pause)
    wave = np.concatenate(parts)
    return (wave + 0.01 * rng.standard_normal(len(wave))).astype(np.float32)


def synthetic(count: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(list(WORDS), int(rng.integers(1, 4)))) for _ in range(count)]
    return [sentence(text.split(), rng) for text in texts], texts


def small_config(**overrides) -> ASRConfig:
    return ASRConfig(**{"tokens": "words", "subsampling": 4, "conv_channels": 32,
                        "lstm_cells": 32, "lstm_layers": 1, "dropout": 0.0, **overrides})


def small_training(**overrides) -> ASRTraining:
    return ASRTraining(**{"steps": 60, "batch_size": 8, "lr": 5e-3, "grad_clip": 5.0,
                          "validate_every": 0, "checkpoint_every": 1000, "log_every": 10,
                          **overrides})


def one_hot_scores(best: list[int], tokens: int = 4) -> torch.Tensor:
    """(frames, tokens) log-probability-like scores whose best token per frame is `best`."""
    return torch.nn.functional.one_hot(torch.tensor(best), tokens).float()


def test_greedy_decoding_collapses_repeats():
    assert greedy_ctc(one_hot_scores([1, 1, 1, 2, 2, 3])) == [1, 2, 3]


def test_greedy_decoding_drops_blanks():
    assert greedy_ctc(one_hot_scores([0, 1, 0, 0, 2, 0])) == [1, 2]


def test_greedy_decoding_keeps_a_repeat_separated_by_a_blank():
    assert greedy_ctc(one_hot_scores([1, 1, 0, 1, 3, 0, 3])) == [1, 1, 3, 3]


def test_character_inventory_is_the_blank_and_the_sorted_characters():
    tokenizer = Tokenizer.from_texts(["Ab, b'a!"], "chars")
    assert tokenizer.units == ("<blank>", " ", "'", "a", "b")


def test_character_tokens_round_trip_to_the_normalised_text():
    tokenizer = Tokenizer.from_texts(["The cat's hat.", "A dog"], "chars")
    assert tokenizer.decode(tokenizer.encode("the dog's hat")) == "the dog's hat"


def test_word_tokens_round_trip_to_the_normalised_text():
    tokenizer = Tokenizer.from_texts(["The cat's hat.", "A dog"], "words")
    assert tokenizer.decode(tokenizer.encode("A cat's Dog!")) == "a cat's dog"


def test_a_word_outside_the_inventory_is_refused():
    tokenizer = Tokenizer.from_texts(["a dog"], "words")
    with pytest.raises(ValueError, match="word 'cat' is not in the token inventory"):
        tokenizer.encode("a cat")


def test_an_unknown_token_kind_is_refused():
    with pytest.raises(ValueError, match="tokens must be one of"):
        ASRConfig(tokens="phones")


def test_an_utterance_too_short_for_its_transcript_is_refused(tmp_path):
    waves = [np.zeros(1600, np.float32)]                  # 0.1 s: 8 fbank frames, 2 after 4x
    with pytest.raises(ValueError, match="utterance 0: 2 frames"):
        train_asr(waves, ["abcdef"], tmp_path, small_config(tokens="chars"), small_training(),
                  seed=0)


def test_the_loss_falls_on_synthetic_words(tmp_path):
    waves, texts = synthetic(24, seed=0)
    tokenizer = Tokenizer.from_texts(texts, "words")
    batch = ctc_batches(fbank_features(waves), [tokenizer.encode(t) for t in texts],
                        24)(torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    before = ctc_loss(CTCRecognizer(small_config(), tokenizer).eval(), batch)[0].item()
    model = train_asr(waves, texts, tmp_path, small_config(), small_training(), seed=0)
    assert ctc_loss(model, batch)[0].item() < 0.3 * before


def test_loss_under_cpu_bf16_autocast_is_finite_and_close_to_fp32():
    waves, texts = synthetic(8, seed=0)
    tokenizer = Tokenizer.from_texts(texts, "chars")
    batch = ctc_batches(fbank_features(waves), [tokenizer.encode(t) for t in texts],
                        8)(torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = CTCRecognizer(small_config(tokens="chars", subsampling=2, lstm_layers=2), tokenizer)
    full, _ = ctc_loss(model.eval(), batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half, _ = ctc_loss(model, batch)
    assert torch.isfinite(half)
    assert abs(half.item() - full.item()) < 0.05 * abs(full.item())


def test_with_a_dev_set_the_weights_of_the_best_dev_wer_are_kept(tmp_path):
    waves, texts = synthetic(24, seed=0)
    dev_waves, dev_texts = synthetic(6, seed=1)
    model = train_asr(waves, texts, tmp_path, small_config(),
                      small_training(steps=150, validate_every=50), seed=0,
                      dev=(dev_waves, dev_texts))
    history = torch.load(tmp_path / "asr.pt", weights_only=False)["validation"]
    report = wer(model, dev_waves, dev_texts, [f"u{i}" for i in range(6)])
    assert report.metrics["wer"] == min(v["dev_mse"] for v in history)


def test_training_is_deterministic(tmp_path):
    waves, texts = synthetic(6, seed=0)
    runs = [train_asr(waves, texts, tmp_path / str(k), small_config(), small_training(steps=3),
                      seed=5) for k in range(2)]
    for (name, a), b in zip(runs[0].state_dict().items(), runs[1].state_dict().values()):
        assert torch.equal(a, b), name


def test_saved_recognizer_transcribes_the_same(tmp_path):
    waves, texts = synthetic(4, seed=1)
    torch.manual_seed(0)
    model = CTCRecognizer(small_config(tokens="chars"), Tokenizer.from_texts(texts, "chars"))
    loaded = load_asr(save_asr(model, tmp_path / "asr.pt"))
    features = fbank_features(waves[:1])[0][None]
    lengths = torch.tensor([features.shape[1]])
    assert loaded.tokenizer == model.tokenizer
    torch.testing.assert_close(loaded(features, lengths)[0], model.eval()(features, lengths)[0])


def test_padding_does_not_change_a_transcript_score():
    waves, texts = synthetic(3, seed=2)
    torch.manual_seed(0)
    model = CTCRecognizer(small_config(), Tokenizer.from_texts(texts, "words")).eval()
    features = fbank_features(waves)
    together, _ = model(torch.nn.utils.rnn.pad_sequence(features, batch_first=True),
                        torch.tensor([len(f) for f in features]))
    alone, frames = model(features[0][None], torch.tensor([len(features[0])]))
    torch.testing.assert_close(together[0, :frames[0]], alone[0], atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> CTCRecognizer:
    """A word recognizer trained to convergence on the synthetic words."""
    waves, texts = synthetic(24, seed=0)
    return train_asr(waves, texts, tmp_path_factory.mktemp("asr"), small_config(),
                     small_training(steps=STEPS), seed=0)


def test_a_trained_recognizer_transcribes_new_synthetic_sentences(trained):
    waves, texts = synthetic(12, seed=1)
    assert transcribe(trained, waves) == texts


def test_the_wer_of_a_perfect_transcript_is_zero(trained):
    waves, texts = synthetic(6, seed=1)
    report = wer(trained, waves, texts, [f"u{i}" for i in range(6)])
    assert report.metrics["wer"] == 0.0
