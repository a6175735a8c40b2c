"""The WavLM encoder, its HuBERT pretraining and its saving / loading."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from torchaudio.models import wavlm_large
from torchaudio.models.wav2vec2.components import LayerNorm as ChannelLayerNorm

from voxflow.anonymization import ssl
from voxflow.anonymization.audio import HOP, RATE
from voxflow.training import TrainConfig
from voxflow.training.loop import train

TINY = ssl.MODELS["tiny"]
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480),
          (570, 840, 2410))


def vowel_wave(seed: int, seconds: float = 1.2, vowel_s: float = 0.5) -> np.ndarray:
    """A harmonic source of random f0 through the formants of random vowels of `vowel_s` each
    (long enough for a masked span's units to be predictable from its context)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = rng.uniform(90, 250)
    formants = np.array(VOWELS)[rng.integers(len(VOWELS), size=int(seconds / vowel_s) + 1)]
    segment_formants = formants[(t / vowel_s).astype(int)]            # (samples, 3)
    wave = np.zeros_like(t)
    for harmonic in range(1, 30):
        gain = (1 / (1 + ((harmonic * f0 - segment_formants) / 80) ** 2)).sum(axis=1)
        wave += gain * np.sin(2 * np.pi * harmonic * f0 * t) / harmonic
    wave += 0.01 * rng.standard_normal(len(t))
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


def make_training(**overrides) -> ssl.SSLTrainConfig:
    base = dict(steps=60, batch_size=4, crop_s=1.0, lr=2e-3, units=(16,), kmeans_frames=5000,
                log_every=10, checkpoint_every=1000)
    return ssl.SSLTrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def waves() -> list[np.ndarray]:
    return [vowel_wave(seed) for seed in range(8)]


@pytest.fixture(scope="module")
def encoder() -> ssl.SSLEncoder:
    return ssl.new_encoder(TINY, seed=0).eval()


def make_pretraining(waves, training):
    """A seeded pretrainer, its batch sampler (MFCC units) and one fixed batch."""
    units = ssl.fit_units([ssl.mfcc39(w) for w in waves], training.units[0],
                          training.kmeans_frames, seed=0)
    with ssl.seeded(0):
        model = ssl.HuBERTPretrainer(ssl.SSLEncoder(TINY), training.units[0],
                                     training.projection_dim, training.temperature)
    sampler = ssl.crop_sampler(waves, units, training)
    return model, sampler, sampler(torch.Generator().manual_seed(123))


# --- the encoder --------------------------------------------------------------------------

def test_encoder_returns_the_input_and_every_layer(encoder):
    assert len(encoder(torch.randn(1, 8000))) == TINY.layers + 1


def test_conv_blocks_give_contiguous_outputs_and_torchaudios_values(encoder):
    plain = copy.deepcopy(encoder)             # torchaudio's own channel LayerNorms back
    ssl.set_channel_norms(plain.model, ChannelLayerNorm)
    x = torch.from_numpy(vowel_wave(1))[None, None].float()
    expected = x
    for block, plain_block in zip(encoder.model.feature_extractor.conv_layers,
                                  plain.model.feature_extractor.conv_layers):
        x, expected = block(x, None)[0], plain_block(expected, None)[0]
        assert x.is_contiguous() and not expected.is_contiguous()
        torch.testing.assert_close(x, expected)


@pytest.mark.parametrize("samples", [RATE, 12345])
def test_encoder_gives_one_frame_per_hop_after_the_receptive_field(encoder, samples):
    hidden = encoder(torch.randn(2, samples))
    assert hidden[-1].shape == (2, (samples - 400) // HOP + 1, TINY.dim)


def test_padded_row_matches_the_row_alone(encoder):
    waves = torch.randn(2, RATE)
    padded = encoder(waves, torch.tensor([RATE, 9000]))[-1][1]
    alone = encoder(waves[1:, :9000])[-1][0]
    torch.testing.assert_close(padded[:len(alone)], alone, atol=1e-4, rtol=1e-4)


def test_features_are_the_layer_of_forward(encoder):
    wave = vowel_wave(0)
    with torch.no_grad():
        expected = encoder(torch.from_numpy(wave)[None])[2][0].numpy()
    np.testing.assert_allclose(ssl.features(encoder, wave, 2), expected, atol=1e-5)


def test_mfcc39_has_the_encoder_frame_count(encoder):
    wave = vowel_wave(1)
    assert ssl.mfcc39(wave).shape == (ssl.features(encoder, wave, 0).shape[0], 39)


def test_wave_shorter_than_one_frame_is_refused(encoder):
    with pytest.raises(ValueError, match="fewer than one encoder frame"):
        ssl.features(encoder, np.zeros(399, np.float32), 1)


def test_layer_beyond_the_encoder_is_refused(encoder):
    with pytest.raises(ValueError, match="layer must be in 0..4"):
        ssl.features(encoder, vowel_wave(0), TINY.layers + 1)


def test_stored_features_equal_the_encoders_bit_for_bit(encoder, waves, tmp_path):
    path = ssl.store_features(encoder, waves[:3], 2, tmp_path / ssl.STORED_FEATURES)
    stored = ssl.load_stored_features(path, 2)
    for wave in waves[:3]:
        np.testing.assert_array_equal(stored[ssl.wave_key(wave)], ssl.features(encoder, wave, 2))


def test_features_are_looked_up_in_the_stored_ones(encoder):
    wave = vowel_wave(0)
    marker = np.full((3, TINY.dim), 7.0, np.float32)
    assert ssl.features(encoder, wave, 2, {ssl.wave_key(wave): marker}) is marker


def test_a_waveform_not_stored_is_encoded(encoder):
    wave, other = vowel_wave(0), vowel_wave(1)
    stored = {ssl.wave_key(other): np.zeros((3, TINY.dim), np.float32)}
    np.testing.assert_array_equal(ssl.features(encoder, wave, 2, stored),
                                  ssl.features(encoder, wave, 2))


def test_a_changed_sample_changes_the_key():
    wave = vowel_wave(0)
    changed = wave.copy()
    changed[100] = np.nextafter(changed[100], np.float32(1))
    assert ssl.wave_key(changed) != ssl.wave_key(wave)
    assert ssl.wave_key(wave.astype(np.float64)) == ssl.wave_key(wave)


def test_stored_features_of_another_layer_are_refused(encoder, waves, tmp_path):
    path = ssl.store_features(encoder, waves[:1], 2, tmp_path / ssl.STORED_FEATURES)
    with pytest.raises(ValueError, match="holds layer 2's features, layer 3 wanted"):
        ssl.load_stored_features(path, 3)


def test_same_seed_gives_the_same_initial_weights():
    a, b = ssl.new_encoder(TINY, 3), ssl.new_encoder(TINY, 3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values()))


# --- masking and batches ------------------------------------------------------------------

def test_span_mask_masks_the_expected_share():
    mask = ssl.span_mask(torch.full((32,), 4000), 4000, 0.08, 10,
                         torch.Generator().manual_seed(0))
    assert float(mask.float().mean()) == pytest.approx(1 - 0.92 ** 10, abs=0.01)


def test_span_mask_leaves_padded_frames_unmasked():
    frames = torch.tensor([100, 40, 10])
    mask = ssl.span_mask(frames, 100, 0.5, 10, torch.Generator().manual_seed(0))
    assert not any(mask[row, n:].any() for row, n in enumerate(frames.tolist()))


def test_crop_units_line_up_with_the_crop_frames():
    waves = [np.arange(40_000, dtype=np.float32), np.arange(6_000, dtype=np.float32)]
    units = [np.arange(ssl.frame_count(len(w))) for w in waves]    # unit = frame index
    batch = ssl.crop_sampler(waves, units, make_training(batch_size=16))(
        torch.Generator().manual_seed(0))
    for row in range(16):
        first_frame = int(batch["waves"][row, 0]) // HOP
        valid = ssl.frame_count(int(batch["lengths"][row]))
        assert batch["units"][row, :valid].tolist() == list(range(first_frame,
                                                                  first_frame + valid))


# --- pretraining --------------------------------------------------------------------------

def test_pretraining_loss_falls(waves, tmp_path):
    training = make_training()
    model, sampler, batch = make_pretraining(waves, training)
    with torch.no_grad():
        before = float(ssl.UnitPredictionLoss()(model, batch)[0])
    schedule = ssl.warmup_then_decay(training.steps, training.warmup_share)
    train(model, ssl.UnitPredictionLoss(), sampler, tmp_path,
          TrainConfig(steps=training.steps, lr=training.lr, grad_clip=training.grad_clip,
                      log_every=10, device="cpu"),
          scheduler_factory=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, schedule))
    with torch.no_grad():
        after = float(ssl.UnitPredictionLoss()(model, batch)[0])
    assert after < 0.8 * before


