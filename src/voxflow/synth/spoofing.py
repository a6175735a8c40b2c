"""Spoofing systems of the miniature ASVspoof 2019 LA: one small function per system.

Each system takes the plan of an utterance (what the target speaker says, and how) and returns
a 16 kHz waveform carrying the artefacts of one family of the challenge's TTS and VC systems:
vocoders, neural waveform models, Griffin-Lim, unit concatenation, spectral filtering. Vocoders
and voice conversion first render the plan as natural speech and then rebuild or filter that
waveform; TTS-like systems change the plan itself. Strengths are drawn from `rng` per utterance,
so some spoofs of a system are harder to detect than others. Output levels are arbitrary: the
corpus builder sets the level.

Every exp, log, power, phase, magnitude, matrix product and filter design goes through
`voxflow.synth.portable`, so that the spoofs are the same bits on every x86_64 CPU.

`ATTACKS` maps the challenge's attack ids to systems. A01-A06 appear in train and dev, A07-A19
in eval; as in the real release, A16 is A04's system and A19 is A06's, the rest are unseen.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.fft import irfft, rfft
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

from voxflow.synth import portable
from voxflow.synth.engine import CONTROL_RATE, Plan, monotone, render

SAMPLE_RATE = 16000
N_FFT = 512                     # 32 ms analysis frames
HOP = 128                       # 8 ms; a periodic Hann window at 75 % overlap adds up evenly
WINDOW = portable.hann(N_FFT + 1)[:-1]
BINS = N_FFT // 2 + 1


# ---------------------------------------------------------------------------------------------
# signal-processing helpers

def _stft(x: np.ndarray) -> np.ndarray:
    """(frames, BINS) complex spectrum; frames are centred on multiples of HOP."""
    padded = np.pad(x, (N_FFT // 2, N_FFT // 2 + HOP))
    return rfft(sliding_window_view(padded, N_FFT)[::HOP] * WINDOW, axis=1)


def _istft(spectrum: np.ndarray, length: int) -> np.ndarray:
    """Weighted overlap-add inverse of `_stft`, `length` samples long."""
    frames = irfft(spectrum, N_FFT, axis=1) * WINDOW
    total = (len(frames) - 1) * HOP + N_FFT
    out, weight = np.zeros(total), np.zeros(total)
    for k, frame in enumerate(frames):
        out[k * HOP:k * HOP + N_FFT] += frame
        weight[k * HOP:k * HOP + N_FFT] += WINDOW ** 2
    return (out / np.maximum(weight, 1e-3))[N_FFT // 2:N_FFT // 2 + length]


def _cepstral_envelope(magnitude: np.ndarray, n_cepstra: int) -> np.ndarray:
    """Smooth spectral envelope per frame: the log magnitude with high quefrencies removed."""
    cepstrum = irfft(portable.log(magnitude + 1e-7), N_FFT, axis=1)
    cepstrum[:, n_cepstra:N_FFT - n_cepstra + 1] = 0.0
    return portable.exp(rfft(cepstrum, axis=1).real)


def _with_frame_energy(spectrum: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`spectrum` rescaled so that every frame has the energy of the reference frame."""
    energy = np.sum(portable.power_spectrum(spectrum), axis=1, keepdims=True)
    target = np.sum(portable.power_spectrum(reference), axis=1, keepdims=True)
    return spectrum * np.sqrt(target / (energy + 1e-12))


def mel_filterbank(n_mels: int, f_min: float = 0.0) -> np.ndarray:
    """(n_mels, BINS) triangular filters on the HTK mel scale, `f_min` to 8 kHz."""
    def hz_to_mel(f: float) -> float:
        return 2595 * portable.log(1 + f / 700) / portable.log(10.0)

    mel = np.linspace(hz_to_mel(f_min), hz_to_mel(SAMPLE_RATE / 2), n_mels + 2)
    edges = 700 * (portable.power(10.0, mel / 2595) - 1)
    freqs = np.linspace(0, SAMPLE_RATE / 2, BINS)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))


