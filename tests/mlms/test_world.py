"""WORLD features of the MLMS system (voxflow.mlms.world) on synthetic signals."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pysptk
import pytest

from voxflow.mlms.world import (BAP, DIMENSIONS, LF0, MCEP, VUV, WorldConfig, analyze,
                                continuous_log_f0, distortions, expand_band_aperiodicity,
                                frame_count, mcep_to_power, postfilter, synthesize)

CONFIG = WorldConfig()
RATE = CONFIG.sample_rate


def harmonic(f0: float = 150.0, seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    """A voiced-like tone: harmonics of `f0` up to Nyquist, amplitudes 1/k, random phases."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    harmonics = np.arange(1, int(RATE / 2 / f0) + 1)
    phases = rng.uniform(0, 2 * np.pi, len(harmonics))
    return 0.3 * sum(np.sin(2 * np.pi * f0 * k * t + p) / k for k, p in zip(harmonics, phases))


def white_noise(seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal(round(seconds * RATE))


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE))


@pytest.fixture(scope="module")
def tone_features() -> np.ndarray:
    return analyze(harmonic(), CONFIG)


def test_analyze_gives_49_dimensions_per_5_ms_frame(tone_features):
    # 0.5 s is 100 frame periods of 5 ms, plus the frame at t = 0
    assert tone_features.shape == (101, DIMENSIONS)
    assert tone_features.dtype == np.float32


def test_frame_count_matches_analysis_of_any_length():
    audio = harmonic(seconds=0.3217)
    assert len(analyze(audio, CONFIG)) == frame_count(len(audio), CONFIG)


def test_vuv_flag_is_binary_with_voiced_and_unvoiced_frames():
    features = analyze(np.concatenate([harmonic(), silence(0.3), harmonic(200.0)]), CONFIG)
    assert set(np.unique(features[:, VUV])) == {0.0, 1.0}


def test_log_f0_is_finite_and_between_its_voiced_neighbours_across_a_pause():
    features = analyze(np.concatenate([harmonic(150.0), silence(0.3), harmonic(200.0)]),
                       CONFIG)
    unvoiced = features[:, VUV] == 0
    assert np.all(np.isfinite(features[:, LF0]))
    gap = features[unvoiced, LF0]
    assert np.all((gap > math.log(150.0) - 0.05) & (gap < math.log(200.0) + 0.05))


def test_continuous_log_f0_interpolates_linearly_in_log_f0():
    log_f0, vuv = continuous_log_f0(np.array([100.0, 0, 0, 0, 200.0]), f0_floor=70.0)
    expected = np.linspace(math.log(100.0), math.log(200.0), 5)
    np.testing.assert_allclose(log_f0, expected)
    np.testing.assert_array_equal(vuv, [1, 0, 0, 0, 1])


def test_continuous_log_f0_holds_the_ends_flat():
    log_f0, _ = continuous_log_f0(np.array([0, 0, 120.0, 180.0, 0]), f0_floor=70.0)
    np.testing.assert_allclose(log_f0[[0, 1, 4]], np.log([120.0, 120.0, 180.0]))


def test_continuous_log_f0_without_voiced_frames_is_flat_at_the_floor():
    log_f0, vuv = continuous_log_f0(np.zeros(4), f0_floor=70.0)
    np.testing.assert_allclose(log_f0, math.log(70.0))
    assert not vuv.any()


@pytest.mark.parametrize("method", ["dio", "harvest"])
def test_f0_of_a_harmonic_tone_is_recovered(method):
    features = analyze(harmonic(f0=150.0), replace(CONFIG, f0_method=method))
    voiced = features[:, VUV] == 1
    within = np.abs(np.exp(features[voiced, LF0]) / 150.0 - 1) < 0.02
    # the frames at the very ends see half a window of signal
    assert voiced.mean() > 0.9 and within.mean() > 0.95


def test_band_aperiodicity_of_white_noise_is_near_0_db():
    bands = analyze(white_noise(), CONFIG)[:, BAP]
    assert np.abs(bands).max() < 1.0


def test_band_aperiodicity_of_a_harmonic_tone_is_far_below_that_of_noise(tone_features):
    noise = analyze(white_noise(), CONFIG)[:, BAP].mean()
    assert tone_features[:, BAP].mean() < noise - 10.0


