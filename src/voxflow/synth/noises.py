"""Procedural environmental noises, one generator per category of the MHCA-AVCRN paper's noise set.

Every generator has the signature `(rng, seconds, sample_rate) -> float64 array` and returns
audio at an arbitrary level (the corpus builder sets the level). Each one models the physical
source loosely but recognisably: rotating machines give harmonic series locked to a wandering
speed, impacts give decaying resonances, flows give shaped broadband noise, and babble is speech
from the synthesizer, so that categories differ in spectrum and in time structure.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import lfilter, sosfilt

from voxflow.synth import portable

from voxflow.synth.engine import synthesize
from voxflow.synth.languages import ENGLISH
from voxflow.synth.voice import sample_speaker

Generator = Callable[[np.random.Generator, float, int], np.ndarray]


# ---------------------------------------------------------------------------------------------
# building blocks

def _filtered(x: np.ndarray, sample_rate: int, kind: str, cutoff, order: int = 4) -> np.ndarray:
    """Butterworth filter; kind is "lowpass", "highpass" or "bandpass" (cutoff a pair)."""
    return sosfilt(portable.butter_sos(order, cutoff, kind, sample_rate), x)


def _brown(rng: np.random.Generator, n: int) -> np.ndarray:
    """Noise falling 6 dB per octave (a leaky integral of white noise): rumble."""
    return lfilter([1.0], [1.0, -0.995], rng.standard_normal(n))


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    """Noise falling 3 dB per octave, shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    return np.fft.irfft(spectrum, n)


def _slow(rng: np.random.Generator, n: int, sample_rate: int, seconds: float) -> np.ndarray:
    """A smooth random track (unit standard deviation) varying over about `seconds`; drawn at
    100 Hz and interpolated, as smoothing at the audio rate would be needlessly slow."""
    control_rate = 100
    frames = int(np.ceil(n / sample_rate * control_rate)) + 1
    track = portable.gaussian_filter1d(rng.standard_normal(frames), seconds * control_rate, mode="wrap")
    track = np.interp(np.arange(n) / sample_rate * control_rate, np.arange(frames), track)
    return track / (track.std() + 1e-12)