def _mel_magnitude(spectrum: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """The magnitude a vocoder sees through an n_mels mel spectrogram, mapped back to BINS."""
    bank = mel_filterbank(n_mels)
    mel_power = portable.matmul(portable.power_spectrum(spectrum), bank.T)
    return np.sqrt(np.maximum(portable.matmul(mel_power, portable.pinv(bank).T), 0.0))


def _excitation(plan: Plan, n: int, rng: np.random.Generator, f0_scale: float = 1.0) -> np.ndarray:
    """Unit-power vocoder excitation: pulses at the plan's F0 where voiced, white noise
    elsewhere."""
    t = np.arange(n) / SAMPLE_RATE
    control_t = np.arange(len(plan.f0)) / CONTROL_RATE
    f0 = np.interp(t, control_t, plan.f0) * f0_scale
    voiced = np.clip(np.interp(t, control_t, plan.voicing), 0.0, 1.0)
    pulses = np.diff(np.floor(np.cumsum(f0 / SAMPLE_RATE)), prepend=0.0) * np.sqrt(SAMPLE_RATE / f0)
    return np.sqrt(voiced) * pulses + np.sqrt(1 - voiced) * rng.standard_normal(n)


def _lpc(frame: np.ndarray, order: int) -> np.ndarray:
    """Prediction polynomial [1, a1, ..., ap] by the autocorrelation method (always stable)."""
    r = irfft(portable.power_spectrum(rfft(frame, 2 * len(frame))))[:order + 1]
    r[0] = r[0] * (1 + 1e-4) + 1e-12          # a little white noise keeps silence solvable
    return np.r_[1.0, solve_toeplitz(r[:order], -r[1:])]


def _lpc_vocode(speech: np.ndarray, excitation: np.ndarray, order: int) -> np.ndarray:
    """Every 12.5 ms, the LPC envelope of the speech drives the excitation, at the speech's
    frame energy (25 ms Hann frames at 50 % overlap, which add up to one)."""
    frame, hop = 400, 200
    window = portable.hann(frame + 1)[:-1]
    speech, excitation = np.pad(speech, (0, frame)), np.pad(excitation, (0, frame))
    out = np.zeros(len(speech))
    for start in range(0, len(speech) - frame, hop):
        analysed = speech[start:start + frame] * window
        synthetic = lfilter([1.0], _lpc(analysed, order), excitation[start:start + frame]) * window
        gain = np.sqrt(np.sum(analysed ** 2) / (np.sum(synthetic ** 2) + 1e-12))
        out[start:start + frame] += gain * synthetic
    return out[:-frame]


def _peaking_filter(x: np.ndarray, centre: float, gain_db: float, q: float) -> np.ndarray:
    """One peaking-EQ biquad (Audio EQ Cookbook)."""
    amplitude, w0 = portable.power(10.0, gain_db / 40), 2 * np.pi * centre / SAMPLE_RATE
    alpha = portable.sin(w0) / (2 * q)
    b = [1 + alpha * amplitude, -2 * portable.cos(w0), 1 - alpha * amplitude]
    a = [1 + alpha / amplitude, -2 * portable.cos(w0), 1 - alpha / amplitude]
    return lfilter(b, a, x)


def _mu_law_quantise(x: np.ndarray, bits: int) -> np.ndarray:
    """x (any level) through a `bits`-bit mu-law quantiser, as a neural waveform model outputs."""
    peak = np.abs(x).max() + 1e-12
    mu = 2 ** bits - 1
    companded = np.sign(x) * portable.log1p(mu * np.abs(x) / peak) / portable.log1p(mu)
    levels = np.round((companded + 1) / 2 * mu) / mu * 2 - 1
    # exp(z) - 1 for expm1(z): z >= 2 log1p(mu) / mu > 0.03 here, where they agree to 1e-15
    return peak * np.sign(levels) * (portable.exp(np.abs(levels) * portable.log1p(mu)) - 1) / mu


def _unit_database(plan: Plan, rng: np.random.Generator) -> list[np.ndarray]:
    """Two recordings of the plan's sentence, as a unit-selection database holds several: the
    second with another voice quality and formants moved by up to 3 %, both recorded in a small
    room (0.15 to 0.3 s of reverberation) rather than a booth."""
    other = replace(plan, formants=plan.formants * rng.uniform(0.97, 1.03),
                    tilt=float(np.clip(plan.tilt + rng.uniform(-0.2, 0.2), 0.0, 0.95)),
                    breathiness=float(rng.uniform(0.0, 0.4)), seed=int(rng.integers(2**63)))
    rt60 = rng.uniform(0.15, 0.3)
    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    room = rng.standard_normal(len(t)) * portable.exp(-6.9 * t / rt60)      # -60 dB at rt60
    room[0] = 3 * np.abs(room).max()                                    # the direct sound
    n = int(round(plan.duration * SAMPLE_RATE))
    return [portable.fftconvolve(render(version, SAMPLE_RATE), room)[:n]
            for version in (plan, other)]


def _join_units(recordings: list[np.ndarray], plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """The sentence cut at its phone boundaries, each unit taken from a random recording with
    its own gain (3 dB spread) and starting up to 5 ms early or late, so that every join has a
    spectral, level and phase jump under a 2 ms cross-fade."""
    fade = 32
    ramp = np.linspace(0.0, 1.0, fade)
    bounds = [0, *(int(round(p.end * SAMPLE_RATE)) for p in plan.phones[:-1]),
              len(recordings[0])]
    out = recordings[0][:bounds[1]].copy()
    for start, end in zip(bounds[1:-1], bounds[2:]):
        shift = int(rng.integers(-80, 81))
        first = int(np.clip(start + shift - fade, 0, end - 2 * fade))
        gain = portable.db_to_gain(float(rng.normal(0, 3)))
        unit = recordings[rng.integers(len(recordings))][first:end] * gain
        out[-fade:] = out[-fade:] * ramp[::-1] + unit[:fade] * ramp
        out = np.concatenate([out, unit[fade:]])
    return out


# ---------------------------------------------------------------------------------------------
# the systems: (plan, rng) -> 16 kHz waveform

def mu_law_waveform_model(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Neural waveform model (WaveNet-like): 6- to 8-bit mu-law output samples, whose
    signal-dependent quantisation noise fills the spectral valleys of loud speech."""
    return _mu_law_quantise(render(plan, SAMPLE_RATE), bits=int(rng.integers(6, 9)))


def lpc_vocoder(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """LPC vocoder: an order-14 to 20 all-pole envelope on a pulse/noise excitation."""
    speech = render(plan, SAMPLE_RATE)
    return _lpc_vocode(speech, _excitation(plan, len(speech), rng), order=int(rng.integers(14, 21)))


def cepstral_vocoder(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Cepstral vocoder: a 24 to 40 coefficient cepstral envelope every 8 ms imposed on a
    pulse/noise excitation, at the frame energies of the speech."""
    speech = render(plan, SAMPLE_RATE)
    spectrum = _stft(speech)
    envelope = _cepstral_envelope(portable.magnitude(spectrum), n_cepstra=int(rng.integers(24, 41)))
    rebuilt = envelope * _stft(_excitation(plan, len(speech), rng))
    return _istft(_with_frame_energy(rebuilt, spectrum), len(speech))


def unit_concatenation(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Waveform concatenation (unit selection): phone units from a reverberant two-recording
    database, joined with spectral, level and phase jumps."""
    return _join_units(_unit_database(plan, rng), plan, rng)


def channel_vocoder(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Noise-excited channel vocoder above a cut-off between 0.5 and 2 kHz: there, speech is
    rebuilt on white noise from its energies in 250 Hz bands, smoothed over about 20 ms, which
    loses the harmonics, the fine spectral detail and the sharp onsets; below the cut-off the
    speech is kept."""
    speech = render(plan, SAMPLE_RATE)
    spectrum = _stft(speech)
    cutoff = int(rng.uniform(500, 2000) * N_FFT / SAMPLE_RATE)
    band = 8                                    # bins per 250 Hz band
    upper = portable.power_spectrum(spectrum[:, cutoff:])
    starts = np.arange(0, upper.shape[1], band)
    widths = np.diff(np.r_[starts, upper.shape[1]])
    band_power = portable.gaussian_filter1d(np.add.reduceat(upper, starts, axis=1) / widths, 2.5,
                                            axis=0)
    noise = _stft(rng.standard_normal(len(speech)))[:, cutoff:] / np.sqrt(np.sum(WINDOW ** 2))
    spectrum[:, cutoff:] = np.sqrt(np.repeat(band_power, widths, axis=1)) * noise
    return _istft(spectrum, len(speech))


def spectral_filtering(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """VC by spectral filtering: every frame is filtered from its envelope to a converted one,
    whose formants are moved by 4 to 10 % and over-smoothed (50 to 90 % of the way to a
    12-coefficient envelope), as statistical conversion does; the source keeps its harmonics
    and phase."""
    speech = render(plan, SAMPLE_RATE)
    spectrum = _stft(speech)
    magnitude = portable.magnitude(spectrum)
    envelope = _cepstral_envelope(magnitude, 24)
    warp = rng.uniform(1.04, 1.10)
    warp = warp if rng.choice([-1, 1]) > 0 else 1 / warp
    source_bins = np.arange(BINS) / warp
    warped = np.stack([np.interp(source_bins, np.arange(BINS), frame) for frame in envelope])
    smoothing = rng.uniform(0.5, 0.9)
    converted = (portable.power(warped, 1 - smoothing)
                 * portable.power(_cepstral_envelope(magnitude, 12), smoothing))
    return _istft(spectrum * np.clip(converted / envelope, 0.1, 10.0), len(speech))


def mel_magnitude_vocoder(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """GAN vocoder from an 80-bin mel spectrogram: the mel magnitude smears the upper
    harmonics; the phase is that of the speech, with a little phase noise."""
    speech = render(plan, SAMPLE_RATE)
    spectrum = _stft(speech)
    noise = rng.normal(0.0, rng.uniform(0.2, 0.6), spectrum.shape)
    phase = portable.cmul(portable.unit_phasor(spectrum), portable.expi(noise))
    return _istft(_mel_magnitude(spectrum) * phase, len(speech))


def phase_noise_waveform_model(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Neural waveform model with an imperfect phase: the magnitude of the speech, its phase
    perturbed by 0.5 to 1.2 radians of noise in every bin, heard as roughness."""
    speech = render(plan, SAMPLE_RATE)
    spectrum = _stft(speech)
    noise = rng.normal(0.0, rng.uniform(0.5, 1.2), spectrum.shape)
    return _istft(portable.cmul(spectrum, portable.expi(noise)), len(speech))


def sinusoidal_vocoder(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Sinusoidal vocoder: every frame keeps only its 20 to 40 strongest spectral peaks (with
    the window's main lobe), dropping the weaker harmonics and the noise between them."""
    speech = render(plan, SAMPLE_RATE)
    spectrum = _stft(speech)
    magnitude = portable.magnitude(spectrum)
    is_peak = np.zeros(spectrum.shape, bool)
    is_peak[:, 1:-1] = ((magnitude[:, 1:-1] > magnitude[:, :-2])
                        & (magnitude[:, 1:-1] >= magnitude[:, 2:]))
    peaks = np.where(is_peak, magnitude, 0.0)
    n_peaks = int(rng.integers(20, 41))
    strongest = peaks >= -np.sort(-peaks, axis=1)[:, n_peaks - 1:n_peaks]
    keep = (is_peak & strongest).astype(float)
    keep = np.minimum(1.0, sum(np.roll(keep, shift, axis=1) for shift in (-2, -1, 0, 1, 2)))
    return _istft(spectrum * keep, len(speech))


def smoothed_tts(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Statistical TTS: over-smoothed formant and F0 tracks, no jitter or shimmer, less
    breath noise; the waveform itself is rendered cleanly."""
    sigma = rng.uniform(3.0, 6.0)
    smooth = replace(plan, formants=portable.gaussian_filter1d(plan.formants, sigma, axis=0),
                     f0=portable.gaussian_filter1d(plan.f0, 2 * sigma), jitter=0.0, shimmer=0.0,
                     breathiness=0.3 * plan.breathiness)
    return render(smooth, SAMPLE_RATE)


def griffin_lim(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Griffin-Lim: phase recovered in 6 to 16 iterations from an 80-bin mel magnitude."""
    speech = render(plan, SAMPLE_RATE)
    magnitude = _mel_magnitude(_stft(speech))
    phase = portable.expi(2 * np.pi * rng.random(magnitude.shape))
    for _ in range(int(rng.integers(6, 17))):
        phase = portable.unit_phasor(_stft(_istft(magnitude * phase, len(speech))))
    return _istft(magnitude * phase, len(speech))


def monotone_tts(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """TTS with a flat intonation at the speaker's median F0, through a 10-bit mu-law
    neural waveform output."""
    return _mu_law_quantise(render(monotone(plan), SAMPLE_RATE), bits=10)


def concatenation_and_filtering(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Unit concatenation followed by waveform filtering towards the target's spectrum."""
    joined = _join_units(_unit_database(plan, rng), plan, rng)
    return _peaking_filter(joined, rng.uniform(1500, 3500), rng.uniform(-6, 6), q=1.0)


def pitch_shifted_lpc_vocoder(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """TTS-VC LPC vocoder with a low order (10 to 12) and an F0 moved by 5 to 15 %."""
    speech = render(plan, SAMPLE_RATE)
    f0_scale = rng.uniform(1.05, 1.15)
    f0_scale = f0_scale if rng.choice([-1, 1]) > 0 else 1 / f0_scale
    return _lpc_vocode(speech, _excitation(plan, len(speech), rng, f0_scale),
                       order=int(rng.integers(10, 13)))


def band_limited_waveform_model(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Neural waveform model trained at 11 kHz and upsampled: nothing above 5.5 kHz but the
    quantisation noise of its 8-bit mu-law output."""
    low_rate = portable.resample_poly(render(plan, SAMPLE_RATE), 11, 16)
    return portable.resample_poly(_mu_law_quantise(low_rate, bits=8), 16, 11)


def waveform_filtering(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """VC by waveform filtering: the source waveform through fixed formant-region filters
    (three peaking biquads of +-2 to 5 dB), which leaves no vocoder trace at all."""
    speech = render(plan, SAMPLE_RATE)
    for centre in (rng.uniform(400, 900), rng.uniform(1200, 2500), rng.uniform(2800, 5000)):
        speech = _peaking_filter(speech, centre, rng.uniform(2, 5) * rng.choice([-1, 1]), q=2.0)
    return speech


def low_frame_rate_vocoder(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """VC vocoder at a low frame rate: each magnitude is held for 2 or 3 frames (16 to 24 ms
    steps) under the running phase of the speech."""
    speech = render(plan, SAMPLE_RATE)
    spectrum = _stft(speech)
    hold = int(rng.integers(2, 4))
    held = portable.magnitude(spectrum)[np.arange(len(spectrum)) // hold * hold]
    return _istft(held * portable.unit_phasor(spectrum), len(speech))


SpoofingSystem = Callable[[Plan, np.random.Generator], np.ndarray]

ATTACKS: dict[str, SpoofingSystem] = {
    "A01": mu_law_waveform_model,           # TTS, neural waveform model
    "A02": lpc_vocoder,                     # TTS, vocoder
    "A03": cepstral_vocoder,                # TTS, vocoder
    "A04": unit_concatenation,              # TTS, waveform concatenation
    "A05": channel_vocoder,                 # VC, vocoder
    "A06": spectral_filtering,              # VC, spectral filtering
    "A07": mel_magnitude_vocoder,           # TTS, vocoder + GAN
    "A08": phase_noise_waveform_model,      # TTS, neural waveform
    "A09": sinusoidal_vocoder,              # TTS, vocoder
    "A10": smoothed_tts,                    # TTS, neural waveform
    "A11": griffin_lim,                     # TTS, Griffin-Lim
    "A12": monotone_tts,                    # TTS, neural waveform
    "A13": concatenation_and_filtering,     # TTS-VC, concatenation + waveform filtering
    "A14": pitch_shifted_lpc_vocoder,       # TTS-VC, vocoder
    "A15": band_limited_waveform_model,     # TTS-VC, neural waveform
    "A16": unit_concatenation,              # TTS, waveform concatenation (= A04)
    "A17": waveform_filtering,              # VC, waveform filtering
    "A18": low_frame_rate_vocoder,          # VC, vocoder
    "A19": spectral_filtering,              # VC, spectral filtering (= A06)
}
TRAIN_DEV_ATTACKS = tuple(f"A{i:02d}" for i in range(1, 7))
EVAL_ATTACKS = tuple(f"A{i:02d}" for i in range(7, 20))


def spoof(attack: str, plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """The waveform of `plan` as spoofed by attack `attack` (A01..A19)."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}: expected one of A01..A19")
    return np.asarray(ATTACKS[attack](plan, rng), dtype=np.float64)