def test_expanding_equal_bands_gives_that_aperiodicity_at_every_bin():
    ratio = expand_band_aperiodicity(np.full((3, 7), -12.0), CONFIG)
    assert ratio.shape == (3, CONFIG.fft_size // 2 + 1)
    np.testing.assert_allclose(20 * np.log10(ratio), -12.0)


def test_expanded_aperiodicity_is_capped_at_0_db():
    ratio = expand_band_aperiodicity(np.full((1, 7), 6.0), CONFIG)
    np.testing.assert_allclose(ratio, 1.0)


def test_postfilter_with_beta_0_is_the_identity(tone_features):
    mcep = tone_features[:, MCEP]
    np.testing.assert_allclose(postfilter(mcep, replace(CONFIG, postfilter_beta=0.0)), mcep,
                               atol=1e-6)


def test_postfilter_scales_c2_and_above_by_1_plus_beta(tone_features):
    mcep = tone_features[:, MCEP].astype(np.float64)
    filtered = postfilter(mcep, replace(CONFIG, postfilter_beta=0.25))
    np.testing.assert_allclose(filtered[:, 2:], 1.25 * mcep[:, 2:])
    np.testing.assert_array_equal(filtered[:, 1], mcep[:, 1])


def test_postfilter_keeps_the_frame_energy(tone_features):
    mcep = tone_features[:, MCEP].astype(np.float64)
    # SPTK's mc2e: energy of the impulse response, independent of the module's own measure
    energy = pysptk.mc2e(mcep, CONFIG.all_pass, CONFIG.fft_size)
    filtered = pysptk.mc2e(postfilter(mcep, CONFIG), CONFIG.all_pass, CONFIG.fft_size)
    np.testing.assert_allclose(filtered, energy, rtol=1e-6)


def test_mcep_to_power_is_pysptk_mc2sp(tone_features):
    mcep = np.ascontiguousarray(tone_features[:, MCEP], np.float64)
    np.testing.assert_allclose(mcep_to_power(mcep, CONFIG),
                               pysptk.mc2sp(mcep, CONFIG.all_pass, CONFIG.fft_size), rtol=1e-10)


@pytest.mark.parametrize("postfilter_on", [False, True])
def test_synthesis_analyses_back_to_as_many_frames(tone_features, postfilter_on):
    waveform = synthesize(tone_features, CONFIG, postfilter=postfilter_on)
    assert waveform.dtype == np.float32
    assert frame_count(len(waveform), CONFIG) == len(tone_features)


def test_synthesis_of_a_tone_keeps_its_f0(tone_features):
    again = analyze(synthesize(tone_features, CONFIG, postfilter=False), CONFIG)
    assert distortions(tone_features, again)["f0_rmse_hz"] < 3.0


def test_distortions_of_features_with_themselves_are_zero(tone_features):
    assert distortions(tone_features, tone_features) == {
        "mcd_db": 0.0, "f0_rmse_hz": 0.0, "vuv_error": 0.0, "bap_db": 0.0}


def test_mcd_ignores_c0(tone_features):
    louder = tone_features.copy()
    louder[:, 0] += 1.0
    assert distortions(tone_features, louder)["mcd_db"] == 0.0


def test_vuv_error_is_the_fraction_of_flipped_flags(tone_features):
    flipped = tone_features.copy()
    flipped[:10, VUV] = 1 - flipped[:10, VUV]
    assert distortions(tone_features, flipped)["vuv_error"] == pytest.approx(
        10 / len(tone_features))


def test_distortions_need_equal_frame_counts(tone_features):
    with pytest.raises(ValueError, match="101 frames, generated 100"):
        distortions(tone_features, tone_features[:-1])


def test_synthesize_rejects_features_of_the_wrong_width(tone_features):
    with pytest.raises(ValueError, match="49"):
        synthesize(tone_features[:, :48], CONFIG)


def test_analyze_rejects_non_finite_audio():
    audio = harmonic()
    audio[10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        analyze(audio, CONFIG)


@pytest.mark.parametrize("overrides", [
    {"band_edges_hz": (0.0, 1000.0, 11025.0)},                  # too few bands
    {"band_edges_hz": (0.0, 1000.0, 2000.0, 4000.0, 6000.0, 8000.0, 10000.0, 12000.0)},
    {"f0_floor": 50.0},                                         # below CheapTrick's 64.8 Hz
    {"f0_method": "yin"},
])
def test_config_rejects_settings_it_cannot_honour(overrides):
    with pytest.raises(ValueError):
        WorldConfig(**overrides)
