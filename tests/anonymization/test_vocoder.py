"""The HiFi-GAN vocoder on a small learnable case: log-mel features of sine tones (gliding between
random pitches and levels) as the input, the tones as the target."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from voxflow.anonymization.audio import HOP, RATE
from voxflow.anonymization.vocoder import (MEL_LOSS, MODELS, TRAINING, Generator,
                                           VocoderConfig, VocoderObjective, load_vocoder,
                                           save_vocoder, train_vocoder, vocode)
from voxflow.features.logmel import LogMel

DIM = MEL_LOSS.n_mels
LOG_MEL = LogMel(MEL_LOSS)


def make_config(**overrides) -> VocoderConfig:
    return replace(MODELS["tiny"], feature_dim=DIM, **overrides)


def tones(count: int, frames: int, seed: int) -> list[np.ndarray]:
    """`count` waveforms of `frames * HOP` samples: a sine whose pitch (150-600 Hz) and level
    change every 10 frames."""
    rng = np.random.default_rng(seed)
    steps = frames // 10 + 1
    waves = []
    for _ in range(count):
        pitch = np.repeat(rng.uniform(150, 600, steps), 10 * HOP)[:frames * HOP]
        level = np.repeat(rng.uniform(0.1, 0.5, steps), 10 * HOP)[:frames * HOP]
        waves.append((level * np.sin(2 * np.pi * np.cumsum(pitch) / RATE)).astype(np.float32))
    return waves


def features_of(wave: np.ndarray) -> np.ndarray:
    return LOG_MEL(torch.from_numpy(wave)[None])[0].numpy()


def log_spectral_distance(generator: Generator, waves: list[np.ndarray]) -> float:
    """Mean absolute log-mel difference between the vocoded features and the waves."""
    return float(np.mean([(LOG_MEL(torch.from_numpy(vocode(generator, features_of(w)))[None])
                           - LOG_MEL(torch.from_numpy(w)[None])).abs().mean() for w in waves]))


def segment_batch(waves: list[np.ndarray], frames: int = 25) -> tuple[torch.Tensor, torch.Tensor]:
    audio = torch.stack([torch.from_numpy(w[:frames * HOP]) for w in waves])
    return LOG_MEL(audio), audio


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(untrained, trained) generators of the tiny preset after 60 steps on 8 one-second tones:
    the same initial weights and feature normalisation."""
    waves = tones(8, 50, seed=0)
    features = [features_of(w) for w in waves]
    training = replace(TRAINING["tiny"], steps=60, checkpoint_every=60)
    generator = train_vocoder(features, waves, tmp_path_factory.mktemp("vocoder"), make_config(),
                              training, seed=0)
    torch.manual_seed(0)
    untrained = Generator(make_config())
    untrained.mean.copy_(generator.mean)
    untrained.std.copy_(generator.std)
    return untrained.eval(), generator


def test_output_has_hop_samples_per_frame():
    torch.manual_seed(0)
    assert vocode(Generator(make_config()), np.zeros((37, DIM), np.float32)).shape == (37 * HOP,)


def test_upsample_rates_must_multiply_to_the_hop():
    with pytest.raises(ValueError, match="multiply to 256"):
        make_config(upsample_rates=(8, 8, 2, 2), upsample_kernels=(16, 16, 4, 4))


def test_training_lowers_the_objective_on_training_segments(trained):
    untrained, generator = trained
    features, audio = segment_batch(tones(8, 50, seed=0))
    with torch.no_grad():
        losses = [VocoderObjective(g, TRAINING["tiny"]).eval()(features, audio)["loss"]
                  for g in (untrained, generator)]
    assert float(losses[1]) < 0.5 * float(losses[0])


def test_trained_output_is_closer_to_held_out_targets_than_untrained(trained):
    untrained, generator = trained
    held_out = tones(2, 50, seed=1)
    assert log_spectral_distance(generator, held_out) < 0.5 * log_spectral_distance(untrained,
                                                                                    held_out)


def test_saved_vocoder_loads_with_its_weights_and_normalisation(trained, tmp_path):
    _, generator = trained
    loaded = load_vocoder(save_vocoder(generator, tmp_path / "vocoder.pt"))
    features = features_of(tones(1, 20, seed=2)[0])
    assert loaded.config == generator.config
    assert np.array_equal(vocode(loaded, features), vocode(generator, features))


def test_training_is_deterministic_for_a_fixed_seed(tmp_path):
    waves = tones(3, 30, seed=0)
    features = [features_of(w) for w in waves]
    training = replace(TRAINING["tiny"], steps=2, batch_size=2)
    first, again = (train_vocoder(features, waves, tmp_path / name, make_config(), training,
                                  seed=4) for name in ("a", "b"))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                  again.state_dict().values()))


