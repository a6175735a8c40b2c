"""The VPC 2024 privacy evaluation: ECAPA-TDNN, AAM softmax, training, trial lists, cosine
scoring and EERs with speaker-bootstrap intervals."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from voxflow.anonymization.asv import (ECAPA, MODELS, ASVTrainConfig, SpeakerClassifier,
                                       aam_logits, aam_loss, chunk_sampler, embed, load_asv,
                                       make_trials, save_asv, score_trials, subset_eers,
                                       train_asv, utterance_features, with_cosine_scores)
from voxflow.anonymization.audio import RATE
from voxflow.training.loop import TrainConfig, train

SPEAKERS = 12        # 6 per gender


def speaker_wave(speaker: int, utt: int, seconds: float = 1.5) -> np.ndarray:
    """A synthetic speaker: bursts of a harmonic tone whose pitch (100 Hz * 1.15^speaker, +-1 %)
    and spectral tilt are the speaker's; the burst pattern, phases and gain are the
    utterance's. (Bursts, not a steady tone: fbank removes each bin's mean over the utterance.)"""
    rng = np.random.default_rng([speaker, utt])
    f0 = 100.0 * 1.15 ** speaker * rng.uniform(0.99, 1.01)
    tilt = 0.5 + 0.5 * (speaker % 3)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k ** tilt
               for k in range(1, 12) if k * f0 < RATE / 2)
    gate = np.repeat(rng.random(int(seconds * 20) + 1) < 0.6, RATE // 20)[:t.size]
    noise = 0.003 * rng.standard_normal(t.size)
    return (rng.uniform(0.2, 0.4) * tone * gate + noise).astype(np.float32)


def training_set(utts: int = 4) -> tuple[list[np.ndarray], list[str]]:
    waves = [speaker_wave(s, u) for s in range(SPEAKERS) for u in range(utts)]
    return waves, [f"s{s}" for s in range(SPEAKERS) for _ in range(utts)]


def utterance_table(speakers: int = SPEAKERS, utts: int = 4, splits=("dev",)) -> pd.DataFrame:
    """utt_id, speaker, gender (even speakers f), split; utterance numbers from 10 on (not the
    training ones)."""
    return pd.DataFrame(
        [(f"{split}-s{s}-{u}", f"{split}-s{s}", "fm"[s % 2], split)
         for split in splits for s in range(speakers) for u in range(10, 10 + utts)],
        columns=["utt_id", "speaker", "gender", "split"])


def train_config(**overrides) -> ASVTrainConfig:
    settings = {"steps": 150, "batch_size": 8, "chunk_seconds": 1.0, "lr": 3e-3,
                "checkpoint_every": 1000, "log_every": 10}
    return ASVTrainConfig(**{**settings, **overrides})


def tiny_classifier(seed: int = 0) -> SpeakerClassifier:
    torch.manual_seed(seed)
    ecapa = ECAPA(MODELS["tiny"], [f"s{s}" for s in range(SPEAKERS)])
    return SpeakerClassifier(ecapa, margin=0.2, scale=30.0)


def training_sampler(batch_size: int = 8, chunk_frames: int = 100):
    waves, speakers = training_set()
    labels = torch.tensor([int(s[1:]) for s in speakers])
    return chunk_sampler(utterance_features(waves, chunk_frames), labels, batch_size,
                         chunk_frames)


def hand_scored(embeddings: dict[str, np.ndarray], enrollment: pd.DataFrame,
                trials: pd.DataFrame) -> pd.DataFrame:
    """Trials scored from given embeddings (score_trials without a model)."""
    models = {s: np.mean([embeddings[u] for u in utts], axis=0)
              for s, utts in enrollment.groupby("speaker")["utt_id"]}
    return with_cosine_scores(trials, models, embeddings)


# --- ECAPA ------------------------------------------------------------------------------------

def test_ecapa_maps_any_length_to_one_embedding():
    model = ECAPA(MODELS["tiny"]).eval()
    shapes = [tuple(model(torch.randn(2, frames, 80)).shape) for frames in (5, 37, 300)]
    assert shapes == [(2, 96)] * 3


def test_ecapa_rejects_wrong_feature_size():
    with pytest.raises(ValueError, match=r"\(batch, frames, 80\)"):
        ECAPA(MODELS["tiny"])(torch.randn(2, 50, 40))


def test_paper_preset_has_speechbrain_ecapa_size():
    params = sum(p.numel() for p in ECAPA(MODELS["paper"]).parameters())
    assert 20.5e6 < params < 21.0e6      # spkrec-ecapa-voxceleb's embedding model: 20.8 M


# --- AAM softmax ------------------------------------------------------------------------------

def test_aam_margin_lowers_the_target_logit_to_cos_theta_plus_margin():
    cosine = torch.tensor([[0.5, 0.1, -0.3]])
    logits = aam_logits(cosine, torch.tensor([0]), margin=0.2, scale=30.0)
    assert logits[0, 0].item() == pytest.approx(30 * math.cos(math.acos(0.5) + 0.2), abs=1e-4)


def test_aam_leaves_nontarget_logits_at_scaled_cosine():
    cosine = torch.tensor([[0.5, 0.1, -0.3]])
    logits = aam_logits(cosine, torch.tensor([0]), margin=0.2, scale=30.0)
    assert logits[0, 1:].tolist() == pytest.approx([3.0, -9.0], abs=1e-4)


# --- training ---------------------------------------------------------------------------------

def test_training_loss_is_finite_and_close_to_fp32_under_bf16_autocast():
    model = tiny_classifier()
    batch = training_sampler()(torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = aam_loss(model, batch)[0].item()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = aam_loss(model, batch)[0].item()
    assert math.isfinite(half) and half == pytest.approx(full, rel=0.05)


def test_training_loss_falls(tmp_path):
    model = tiny_classifier()
    sample_batch = training_sampler()
    fixed = sample_batch(torch.Generator().manual_seed(99))
    with torch.no_grad():
        before = aam_loss(model, fixed)[0].item()
    train(model, aam_loss, sample_batch, tmp_path,
          TrainConfig(steps=40, checkpoint_every=1000, log_every=10, lr=3e-3))
    with torch.no_grad():
        after = aam_loss(model.train(), fixed)[0].item()
    assert after < before / 3


def test_chunks_of_short_utterances_are_repeated_to_full_length():
    short = speaker_wave(0, 0, seconds=0.3)               # about 30 frames
    sample_batch = chunk_sampler(utterance_features([short], 100), torch.tensor([0]), 2, 100)
    assert tuple(sample_batch(torch.Generator().manual_seed(0))["feats"].shape) == (2, 100, 80)


def test_train_asv_is_deterministic(tmp_path):
    waves, speakers = training_set(utts=2)
    config = train_config(steps=3)
    first = train_asv(waves, speakers, tmp_path / "a", MODELS["tiny"], config, seed=4)
    second = train_asv(waves, speakers, tmp_path / "b", MODELS["tiny"], config, seed=4)
    np.testing.assert_array_equal(embed(first, waves[0]), embed(second, waves[0]))


def test_train_asv_rejects_mismatched_labels(tmp_path):
    waves, speakers = training_set(utts=1)
    with pytest.raises(ValueError, match="speaker labels"):
        train_asv(waves, speakers[:-1], tmp_path, MODELS["tiny"], train_config())


def test_save_load_round_trip_gives_identical_embeddings(tmp_path):
    model = tiny_classifier().ecapa.eval()
    save_asv(model, tmp_path / "asv.pt")
    loaded = load_asv(tmp_path / "asv.pt")
    wave = speaker_wave(3, 0)
    np.testing.assert_array_equal(embed(loaded, wave), embed(model, wave))


# --- trials -----------------------------------------------------------------------------------

def test_make_trials_keeps_enrollment_utterances_out_of_trials():
    enrollment, trials = make_trials(utterance_table(), seed=0, enrollment_per_speaker=2)
    assert not set(enrollment["utt_id"]) & set(trials["utt_id"])


def test_make_trials_pairs_only_utterances_and_speakers_of_the_same_subset():
    table = utterance_table(splits=("dev", "test"))
    _, trials = make_trials(table, seed=0)
    subset = dict(zip(table["speaker"], table["split"] + "-" + table["gender"]))
    utterance_subset = dict(zip(table["utt_id"], table["speaker"].map(subset)))
    assert ((trials["enroll_speaker"].map(subset) == trials["subset"])
            & (trials["utt_id"].map(utterance_subset) == trials["subset"])).all()


def test_make_trials_scores_every_trial_utterance_against_every_speaker_of_its_subset():
    _, trials = make_trials(utterance_table(utts=3), seed=0)
    # per subset 6 speakers, each with 2 trial utterances, against 6 enrolled speakers
    assert trials.groupby("subset").size().to_dict() == {"dev-f": 72, "dev-m": 72}


def test_make_trials_marks_targets_exactly_where_speakers_match():
    table = utterance_table()
    _, trials = make_trials(table, seed=0)
    speaker = dict(zip(table["utt_id"], table["speaker"]))
    assert (trials["target"] == (trials["utt_id"].map(speaker) == trials["enroll_speaker"])).all()


def test_make_trials_enrollment_choice_follows_the_seed():
    table = utterance_table(utts=6)
    chosen = [set(make_trials(table, seed=s)[0]["utt_id"]) for s in (0, 0, 1)]
    assert chosen[0] == chosen[1] != chosen[2]


def test_make_trials_rejects_speaker_without_trial_utterances():
    with pytest.raises(ValueError, match="dev-s0 has 2 utterances"):
        make_trials(utterance_table(utts=2), seed=0, enrollment_per_speaker=2)


def test_score_trials_rejects_missing_wave():
    enrollment, trials = make_trials(utterance_table(utts=2), seed=0)
    with pytest.raises(ValueError, match="no wave for utterances"):
        score_trials(ECAPA(MODELS["tiny"]), enrollment, trials, {})


# --- EERs -------------------------------------------------------------------------------------

def test_pipeline_eer_is_near_zero_on_separable_speakers(tmp_path):
    waves, speakers = training_set()
    model = train_asv(waves, speakers, tmp_path, MODELS["tiny"], train_config(), seed=0)
    table = utterance_table(utts=4)
    enrollment, trials = make_trials(table, seed=0, enrollment_per_speaker=2)
    test_waves = {u: speaker_wave(int(s.split("-s")[1]), int(u.rsplit("-", 1)[1]))
                  for u, s in zip(table["utt_id"], table["speaker"])}
    eers = subset_eers(score_trials(model, enrollment, trials, test_waves), resamples=50)
    assert eers.set_index("subset").loc["avg", "eer"] <= 2.5     # untrained: 3.75 %


def test_eer_is_near_50_percent_on_identical_speakers():
    table = utterance_table(speakers=40, utts=11)
    enrollment, trials = make_trials(table, seed=0)
    rng = np.random.default_rng(0)
    embeddings = {u: rng.standard_normal(16) for u in table["utt_id"]}   # one voice for all
    eers = subset_eers(hand_scored(embeddings, enrollment, trials), resamples=20)
    assert eers.set_index("subset").loc["avg", "eer"] == pytest.approx(50, abs=5)


def test_eer_is_in_percent():
    _, trials = make_trials(utterance_table(), seed=0)
    scored = trials.assign(score=np.where(trials["target"], -1.0, 1.0))   # all wrong
    assert subset_eers(scored, resamples=5)["eer"].tolist() == [100.0, 100.0, 100.0]


def test_average_row_is_the_mean_of_the_subset_eers():
    _, trials = make_trials(utterance_table(splits=("dev", "test")), seed=0)
    scored = trials.assign(score=np.random.default_rng(1).standard_normal(len(trials)))
    eers = subset_eers(scored, resamples=5).set_index("subset")["eer"]
    assert eers["avg"] == pytest.approx(eers.drop("avg").mean())


def test_bootstrap_interval_contains_the_point_estimate():
    _, trials = make_trials(utterance_table(speakers=20), seed=0)
    rng = np.random.default_rng(2)
    scored = trials.assign(score=trials["target"] + rng.standard_normal(len(trials)))
    eers = subset_eers(scored, resamples=200, seed=0)
    assert ((eers["ci_low"] <= eers["eer"]) & (eers["eer"] <= eers["ci_high"])
            & (eers["ci_low"] < eers["ci_high"])).all()


def test_subset_eers_rejects_speaker_without_target_trials():
    _, trials = make_trials(utterance_table(), seed=0)
    scored = trials.assign(score=0.0)
    scored = scored[~(scored["target"] & (scored["enroll_speaker"] == "dev-s0"))]
    with pytest.raises(ValueError, match=r"\['dev-s0'\] lack target"):
        subset_eers(scored, resamples=5)
