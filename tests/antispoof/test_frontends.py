"""Front-ends of the spoofing countermeasures (the Siamese spoofing paper): LFCC against the
ASVspoof 2019 baseline's recipe written out step by step, CQCC's shapes, deltas and CQT bin
placement, and the self-supervised front-ends (a random initialisation, voxflow's own encoder)."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from voxflow.antispoof.frontends import (CQCCConfig, LFCCConfig, SSLConfig, SSLFrontEnd, cqcc,
                                         cqt_frequencies, cqt_power, hub_cache_path, lfcc,
                                         lfcc_frame_count)

SR = 16000


@pytest.fixture(scope="module")
def noise():
    return 0.1 * np.random.default_rng(0).standard_normal(SR)


def tone(freq: float, seconds: float = 0.5) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)


@pytest.mark.parametrize("samples, frames", [(16000, 99), (16001, 100), (320, 1), (480, 2),
                                             (481, 3)])
def test_lfcc_frame_count_is_matlab_buffer_with_half_overlap(samples, frames):
    # buffer(x, 320, 160, 'nodelay'): frames until every sample is in one, the last zero-padded
    assert lfcc_frame_count(samples) == frames
    features = lfcc(np.random.default_rng(1).standard_normal(samples))
    assert features.shape == (frames, 60) and features.dtype == np.float32


def test_lfcc_static_coefficients_follow_the_baseline_recipe(noise):
    """Frame 7 recomputed with explicit formulas: pre-emphasis, symmetric Hamming, 512-point
    power spectrum, 20 linear triangles on 0..8 kHz, log10, orthonormal DCT-II."""
    t = 7
    x = np.concatenate([[noise[0]], noise[1:] - 0.97 * noise[:-1]])
    n = np.arange(320)
    frame = x[t * 160:t * 160 + 320] * (0.54 - 0.46 * np.cos(2 * np.pi * n / 319))
    power = np.abs(np.fft.fft(frame, 512)[:257]) ** 2
    freqs = np.arange(257) * 8000 / 256
    edges = np.arange(22) * 8000 / 21
    energies = np.array([sum(p * max(0.0, min((f - edges[i]) / (edges[i + 1] - edges[i]),
                                              (edges[i + 2] - f) / (edges[i + 2] - edges[i + 1])))
                             for f, p in zip(freqs, power)) for i in range(20)])
    log_e = np.log10(energies + np.finfo(float).eps)
    k, m = np.arange(20)[:, None], np.arange(20)[None]
    basis = np.sqrt(2 / 20) * np.cos(np.pi * k * (2 * m + 1) / 40)
    basis[0] /= np.sqrt(2)
    np.testing.assert_allclose(lfcc(noise)[t, :20], basis @ log_e, rtol=1e-4, atol=1e-4)


def test_lfcc_deltas_are_rastamat_three_point_differences(noise):
    features = lfcc(noise).astype(np.float64)
    static, delta, double = features[:, :20], features[:, 20:40], features[:, 40:]
    last = len(static) - 1
    for t in (0, 1, 50, last):
        expected = static[min(t + 1, last)] - static[max(t - 1, 0)]
        np.testing.assert_allclose(delta[t], expected, rtol=1e-5, atol=1e-4)
        expected = delta[min(t + 1, last)] - delta[max(t - 1, 0)]
        np.testing.assert_allclose(double[t], expected, rtol=1e-5, atol=1e-4)


def test_lfcc_config_is_the_baseline():
    config = LFCCConfig()
    assert (config.win_length, config.hop_length, config.n_fft) == (320, 160, 512)
    assert (config.n_filters, config.n_coeffs) == (20, 20)


def test_cqcc_shape_and_normalised_deltas(noise):
    features = cqcc(noise)
    assert features.shape == (1 + SR // 160, 60) and features.dtype == np.float32
    assert np.isfinite(features).all()
    static, delta = features[:, :20].astype(np.float64), features[:, 20:40]
    last = len(static) - 1
    for t in (0, 2, 40, last):
        expected = sum(k * (static[min(t + k, last)] - static[max(t - k, 0)])
                       for k in (1, 2, 3)) / 28
        np.testing.assert_allclose(delta[t], expected, rtol=1e-4, atol=1e-4)


def test_cqt_geometry_is_the_baseline():
    config = CQCCConfig()
    freqs = cqt_frequencies(config)
    assert config.n_bins == 864 and freqs[0] == pytest.approx(8000 / 512)
    assert freqs[96] == pytest.approx(2 * freqs[0]) and freqs[-1] < 8000


@pytest.mark.parametrize("freq", [1000.0, 440.0, 3000.0])
def test_a_pure_tone_peaks_at_its_cqt_bin(freq):
    config = CQCCConfig()
    expected = round(config.bins_per_octave * math.log2(freq / config.fmin))
    power = cqt_power(tone(freq), config)
    middle = power[10:-10]                         # frames whose windows lie inside the tone
    assert (middle.argmax(axis=1) == expected).all()
    # a unit sinusoid at a bin's centre frequency gives |X| = 1/2 there
    if expected == config.bins_per_octave * math.log2(freq / config.fmin):
        np.testing.assert_allclose(middle[:, expected], 0.25, rtol=1e-3)


def test_ssl_random_init_tiny_features(noise):
    torch.set_num_threads(1)
    front = SSLFrontEnd(SSLConfig.tiny())
    assert front.pretrained is False and "RANDOM INITIALISATION" in front.description
    frames = SR                                    # conv strides 5,2,2,2,2,2,2, no padding
    for kernel, stride in [(10, 5)] + [(3, 2)] * 4 + [(2, 2)] * 2:
        frames = (frames - kernel) // stride + 1
    audio = torch.as_tensor(noise, dtype=torch.float32)
    assert front(audio.repeat(2, 1)).shape == (2, frames, 32)
    assert front.features(noise).shape == (frames, 32)
    assert front.features(noise).dtype == np.float32
    encoder = SSLFrontEnd(replace(SSLConfig.tiny(), layer=0))
    assert encoder.features(noise).shape == (frames, 32) and encoder.dim == 32
    assert not any(p.requires_grad for p in front.parameters())
    front.train()
    assert not front.model.training                # a frozen extractor: no dropout, no layer drop


def test_ssl_wavlm_tiny_and_layer_range():
    front = SSLFrontEnd(SSLConfig.tiny("WAVLM_BASE"))
    assert front(torch.zeros(1, 4000)).shape == (1, 12, 32)
    with pytest.raises(ValueError, match="layer 3 out of range"):
        SSLFrontEnd(replace(SSLConfig.tiny(), layer=3))
    with pytest.raises(ValueError, match="not a torchaudio.pipelines"):
        SSLFrontEnd(SSLConfig(bundle="MMS_FA_NOT_A_BUNDLE"))


def test_ssl_loads_a_local_checkpoint_and_never_downloads(tmp_path, monkeypatch, noise):
    source = SSLFrontEnd(replace(SSLConfig.tiny(), seed=5))
    path = tmp_path / "tiny.pt"
    torch.save(source.model.state_dict(), path)
    loaded = SSLFrontEnd(replace(SSLConfig.tiny(), checkpoint=str(path)))
    assert loaded.pretrained is True and str(path) in loaded.description
    np.testing.assert_array_equal(loaded.features(noise), source.features(noise))
    with pytest.raises(FileNotFoundError):
        SSLFrontEnd(replace(SSLConfig.tiny(), checkpoint=str(tmp_path / "x")))
    # the cache looked at is torch.hub's own; an empty one means random weights
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert hub_cache_path("WAVLM_BASE") == tmp_path / "checkpoints" / "wavlm_base.pth"


@pytest.fixture
def voxflow_encoder(voxflow_ssl_dir):
    return voxflow_ssl_dir / "ssl.pt"


def test_voxflow_ssl_front_end_gives_the_encoders_layer(voxflow_encoder, noise):
    from voxflow.anonymization.ssl import features, load_encoder
    from voxflow.antispoof.features import make_extractor

    extract = make_extractor("ssl", {"preset": "voxflow", "encoder": str(voxflow_encoder),
                                     "layer": None})
    expected = features(load_encoder(voxflow_encoder), noise.astype(np.float32), 2)
    np.testing.assert_array_equal(extract(noise), expected)
    assert expected.shape == (49, 32)          # (16000 - 400) // 320 + 1 frames of 20 ms


def test_voxflow_ssl_front_end_says_where_its_weights_are_from(voxflow_encoder):
    from voxflow.antispoof.frontends import VoxflowSSLFrontEnd

    front = VoxflowSSLFrontEnd(voxflow_encoder, layer=1)
    assert front.pretrained and str(voxflow_encoder) in front.description
    assert "layer 1/2" in front.description
    with pytest.raises(ValueError, match="layer 3 out of range"):
        VoxflowSSLFrontEnd(voxflow_encoder, layer=3)


def test_voxflow_ssl_preset_needs_its_encoder():
    from voxflow.antispoof.features import make_extractor

    with pytest.raises(ValueError, match="needs `encoder`"):
        make_extractor("ssl", {"preset": "voxflow"})
    with pytest.raises(ValueError, match="unknown SSL preset 'wav2vec'"):
        make_extractor("ssl", {"preset": "wav2vec"})