def test_training_rejects_audio_not_hop_samples_per_frame(tmp_path):
    waves = tones(2, 30, seed=0)
    features = [features_of(w) for w in waves]
    with pytest.raises(ValueError, match="utterance 1: 30 frames need"):
        train_vocoder(features, [waves[0], waves[1][:-1]], tmp_path, make_config(),
                      TRAINING["tiny"])


def adversarial_objective(start: int = 0) -> VocoderObjective:
    torch.manual_seed(0)
    training = replace(TRAINING["tiny"], adversarial_from_step=start,
                       discriminator_channels=32)
    return VocoderObjective(Generator(make_config()), training)


@pytest.fixture(scope="module")
def precision_terms():
    """Every loss term of one adversarial training forward, in float32 and under CPU bfloat16
    autocast (same weights, same batch)."""
    objective = adversarial_objective()
    batch = segment_batch(tones(2, 25, seed=3))
    with torch.no_grad():
        full = objective(*batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = objective(*batch)
    return full, low


@pytest.mark.parametrize("term", ["mel", "stft", "adversarial", "feature_matching",
                                  "discriminator", "loss"])
def test_loss_under_bf16_autocast_is_finite_and_near_fp32(precision_terms, term):
    full, low = precision_terms
    assert torch.isfinite(low[term])
    assert float(low[term]) == pytest.approx(float(full[term]), rel=0.05)


def test_generator_losses_give_the_discriminators_no_gradient():
    objective = adversarial_objective()
    terms = objective(*segment_batch(tones(2, 25, seed=3)))
    (terms["adversarial"] + terms["feature_matching"] + terms["mel"]).backward()
    assert all(p.grad is None for p in objective.discriminators.parameters())
    assert all(p.grad is not None for p in objective.generator.parameters())


def test_discriminator_loss_gives_the_generator_no_gradient():
    objective = adversarial_objective()
    objective(*segment_batch(tones(2, 25, seed=3)))["discriminator"].backward()
    assert all(p.grad is None for p in objective.generator.parameters())
    assert all(p.grad is not None for p in objective.discriminators.parameters())


def test_discriminators_join_at_adversarial_from_step():
    objective = adversarial_objective(start=2)
    batch = segment_batch(tones(2, 25, seed=3))
    with torch.no_grad():
        present = ["discriminator" in objective(*batch) for _ in range(3)]
    assert present == [False, False, True]


def test_mel_frames_are_one_per_ssl_frame():
    from voxflow.anonymization.ssl import frame_count
    from voxflow.anonymization.vocoder import mel_frames

    for samples in (400, 719, 720, 16000, 16001):
        wave = np.random.default_rng(samples).standard_normal(samples).astype(np.float32) * 0.1
        mel = mel_frames(wave)
        assert mel.shape == (frame_count(samples), 80) and np.isfinite(mel).all()


def test_mel_frames_are_centred_on_the_hop_each_frame_vocodes():
    from voxflow.anonymization.audio import HOP
    from voxflow.anonymization.vocoder import mel_frames

    wave = np.zeros(HOP * 20, np.float32)
    wave[HOP * 10 + HOP // 2] = 1.0            # a click in the middle of frame 10's samples
    energy = mel_frames(wave).max(axis=1)
    assert int(np.argmax(energy)) == 10


@pytest.mark.parametrize("iterations", [16, 32])      # params.yaml's and the class's default
def test_griffin_lim_gives_back_the_log_mels_it_was_given(iterations):
    from voxflow.anonymization.audio import HOP
    from voxflow.anonymization.vocoder import MelGriffinLim, mel_frames

    rng = np.random.default_rng(0)
    t = np.arange(HOP * 60) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
            + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    mels = mel_frames(wave)
    audio = MelGriffinLim(iterations)(mels)
    assert audio.shape == (len(mels) * HOP,)
    heard = mel_frames(audio)                 # one frame fewer: the last one's window is cut
    inner = slice(3, len(heard) - 3)          # away from the edges' padding
    error = np.abs(heard[inner] - mels[inner]).mean()
    # measured: 0.083 at 32 iterations, 0.093 at 16 (natural-log units); the same audio 125 ms
    # late 0.40, white noise 3.2
    assert error < 0.15


def test_griffin_lim_is_deterministic():
    from voxflow.anonymization.vocoder import MelGriffinLim

    mels = np.random.default_rng(1).normal(-4, 1, (20, 80)).astype(np.float32)
    assert np.array_equal(MelGriffinLim()(mels), MelGriffinLim()(mels))
