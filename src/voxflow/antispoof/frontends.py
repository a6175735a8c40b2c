"""Front-ends of the spoofing countermeasures (the Siamese spoofing paper): the two ASVspoof
2019 baseline features, LFCC and CQCC, and self-supervised speech representations (the paper's
wav2vec features).

LFCC and CQCC are numpy/scipy: a 16 kHz float waveform (samples,) -> (frames, 60) float32, 20
static coefficients (c0 included, as both baselines keep it) followed by their deltas and double
deltas. The SSL front-end is a frozen torch module: waveform (batch, samples) -> (batch, frames,
dim), or `features(x)` -> (frames, dim) float32 like the other two. `VoxflowSSLFrontEnd` gives
the same from the WavLM-style encoder voxflow pretrains itself (`voxflow.anonymization.ssl`, the
anon-ssl stage, MLflow model `voxflow-ssl`): the embedded default's pretrained features.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch
import torchaudio
from scipy.fft import dct, fft, rfft
from scipy.interpolate import CubicSpline
from scipy.signal import lfilter
from scipy.signal.windows import hamming, hann
from torch import nn


def deltas(c: np.ndarray, half_width: int, normalize: bool) -> np.ndarray:
    """(frames, dims) -> (frames, dims) regression deltas over +-half_width frames, the first and
    last frames repeated at the edges: sum_k k (c[t+k] - c[t-k]), divided by 2 sum_k k^2 when
    `normalize`. The LFCC baseline uses rastamat's `deltas(x, 3)` (half width 1, not
    normalized: c[t+1] - c[t-1]); the CQCC baseline its own `Deltas(x, 3)` (half width 3,
    normalized)."""
    padded = np.pad(c, ((half_width, half_width), (0, 0)), mode="edge")
    n = len(c)
    d = sum(k * (padded[half_width + k:half_width + k + n]
                 - padded[half_width - k:half_width - k + n])
            for k in range(1, half_width + 1))
    return d / (2 * sum(k * k for k in range(1, half_width + 1))) if normalize else d


def _with_deltas(static: np.ndarray, half_width: int, normalize: bool) -> np.ndarray:
    d = deltas(static, half_width, normalize)
    return np.hstack([static, d, deltas(d, half_width, normalize)]).astype(np.float32)


# ----------------------------------------------------------------------------------------- LFCC

@dataclass(frozen=True)
class LFCCConfig:
    """The ASVspoof 2019 baseline's `extract_lfcc(x, fs, 20, 512, 20)` (Sahidullah et al. 2015):
    pre-emphasis 0.97, 20 ms symmetric Hamming frames with half overlap (10 ms shift), 512-point
    FFT power spectrum, 20 triangular filters evenly spaced from 0 to fs/2, log10, DCT-II
    (orthonormal, as MATLAB's `dct`), all 20 coefficients (c0 included)."""
    sample_rate: int = 16000
    win_ms: float = 20.0
    n_fft: int = 512
    n_filters: int = 20
    n_coeffs: int = 20
    preemphasis: float = 0.97
    delta_half_width: int = 1

    @property
    def win_length(self) -> int:
        return round(self.sample_rate * self.win_ms / 1000)

    @property
    def hop_length(self) -> int:
        return self.win_length // 2


def lfcc_frame_count(samples: int, config: LFCCConfig = LFCCConfig()) -> int:
    """Frames of MATLAB's `buffer(x, win, win / 2, 'nodelay')`: the first frame is x[0:win], each
    next one starts a hop later, until every sample is in a frame (the last zero-padded)."""
    overlap = config.win_length - config.hop_length
    return max(1, math.ceil((samples - overlap) / config.hop_length))


@lru_cache(maxsize=8)
def _linear_filterbank(config: LFCCConfig) -> np.ndarray:
    """(n_fft // 2 + 1, n_filters): MATLAB `trimf` triangles on `linspace(0, fs/2, n + 2)`."""
    freqs = np.linspace(0.0, config.sample_rate / 2, config.n_fft // 2 + 1)
    edges = np.linspace(0.0, config.sample_rate / 2, config.n_filters + 2)
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lo) / (mid - lo)
    falling = (hi - freqs[:, None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(rising, falling))


def lfcc(x: np.ndarray, config: LFCCConfig = LFCCConfig()) -> np.ndarray:
    """Waveform (samples,) -> (lfcc_frame_count(samples), 3 * n_coeffs) float32 LFCC with deltas
    and double deltas (60 dims at the baseline's settings)."""
    x = lfilter([1.0, -config.preemphasis], [1.0], np.asarray(x, np.float64))
    win, hop = config.win_length, config.hop_length
    n = lfcc_frame_count(len(x), config)
    x = np.pad(x, (0, max(0, (n - 1) * hop + win - len(x))))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n] * hamming(win, sym=True)
    power = np.abs(rfft(frames, config.n_fft, axis=1)) ** 2
    energies = power @ _linear_filterbank(config)
    static = dct(np.log10(energies + np.finfo(np.float64).eps), type=2, norm="ortho",
                 axis=1)[:, :config.n_coeffs]
    return _with_deltas(static, config.delta_half_width, normalize=False)


# ----------------------------------------------------------------------------------------- CQCC

@dataclass(frozen=True)
class CQCCConfig:
    """CQCC (Todisco, Delgado and Evans 2016/2017) with the ASVspoof 2019 baseline's parameters:
    B = 96 bins per octave from fmin = fmax / 2^9 (15.6 Hz) to fmax = fs / 2, so 864 bins over 9
    octaves; variable-Q bandwidths Delta_k = alpha f_k + gamma with alpha = 2^(1/B) - 2^(-1/B)
    and gamma = 228.7 alpha (bandwidths proportional to the ERB at low frequency, which keeps
    the lowest bins' windows near half a second instead of 9 s); log power spectrum (natural
    log); cubic-spline resampling of the geometric frequency axis onto a uniform one with d = 16
    samples in the first octave (step fmin / d); DCT-II; c0..c19; deltas and double deltas over
    +-3 frames.

    The CQT itself is computed frame by frame with spectral kernels (Brown and Puckette 1992):
    Hann windows of N_k = ceil(2 fs / Delta_k) samples (so that the window's -6 dB bandwidth
    is Delta_k) centred every `hop_ms`, where the baseline's toolbox uses a non-stationary Gabor
    CQT rasterised at its own hop. A fixed 10 ms hop keeps CQCC frames aligned with LFCC's."""
    sample_rate: int = 16000
    bins_per_octave: int = 96
    octaves: int = 9
    hop_ms: float = 10.0
    uniform_first_octave: int = 16
    n_coeffs: int = 20
    gamma_erb: float = 228.7
    kernel_threshold: float = 1e-3   # kernel values under this times the bin's peak: dropped
    delta_half_width: int = 3

    @property
    def fmax(self) -> float:
        return self.sample_rate / 2

    @property
    def fmin(self) -> float:
        return self.fmax / 2 ** self.octaves

    @property
    def n_bins(self) -> int:
        return self.bins_per_octave * self.octaves

    @property
    def hop_length(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)


def cqt_frequencies(config: CQCCConfig = CQCCConfig()) -> np.ndarray:
    """(n_bins,) centre frequencies f_k = fmin 2^(k / B) in Hz."""
    return config.fmin * 2.0 ** (np.arange(config.n_bins) / config.bins_per_octave)


@lru_cache(maxsize=4)
def _cqt_kernel(config: CQCCConfig) -> tuple[scipy.sparse.csr_matrix, int]:
    """Sparse (n_fft // 2 + 1, n_bins) spectral kernel and n_fft: a frame's rfft times the kernel
    is, by Parseval, each bin's windowed complex-exponential correlation (normalised by the
    window's sum, so a sinusoid of amplitude A at f_k gives |X_k| = A / 2 in every bin)."""
    freqs = cqt_frequencies(config)
    alpha = 2 ** (1 / config.bins_per_octave) - 2 ** (-1 / config.bins_per_octave)
    bandwidths = alpha * freqs + config.gamma_erb * alpha
    lengths = np.ceil(2 * config.sample_rate / bandwidths).astype(int)
    n_fft = 1 << int(lengths.max() - 1).bit_length()
    columns = []
    for f, length in zip(freqs, lengths):
        window = hann(length, sym=False)
        start = n_fft // 2 - length // 2
        t = (np.arange(length) + start - n_fft // 2) / config.sample_rate
        kernel = np.zeros(n_fft, complex)
        kernel[start:start + length] = window / window.sum() * np.exp(2j * np.pi * f * t)
        spectrum = np.conj(fft(kernel))[:n_fft // 2 + 1] / n_fft
        spectrum[np.abs(spectrum) < config.kernel_threshold * np.abs(spectrum).max()] = 0
        columns.append(scipy.sparse.csc_matrix(spectrum[:, None]))
    return scipy.sparse.hstack(columns).tocsr(), n_fft


def cqt_power(x: np.ndarray, config: CQCCConfig = CQCCConfig(), block: int = 128) -> np.ndarray:
    """Waveform (samples,) -> (1 + samples // hop, n_bins) CQT power |X_k(t)|^2, frame t centred
    on sample t * hop (zeros outside the signal). Frames are transformed `block` at a time to
    bound memory."""
    kernel, n_fft = _cqt_kernel(config)
    hop = config.hop_length
    n_frames = 1 + len(x) // hop
    padded = np.pad(np.asarray(x, np.float64), (n_fft // 2, n_fft // 2 + hop))
    windows = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    out = np.empty((n_frames, config.n_bins))
    for i in range(0, n_frames, block):
        spectra = rfft(windows[i:i + block], axis=1)
        out[i:i + block] = np.abs(kernel.T.dot(spectra.T).T) ** 2
    return out


def cqcc(x: np.ndarray, config: CQCCConfig = CQCCConfig()) -> np.ndarray:
    """Waveform (samples,) -> (1 + samples // hop, 3 * n_coeffs) float32 CQCC with deltas and
    double deltas (60 dims at the baseline's settings)."""
    log_power = np.log(cqt_power(x, config) + np.finfo(np.float64).eps)
    freqs = cqt_frequencies(config)
    # The geometric axis is dense at the bottom (0.11 Hz apart at fmin) and sparse at the top
    # (57 Hz): resampling it uniformly lets the DCT see a linear-frequency spectrum.
    step = config.fmin / config.uniform_first_octave
    uniform = freqs[0] + step * np.arange(int((freqs[-1] - freqs[0]) / step) + 1)
    resampled = CubicSpline(freqs, log_power, axis=1)(uniform)
    static = dct(resampled, type=2, norm="ortho", axis=1)[:, :config.n_coeffs]
    return _with_deltas(static, config.delta_half_width, normalize=True)


# ------------------------------------------------------------------------------------------ SSL

def _tiny_ssl_params() -> dict[str, Any]:
    """A narrow two-layer transformer over a narrow convolutional encoder with the same strides
    (320 samples, 20 ms, per frame): the random-init stand-in for tests and CPU pipelines."""
    return {"extractor_conv_layer_config": [(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2,
            "encoder_embed_dim": 32, "encoder_pos_conv_kernel": 16, "encoder_pos_conv_groups": 4,
            "encoder_num_layers": 2, "encoder_num_heads": 2, "encoder_ff_interm_features": 64}


@dataclass(frozen=True)
class SSLConfig:
    """A torchaudio.pipelines wav2vec 2.0 / HuBERT / WavLM bundle by name (`WAV2VEC2_BASE`,
    `WAV2VEC2_LARGE`, `WAVLM_BASE`, `HUBERT_BASE`, ...). `layer`: 0 is the convolutional feature
    encoder's output (the z of the paper's eq. 1, 512-d), 1..L a transformer layer's output, None
    the last layer (the context representation the paper feeds its backbones). `overrides`
    replace architecture parameters of the bundle. `checkpoint`: a local state dict of the
    (overridden) bundle's model, as `model.state_dict()` saves it; without one, weights are
    loaded only if torch.hub's cache already holds the bundle's file and there are no
    overrides, never downloaded. `seed` fixes a random initialisation."""
    bundle: str = "WAV2VEC2_LARGE"
    layer: int | None = None
    checkpoint: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def paper(cls, checkpoint: str | None = None) -> SSLConfig:
        """wav2vec 2.0 large (LibriSpeech 960 h), last layer: the nearest torchaudio bundle to the
        paper's wav2vec (1.0) large, which torchaudio does not ship."""
        return cls(checkpoint=checkpoint)

    @classmethod
    def tiny(cls, bundle: str = "WAV2VEC2_BASE") -> SSLConfig:
        return cls(bundle=bundle, overrides=_tiny_ssl_params())


def hub_cache_path(bundle: str) -> Path:
    """Where `bundle.get_model()` caches the bundle's weights (torch.hub's checkpoints folder)."""
    name = getattr(torchaudio.pipelines, bundle)._path
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(name).name


class SSLFrontEnd(nn.Module):
    """Frozen self-supervised speech model as a feature extractor: (batch, samples) 16 kHz ->
    (batch, frames, dim), one frame per 20 ms (320 samples, no padding).

    `pretrained` says whether real weights were loaded; `description` says which model, layer
    and weights, in words for reports (random initialisation is stated plainly: such features
    are not wav2vec features)."""

    def __init__(self, config: SSLConfig = SSLConfig()):
        super().__init__()
        bundle = getattr(torchaudio.pipelines, config.bundle, None)
        if not isinstance(bundle, torchaudio.pipelines.Wav2Vec2Bundle):
            raise ValueError(f"{config.bundle!r} is not a torchaudio.pipelines wav2vec 2.0 / "
                             f"HuBERT / WavLM bundle")
        params = {**bundle._params, **config.overrides}
        factory = {"Wav2Vec2": torchaudio.models.wav2vec2_model,
                   "WavLM": torchaudio.models.wavlm_model}[bundle._model_type]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = factory(**params)
        num_layers = params["encoder_num_layers"]
        layer = num_layers if config.layer is None else config.layer
        if not 0 <= layer <= num_layers:
            raise ValueError(f"layer {layer} out of range: 0 (convolutional encoder) to "
                             f"{num_layers}")
        self.layer = layer
        self.dim = (params["extractor_conv_layer_config"][-1][0] if layer == 0
                    else params["encoder_embed_dim"])
        self.normalize_waveform = bundle._normalize_waveform
        self.sample_rate = int(bundle.sample_rate)

        source = self._weights(config)
        if source is not None:
            self.model.load_state_dict(torch.load(source, map_location="cpu", weights_only=True))
        self.pretrained = source is not None
        what = f"{config.bundle} layer {layer}/{num_layers} ({self.dim}-d, 20 ms frames)"
        if self.pretrained:
            self.description = f"{what}, pretrained weights from {source}"
        else:
            origin = ("architecture overridden and no checkpoint given" if config.overrides
                      else f"no checkpoint given and none in torch.hub's cache "
                           f"({hub_cache_path(config.bundle)})")
            self.description = (f"{what}, RANDOM INITIALISATION (seed {config.seed}; {origin}): "
                                f"not pretrained features")
        self.model.eval()
        self.model.requires_grad_(False)

    @staticmethod
    def _weights(config: SSLConfig) -> Path | None:
        if config.checkpoint is not None:
            path = Path(config.checkpoint)
            if not path.is_file():
                raise FileNotFoundError(f"SSL checkpoint {path} not found")
            return path
        cached = hub_cache_path(config.bundle)
        return cached if cached.is_file() and not config.overrides else None

    def train(self, mode: bool = True) -> SSLFrontEnd:
        # Frozen feature extractor: dropout and layer drop stay off even inside a training loop.
        return super().train(False)

    @torch.no_grad()
    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if self.normalize_waveform:
            waveform = nn.functional.layer_norm(waveform, waveform.shape[-1:])
        if self.layer == 0:
            return self.model.feature_extractor(waveform, None)[0]
        return self.model.extract_features(waveform, num_layers=self.layer)[0][-1]

    def features(self, x: np.ndarray) -> np.ndarray:
        """Waveform (samples,) -> (frames, dim) float32, as `lfcc` and `cqcc`."""
        device = next(self.model.parameters()).device
        audio = torch.as_tensor(np.asarray(x, np.float32), device=device)[None]
        return self(audio)[0].cpu().numpy().astype(np.float32)


class VoxflowSSLFrontEnd:
    """The encoder voxflow pretrains (`voxflow.anonymization.ssl.save_encoder`'s file) as a frozen
    feature extractor: `features(x)` waveform (samples,) 16 kHz -> (frames, dim) float32 of
    `layer` (None: the last transformer layer, as `SSLFrontEnd`), one frame per 20 ms."""

    def __init__(self, encoder_path: str | Path, layer: int | None = None):
        from voxflow.anonymization.ssl import load_encoder

        self.encoder = load_encoder(Path(encoder_path))
        layers = self.encoder.config.layers
        self.layer = layers if layer is None else layer
        if not 0 <= self.layer <= layers:
            raise ValueError(f"layer {self.layer} out of range: 0 (convolutional encoder) to "
                             f"{layers}")
        self.encoder.requires_grad_(False)
        self.pretrained = True
        self.description = (f"voxflow's SSL encoder (WavLM architecture, {layers} layers, "
                            f"{self.encoder.config.dim}-d) layer {self.layer}/{layers}, "
                            f"pretrained weights from {encoder_path}")

    def features(self, x: np.ndarray) -> np.ndarray:
        from voxflow.anonymization.ssl import features

        return features(self.encoder, np.asarray(x, np.float32), self.layer)