@pytest.mark.parametrize("unmasked_weight", [0.0, 0.5])
def test_loss_under_bf16_autocast_is_close_to_fp32(waves, unmasked_weight):
    model, _, batch = make_pretraining(waves, make_training())
    loss = ssl.UnitPredictionLoss(unmasked_weight)
    with torch.no_grad():
        full = float(loss(model, batch)[0])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = float(loss(model, batch)[0])
    assert np.isfinite(half) and half == pytest.approx(full, rel=0.02)


def test_unmasked_weight_mixes_the_masked_and_unmasked_cross_entropies(waves):
    model, _, batch = make_pretraining(waves, make_training())
    with torch.no_grad():
        masked = float(ssl.UnitPredictionLoss(0.0)(model, batch)[0])
        unmasked = float(ssl.UnitPredictionLoss(1.0)(model, batch)[0])
        mixed = float(ssl.UnitPredictionLoss(0.25)(model, batch)[0])
    assert masked != pytest.approx(unmasked)
    assert mixed == pytest.approx(0.75 * masked + 0.25 * unmasked, rel=1e-5)


@pytest.fixture(scope="module")
def pretrained(waves, tmp_path_factory):
    """Two short two-iteration pretraining runs with the same seed."""
    training = make_training(steps=3, units=(8, 8), label_layer=2)
    dirs = [tmp_path_factory.mktemp(f"ssl{run}") for run in range(2)]
    return [(ssl.pretrain(waves, d, TINY, training, seed=0), d) for d in dirs]