def _harmonics(f0: np.ndarray, sample_rate: int, amplitudes: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """Sum of harmonics k * f0(t) with the given amplitudes and random start phases; partials
    near or above Nyquist are left out (they would alias)."""
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    out = np.zeros_like(f0)
    for k, amplitude in enumerate(amplitudes, 1):
        audible = k * f0 < 0.45 * sample_rate
        out += audible * amplitude * portable.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return out


def _decaying_partials(freqs, amplitudes, decays_s, n: int, sample_rate: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Struck resonances: sinusoids with exponential decays, e.g. a bell or a clack."""
    t = np.arange(n) / sample_rate
    out = np.zeros(n)
    for f, a, d in zip(freqs, amplitudes, decays_s):
        if f < 0.45 * sample_rate:
            out += (a * portable.exp(-t / d)
                    * portable.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)))
    return out


def _add_at(out: np.ndarray, event: np.ndarray, start: int) -> None:
    """Add an event at sample `start`, cut at the end of `out`."""
    length = min(len(event), len(out) - start)
    if length > 0:
        out[start:start + length] += event[:length]


def _reverb(x: np.ndarray, rng: np.random.Generator, sample_rate: int, rt60_s: float,
            wet: float) -> np.ndarray:
    """Room reverberation: convolution with exponentially decaying noise (60 dB in rt60_s)."""
    t = np.arange(int(rt60_s * sample_rate)) / sample_rate
    response = rng.standard_normal(len(t)) * portable.power(10.0, -3 * t / rt60_s)
    response = _filtered(response, sample_rate, "lowpass", 4000, order=2)
    tail = portable.fftconvolve(x, response)[:len(x)]
    return (1 - wet) * x + wet * tail * np.std(x) / (np.std(tail) + 1e-12)


def _hum(rng: np.random.Generator, n: int, sample_rate: int, falloff: float) -> np.ndarray:
    """Mains hum at 50 or 60 Hz with odd-heavy harmonics; a larger falloff is a purer hum."""
    mains = np.full(n, 50.0 if rng.random() < 0.5 else 60.0)
    odd_heavy = np.array([1.0 if k % 2 else 0.4 for k in range(1, 9)])
    amplitudes = odd_heavy * portable.power(falloff, -np.arange(8.0))
    return _harmonics(mains, sample_rate, amplitudes, rng)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


# ---------------------------------------------------------------------------------------------
# the twelve categories

def room(rng, seconds, sample_rate):
    """A quiet room: ventilation air noise, a faint mains hum, all reverberant."""
    n = int(seconds * sample_rate)
    air = _filtered(_pink(rng, n), sample_rate, "lowpass", rng.uniform(1200, 2500), order=2)
    air *= 1 + 0.15 * _slow(rng, n, sample_rate, 0.8)
    mix = _unit(air) + rng.uniform(0.15, 0.4) * _unit(_hum(rng, n, sample_rate, 2.0))
    return _reverb(mix, rng, sample_rate, rt60_s=rng.uniform(0.4, 0.9), wet=0.5)


def car(rng, seconds, sample_rate):
    """Inside a moving car: road rumble below 200 Hz, wind noise, a low engine drone."""
    n = int(seconds * sample_rate)
    speed = 1 + 0.1 * _slow(rng, n, sample_rate, 1.5)
    road = _filtered(_brown(rng, n), sample_rate, "lowpass", rng.uniform(120, 220)) * speed
    wind = _filtered(rng.standard_normal(n), sample_rate, "bandpass", (300, 1500), order=2)
    wind *= speed * speed                     # wind noise grows fast with speed
    rpm = rng.uniform(1800, 2600) * speed
    firing = rpm / 60 * 2                   # a four-cylinder engine fires twice a revolution
    drone = _harmonics(firing, sample_rate, 1 / portable.power(np.arange(1.0, 5.0), 1.5), rng)
    return (_unit(road) + rng.uniform(0.1, 0.25) * _unit(wind)
            + rng.uniform(0.15, 0.3) * _unit(drone))


def engine(rng, seconds, sample_rate):
    """An idling and revving combustion engine: firing-rate harmonics that follow the RPM,
    with combustion noise pulsed at the firing rate."""
    n = int(seconds * sample_rate)
    idle = rng.uniform(700, 1000)
    revs = np.clip(_slow(rng, n, sample_rate, 0.4), 0, None)
    rpm = idle * (1 + rng.uniform(0.8, 2.0) * revs / (revs.max() + 1e-12))
    cylinders = int(rng.choice([4, 6, 8]))
    firing = rpm / 60 * cylinders / 2       # a four-stroke cylinder fires every other turn
    amplitudes = rng.uniform(0.3, 1.0, 24) / portable.power(np.arange(1.0, 25.0), 0.7)
    tone = _harmonics(firing, sample_rate, amplitudes, rng)
    phase = np.cumsum(firing) / sample_rate
    pulses = (0.5 + 0.5 * portable.cos(2 * np.pi * phase))
    pulses = (pulses * pulses) * (pulses * pulses)
    combustion = _filtered(rng.standard_normal(n), sample_rate, "bandpass", (150, 2500)) * pulses
    return _unit(tone) + rng.uniform(0.3, 0.6) * _unit(combustion)


def train(rng, seconds, sample_rate):
    """A passing train: rumble, and wheel clacks in pairs (one bogie) at a steady rhythm."""
    n = int(seconds * sample_rate)
    rumble = _filtered(_brown(rng, n), sample_rate, "lowpass", 400)
    clacks = np.zeros(n)
    period = rng.uniform(0.45, 0.8)
    axle_gap = rng.uniform(0.08, 0.14)
    clack_length = int(0.08 * sample_rate)
    for beat in np.arange(rng.uniform(0, period), seconds, period):
        for onset in (beat, beat + axle_gap):
            freqs = rng.uniform(600, 3500, 5)
            clack = _decaying_partials(freqs, rng.uniform(0.5, 1, 5), rng.uniform(0.01, 0.03, 5),
                                       clack_length, sample_rate, rng)
            _add_at(clacks, clack * rng.uniform(0.7, 1.0), int(onset * sample_rate))
    squeal = _harmonics(np.full(n, rng.uniform(2500, 4000)), sample_rate, np.ones(1), rng)
    squeal *= np.clip(_slow(rng, n, sample_rate, 0.5) - 1.0, 0, None)
    return _unit(rumble) + rng.uniform(0.8, 1.2) * _unit(clacks) + 0.1 * _unit(squeal)


def human_chatting(rng, seconds, sample_rate):
    """Babble: several synthesized talkers, each a different voice and sentence, overlapping
    with random offsets and levels, in a reverberant room."""
    n = int(seconds * sample_rate)
    out = np.zeros(n)
    for _ in range(int(rng.integers(4, 8))):
        gender = "F" if rng.random() < 0.5 else "M"
        talker = sample_speaker(rng, "babble", gender)
        phrases = ENGLISH.sample_sentence(rng, int(seconds * 3))
        speech = synthesize(phrases, talker, ENGLISH, int(rng.integers(2**63)), sample_rate).audio
        if len(speech) > n:         # a random stretch of a long sentence
            start = int(rng.integers(0, len(speech) - n))
            speech, offset = speech[start:start + n], 0
        else:                       # a short sentence starts at a random time
            offset = int(rng.integers(0, n - len(speech) + 1))
        _add_at(out, _unit(speech) * portable.db_to_gain(float(rng.uniform(-6, 0))), offset)
    return _reverb(out, rng, sample_rate, rt60_s=rng.uniform(0.5, 1.0), wet=0.4)


def air_brake(rng, seconds, sample_rate):
    """Air brakes: sudden bursts of high-pass hiss that die away, over an idling rumble."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    hiss = np.zeros(n)
    for onset in np.sort(rng.uniform(0, seconds * 0.8, int(rng.integers(2, 4)))):
        decay = rng.uniform(0.2, 0.7)
        envelope = np.where(t >= onset, portable.exp(-(t - onset) / decay), 0.0)
        envelope *= np.clip((t - onset) / 0.01, 0, 1)
        burst = _filtered(rng.standard_normal(n), sample_rate, "highpass",
                          rng.uniform(2500, 4000))
        hiss += rng.uniform(0.6, 1.0) * envelope * burst
    idle = _filtered(_brown(rng, n), sample_rate, "lowpass", 250)
    return _unit(hiss) + rng.uniform(0.15, 0.3) * _unit(idle)


def water(rng, seconds, sample_rate):
    """Running water: band-limited noise that surges, plus bubbles (short rising chirps)."""
    n = int(seconds * sample_rate)
    flow = _filtered(rng.standard_normal(n), sample_rate, "bandpass",
                     (rng.uniform(300, 600), rng.uniform(3000, 5000)), order=2)
    flow *= 1 + 0.3 * _slow(rng, n, sample_rate, 0.15)
    bubbles = np.zeros(n)
    for onset in rng.uniform(0, seconds, int(rng.uniform(25, 50) * seconds)):
        length = rng.uniform(0.01, 0.04)
        t = np.arange(int(length * sample_rate)) / sample_rate
        # a bubble's resonance rises as it nears the surface
        f = rng.uniform(400, 2500) * (1 + rng.uniform(0.5, 2.0) * t / length)
        chirp = (portable.sin(2 * np.pi * np.cumsum(f) / sample_rate)
                 * portable.exp(-t / (length / 3)))
        _add_at(bubbles, chirp * rng.uniform(0.3, 1.0), int(onset * sample_rate))
    return _unit(flow) + rng.uniform(0.6, 1.0) * _unit(bubbles)


def street(rng, seconds, sample_rate):
    """A street: distant traffic rumble, cars swelling as they pass, now and then a horn."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    traffic = _filtered(_pink(rng, n), sample_rate, "lowpass", 800, order=2)
    passes = np.zeros(n)
    for centre in rng.uniform(0, seconds, int(rng.integers(1, 4))):
        u = (t - centre) / rng.uniform(0.4, 0.9)
        swell = portable.exp(-0.5 * (u * u))
        tyres = _filtered(rng.standard_normal(n), sample_rate, "bandpass", (100, 1800), order=2)
        passes += rng.uniform(1.0, 2.5) * swell * tyres
    horn = np.zeros(n)
    if rng.random() < 0.7:
        start, length = rng.uniform(0, seconds - 0.8), rng.uniform(0.25, 0.7)
        pitches = rng.uniform(350, 450) * np.array([1.0, 1.26])      # a two-tone horn, a third
        on = ((t >= start) & (t < start + length)).astype(float)
        on = portable.gaussian_filter1d(on, 0.005 * sample_rate)
        for pitch in pitches:
            horn += _harmonics(np.full(n, pitch), sample_rate, 1 / np.arange(1, 9), rng) * on
    return _unit(traffic) + _unit(passes) + rng.uniform(0.5, 1.0) * _unit(horn)


def mic_noise(rng, seconds, sample_rate):
    """A poor microphone chain: preamp hiss tilted to the highs, buzzing mains hum, and the
    low thumps of the microphone being handled."""
    n = int(seconds * sample_rate)
    white = rng.standard_normal(n)
    hiss = white + 1.5 * _filtered(white, sample_rate, "highpass", 3000, order=2)
    buzz = _hum(rng, n, sample_rate, 1.25)
    thumps = np.zeros(n)
    for onset in rng.uniform(0, seconds, int(rng.integers(1, 4))):
        impulse = np.zeros(int(0.3 * sample_rate))
        impulse[:int(0.004 * sample_rate)] = rng.standard_normal(int(0.004 * sample_rate))
        thump = _filtered(impulse, sample_rate, "lowpass", rng.uniform(80, 160), order=2)
        _add_at(thumps, thump / (np.abs(thump).max() + 1e-12), int(onset * sample_rate))
    return (_unit(hiss) + rng.uniform(0.5, 1.0) * _unit(buzz)
            + rng.uniform(3.0, 6.0) * thumps)


def ring_bell(rng, seconds, sample_rate):
    """A bell rung repeatedly: inharmonic partials (hum, prime, tierce, quint, nominal...)
    that decay at different rates, the higher ones faster."""
    n = int(seconds * sample_rate)
    ratios = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.51, 2.66, 3.01, 4.16, 5.43])
    fundamental = rng.uniform(350, 900)
    strikes = np.arange(rng.uniform(0, 0.3), seconds, rng.uniform(0.7, 1.5))
    out = np.zeros(n)
    for onset in strikes:
        freqs = fundamental * ratios * (1 + rng.normal(0, 0.004, len(ratios)))
        decays = rng.uniform(0.6, 1.6) / portable.power(ratios, 0.8)
        amplitudes = rng.uniform(0.4, 1.0, len(ratios)) / portable.power(ratios, 0.3)
        strike = _decaying_partials(freqs, amplitudes, decays, n - int(onset * sample_rate),
                                    sample_rate, rng)
        _add_at(out, strike * rng.uniform(0.7, 1.0), int(onset * sample_rate))
    return out + 0.003 * np.std(out) * rng.standard_normal(n)


def music(rng, seconds, sample_rate):
    """Background music: a chord progression in a random key (sustained harmonic tones with
    attack and release), a bass line, and a hi-hat on every half beat."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    tonic = 110 * portable.semitones(float(rng.integers(0, 12)))
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    beat = 60 / rng.uniform(80, 130)
    out = np.zeros(n)
    for bar_start in np.arange(0, seconds, 4 * beat):
        degree = int(rng.integers(0, 7))
        semitones = [scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
        on = (t >= bar_start) & (t < bar_start + 4 * beat)
        envelope = np.where(on, np.minimum((t - bar_start) / 0.03, 1.0)
                            * portable.exp(-(t - bar_start) / (6 * beat)), 0.0)
        envelope = portable.gaussian_filter1d(envelope, 0.01 * sample_rate)
        for semitone in semitones:
            pitch = np.full(n, 2 * tonic * portable.semitones(float(semitone)))
            out += envelope * _harmonics(pitch, sample_rate, portable.power(0.6, np.arange(8.0)), rng)
        bass = np.full(n, tonic * portable.semitones(float(semitones[0])) / 2)
        out += 1.5 * envelope * _harmonics(bass, sample_rate, portable.power(0.5, np.arange(4.0)), rng)
    hats = np.zeros(n)
    tick = _filtered(rng.standard_normal(int(0.05 * sample_rate)), sample_rate, "highpass", 6000)
    tick *= portable.exp(-np.arange(len(tick)) / (0.012 * sample_rate))
    for onset in np.arange(0, seconds, beat / 2):
        _add_at(hats, tick, int(onset * sample_rate))
    return _unit(out) + rng.uniform(0.4, 0.8) * _unit(hats)


def instrument(rng, seconds, sample_rate):
    """A plucked string (Karplus-Strong) playing a melody: each note a noise burst fed through
    a delay line of one period whose averaging loss damps the high partials first."""
    n = int(seconds * sample_rate)
    out = np.zeros(n)
    root = 82.4 * portable.semitones(float(rng.integers(0, 24)))
    pentatonic = np.array([0, 2, 4, 7, 9, 12, 14, 16])
    onset = 0.0
    while onset < seconds:
        frequency = root * portable.semitones(float(pentatonic[rng.integers(len(pentatonic))]))
        period = max(2, int(round(sample_rate / frequency)))
        loss = rng.uniform(0.990, 0.998)
        excitation = np.zeros(min(n, int(2.0 * sample_rate)))      # a note rings 2 s at most
        excitation[:period] = rng.uniform(-1, 1, period)
        # y[k] = x[k] + loss * (y[k - P] + y[k - P - 1]) / 2
        feedback = np.zeros(period + 2)
        feedback[0], feedback[period], feedback[period + 1] = 1.0, -loss / 2, -loss / 2
        _add_at(out, lfilter([1.0], feedback, excitation) * rng.uniform(0.6, 1.0),
                int(onset * sample_rate))
        onset += rng.choice([0.25, 0.5, 0.75]) * rng.uniform(0.9, 1.1)
    return out


GENERATORS: dict[str, Generator] = {
    "room": room, "car": car, "instrument": instrument, "engine": engine, "train": train,
    "human_chatting": human_chatting, "air_brake": air_brake, "water": water, "street": street,
    "mic_noise": mic_noise, "ring_bell": ring_bell, "music": music,
}
CATEGORIES = tuple(GENERATORS)