def test_pretraining_trains_one_model_per_iteration(pretrained):
    _, out_dir = pretrained[0]
    assert [p.name for p in sorted((out_dir / "checkpoints").iterdir())] == [
        "iteration-1", "iteration-2"]


def test_pretrained_encoder_reloads_with_identical_features(pretrained, waves):
    encoder, out_dir = pretrained[0]
    loaded = ssl.load_encoder(out_dir / ssl.SSL_FILE)
    np.testing.assert_array_equal(ssl.features(loaded, waves[0], 3),
                                  ssl.features(encoder, waves[0], 3))


def test_pretraining_with_the_same_seed_gives_the_same_weights(pretrained):
    (a, _), (b, _) = pretrained
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values()))


def test_pretraining_refuses_utterances_shorter_than_a_mask_span(tmp_path):
    with pytest.raises(ValueError, match=r"too short: waves\[1\]"):
        ssl.pretrain([vowel_wave(0), vowel_wave(1, 0.1)], tmp_path, TINY, make_training(), 0)


# --- pretrained WavLM weights -------------------------------------------------------------

def test_torchaudio_state_dict_loads_with_identical_features(encoder, tmp_path):
    path = tmp_path / "wavlm.pth"
    torch.save(encoder.model.state_dict(), path)
    loaded = ssl.load_pretrained_wavlm(path, TINY)
    wave = vowel_wave(2)
    np.testing.assert_array_equal(ssl.features(loaded, wave, 4), ssl.features(encoder, wave, 4))


def test_weight_norm_names_of_older_bundle_files_load(encoder, tmp_path):
    state = dict(encoder.model.state_dict())
    prefix = "encoder.transformer.pos_conv_embed.conv."
    state[prefix + "weight_g"] = state.pop(prefix + "parametrizations.weight.original0")
    state[prefix + "weight_v"] = state.pop(prefix + "parametrizations.weight.original1")
    torch.save(state, tmp_path / "old.pth")
    loaded = ssl.load_pretrained_wavlm(tmp_path / "old.pth", TINY)
    wave = vowel_wave(3)
    np.testing.assert_array_equal(ssl.features(loaded, wave, 4), ssl.features(encoder, wave, 4))


def test_weights_of_another_architecture_are_refused(encoder, tmp_path):
    torch.save(encoder.model.state_dict(), tmp_path / "wavlm.pth")
    with pytest.raises(ValueError, match="keys do not match"):
        ssl.load_pretrained_wavlm(tmp_path / "wavlm.pth", dataclasses.replace(TINY, layers=3))


def test_missing_weights_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="WAVLM_LARGE bundle"):
        ssl.load_pretrained_wavlm(tmp_path / "wavlm_large.pth")


def test_paper_preset_is_torchaudio_wavlm_large():
    with torch.device("meta"):                       # shapes only: no 1.3 GB of weights
        ours = ssl.SSLEncoder(ssl.MODELS["paper"]).model.state_dict()
        reference = wavlm_large().state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in reference.items()}
