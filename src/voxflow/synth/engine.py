"""A Klatt-style parametric speech synthesizer in numpy/scipy.

Synthesis is split in two, so that spoofing systems and tests can alter a plan and render it again:

* `plan_utterance` turns words into timed phones and control tracks at 200 Hz: F0 (declination,
  pitch accents, phrase contours, emotion), formant targets smoothed across phone boundaries
  (coarticulation), source amplitudes and articulatory tracks.
* `render` turns a plan into a waveform at any sample rate: a glottal-flow-derivative source with
  jitter, shimmer, spectral tilt and aspiration noise drives a cascade of formant resonators
  (plus a nasal pole-zero pair); a parallel branch adds band-pass noise for fricatives and bursts.

Filter coefficients change every 5 ms, as in Klatt (1980); each block is one `sosfilt` call with
its state carried over, which keeps rendering fast without compiled code.

Every exp, cos, power, Gaussian kernel and filter design goes through `voxflow.synth.portable`,
whose results are the same bits on every x86_64 CPU (numpy's and scipy's are not): a corpus is
byte-identical on any machine.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.signal import lfilter, sosfilt

from voxflow.synth import portable
from voxflow.synth.languages import Language, Word
from voxflow.synth.phones import (AFFRICATE, APPROXIMANT, DIPHTHONG, FRICATIVE, NASAL, PHONES,
                                  PLOSIVE, SILENCE, VOWEL, Phone)
from voxflow.synth.voice import EMOTIONS, Speaker

CONTROL_RATE = 200          # control frames per second (5 ms)
ARTICULATION_FPS = 25       # video frame rate of the articulatory tracks (GRID)
ARTICULATORS = ("jaw_open", "lip_round", "lip_spread")
_BASE_BANDWIDTHS = np.array([70.0, 90.0, 140.0, 220.0, 280.0])
_UPPER_FORMANTS = (3300.0, 3850.0)
_NASAL_POLE = 270.0
_FRICATION_SCALE = 0.5


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    label: str


@dataclass(frozen=True)
class Frication:
    """One noise event of the parallel branch: a band-pass spectrum under an envelope."""
    first_frame: int
    envelope: np.ndarray        # control-rate amplitude from first_frame on
    centre: float
    bandwidth: float


@dataclass(frozen=True)
class Plan:
    duration: float
    phones: tuple[Interval, ...]
    words: tuple[Interval, ...]
    f0: np.ndarray              # (frames,) Hz, continuous through unvoiced parts
    formants: np.ndarray        # (frames, 5) Hz
    bandwidths: np.ndarray      # (frames, 5) Hz
    nasal_zero: np.ndarray      # (frames,) Hz; equal to the nasal pole when not nasal
    voicing: np.ndarray         # (frames,) amplitude of the glottal source
    aspiration: np.ndarray      # (frames,) noise into the cascade (h, voiceless releases)
    frications: tuple[Frication, ...]
    articulation: np.ndarray    # (frames, 3) jaw opening, lip rounding, lip spread in [0, 1]
    breathiness: float
    tilt: float
    open_quotient: float
    jitter: float
    shimmer: float
    peak_level: float
    seed: int


@dataclass(frozen=True)
class Utterance:
    audio: np.ndarray           # float32 in [-1, 1]
    sample_rate: int
    phones: tuple[Interval, ...]
    words: tuple[Interval, ...]
    articulation: np.ndarray    # (frames at 25 fps, 3), see ARTICULATORS
    plan: Plan

    @property
    def text(self) -> str:
        return " ".join(w.label for w in self.words)


@dataclass
class _Segment:
    phone: Phone
    duration: float
    word: int | None
    stressed: bool
    phrase_final: bool


def synthesize(phrases: list[list[Word]], speaker: Speaker, language: Language, seed: int,
               sample_rate: int, emotion: str = "neutral", **plan_options) -> Utterance:
    """Words to waveform, alignments and articulatory tracks, deterministic in `seed`."""
    plan = plan_utterance(phrases, speaker, language, np.random.default_rng(seed), emotion,
                          **plan_options)
    return Utterance(render(plan, sample_rate), sample_rate, plan.phones, plan.words,
                     articulation_at_fps(plan), plan)


def plan_utterance(phrases: list[list[Word]], speaker: Speaker, language: Language,
                   rng: np.random.Generator, emotion: str = "neutral",
                   lead: tuple[float, float] = (0.08, 0.25), trail: tuple[float, float] = (0.08, 0.25),
                   total_duration: float | None = None, level_db: float = 0.0) -> Plan:
    """Timed phones and control tracks for one utterance.

    With `total_duration` the speech is compressed if needed and centred with silence so that
    the utterance lasts exactly that long (GRID's fixed 3 s sentences).
    """
    if not phrases or not all(phrases):
        raise ValueError("an utterance needs at least one phrase of at least one word")
    emo = EMOTIONS[emotion]
    segments = _timed_segments(phrases, speaker, language, emo, rng)
    speech = sum(s.duration for s in segments)
    if total_duration is None:
        lead_s, trail_s = rng.uniform(*lead), rng.uniform(*trail)
    else:
        budget = total_duration - 0.3
        if speech > budget:
            for s in segments:
                s.duration *= budget / speech
            speech = budget
        lead_s = (total_duration - speech) * rng.uniform(0.35, 0.6)
        trail_s = total_duration - speech - lead_s
    silence = PHONES["sil"]
    segments = [_Segment(silence, lead_s, None, False, False), *segments,
                _Segment(silence, trail_s, None, False, False)]

    ends = np.cumsum([s.duration for s in segments])
    starts = ends - [s.duration for s in segments]
    duration = float(ends[-1])
    n_frames = int(np.ceil(duration * CONTROL_RATE)) + 1
    t = np.arange(n_frames) / CONTROL_RATE
    seg_of_frame = np.minimum(np.searchsorted(ends, t, side="right"), len(segments) - 1)

    phones, words = _alignments(segments, starts, ends, phrases)
    breathiness = float(np.clip(speaker.breathiness + emo.breathiness_add, 0.0, 0.9))
    formants, bandwidths, nasal_zero = _filter_tracks(segments, starts, seg_of_frame, t, speaker,
                                                      breathiness)
    voicing, aspiration, frications = _source_tracks(segments, starts, ends, seg_of_frame, t)
    f0 = _f0_track(segments, starts, ends, t, speaker, language, emo, rng)
    articulation = np.array([_articulation_target(segments[i].phone) for i in seg_of_frame])
    articulation = portable.gaussian_filter1d(articulation, 0.03 * CONTROL_RATE, axis=0)
    return Plan(
        duration=duration, phones=phones, words=words, f0=f0, formants=formants,
        bandwidths=bandwidths, nasal_zero=nasal_zero, voicing=voicing, aspiration=aspiration,
        frications=frications, articulation=articulation, breathiness=breathiness,
        tilt=float(np.clip(speaker.tilt + emo.tilt_add, 0.0, 0.95)),
        open_quotient=float(np.clip(speaker.open_quotient + emo.oq_add, 0.35, 0.85)),
        jitter=speaker.jitter, shimmer=speaker.shimmer,
        peak_level=0.25 * portable.db_to_gain(level_db + emo.energy_db),
        seed=int(rng.integers(2**63)))


def _timed_segments(phrases, speaker, language, emo, rng) -> list[_Segment]:
    prosody = language.prosody
    scale = prosody.rate * speaker.rate * emo.rate_scale
    segments: list[_Segment] = []
    word_index = 0
    for p_i, phrase in enumerate(phrases):
        for w_i, word in enumerate(phrase):
            for s_i, syllable in enumerate(word.syllables):
                stressed = s_i == word.stress
                final = w_i == len(phrase) - 1 and s_i == len(word.syllables) - 1
                for name in syllable:
                    phone = PHONES[name]
                    d = phone.duration * scale * portable.exp(float(rng.normal(0.0, 0.12)))
                    if stressed:
                        d *= prosody.stressed_lengthening if _is_vocalic(phone) else 1.1
                    if final:
                        d *= 1.4
                    segments.append(_Segment(phone, d, word_index, stressed, final))
            word_index += 1
        if p_i < len(phrases) - 1:
            pause = float(rng.uniform(0.12, 0.28)) * emo.rate_scale
            segments.append(_Segment(PHONES["sil"], pause, None, False, False))
    return segments


def _is_vocalic(phone: Phone) -> bool:
    return phone.kind in (VOWEL, DIPHTHONG)


def _alignments(segments, starts, ends, phrases):
    phones = tuple(Interval(float(s0), float(s1), seg.phone.name)
                   for seg, s0, s1 in zip(segments, starts, ends))
    texts = [w.text for phrase in phrases for w in phrase]
    spans: dict[int, list[float]] = {}
    for seg, s0, s1 in zip(segments, starts, ends):
        if seg.word is not None:
            span = spans.setdefault(seg.word, [float(s0), float(s1)])
            span[1] = float(s1)
    words = tuple(Interval(spans[i][0], spans[i][1], texts[i]) for i in sorted(spans))
    return phones, words


def _filter_tracks(segments, starts, seg_of_frame, t, speaker, breathiness):
    """Formant, bandwidth and nasal-zero tracks; silences borrow their neighbours' targets."""
    voiced_neighbour = _nearest_non_silence(segments)
    f = np.empty((len(t), 3))
    for k, i in enumerate(seg_of_frame):
        phone = segments[voiced_neighbour[i]].phone
        if phone.kind == DIPHTHONG:
            frac = (t[k] - starts[i]) / max(segments[i].duration, 1e-6)
            w = np.clip((frac - 0.2) / 0.6, 0.0, 1.0)
            f[k] = (1 - w) * np.array(phone.formants) + w * np.array(phone.formants_end)
        else:
            f[k] = phone.formants
    f = portable.gaussian_filter1d(f, 0.012 * CONTROL_RATE, axis=0) * speaker.formant_scale
    upper = np.array(_UPPER_FORMANTS) * speaker.formant_scale * (1 + speaker.f4_offset)
    formants = np.hstack([f, np.broadcast_to(upper, (len(t), 2))])

    nasal = np.array([segments[i].phone.nasal_zero or _NASAL_POLE for i in seg_of_frame])
    nasal_zero = portable.gaussian_filter1d(nasal, 3.0, axis=0) * speaker.formant_scale
    is_nasal = np.array([segments[i].phone.kind == NASAL for i in seg_of_frame], float)
    bandwidths = np.tile(_BASE_BANDWIDTHS, (len(t), 1))
    bandwidths[:, 0] += 120 * breathiness + 80 * portable.gaussian_filter1d(is_nasal, 1.5)
    return formants, bandwidths, nasal_zero


def _nearest_non_silence(segments) -> list[int]:
    speech = [i for i, s in enumerate(segments) if s.phone.kind != SILENCE]
    return [i if segments[i].phone.kind != SILENCE else
            min(speech, key=lambda j: (abs(j - i), j)) for i in range(len(segments))]


_VOICING = {VOWEL: 1.0, DIPHTHONG: 1.0, APPROXIMANT: 0.75, NASAL: 0.55, FRICATIVE: 0.4}


def _source_tracks(segments, starts, ends, seg_of_frame, t):
    n = len(t)
    voicing = np.zeros(n)
    aspiration = np.zeros(n)
    fric_raw = []
    for i, seg in enumerate(segments):
        lo, hi = np.searchsorted(t, [starts[i], ends[i]])
        if hi <= lo:
            continue
        phone = seg.phone
        if phone.kind in (PLOSIVE, AFFRICATE):
            release = lo + int(round((hi - lo) * (0.65 if phone.kind == PLOSIVE else 0.4)))
            if phone.voiced:
                voicing[lo:release] = 0.12
                voicing[release:hi] = 0.5
            elif phone.kind == PLOSIVE:
                aspiration[release + 1:hi] = 0.25
            fric_end = release + 2 if phone.kind == PLOSIVE else hi
            fric_raw.append((release, fric_end, phone))
            continue
        if phone.voiced:
            gain = _VOICING.get(phone.kind, 0.0)
            voicing[lo:hi] = gain * (1.25 if seg.stressed and _is_vocalic(phone) else 1.0)
        if phone.name == "hh":
            aspiration[lo:hi] = 0.35
        elif phone.frication is not None:
            fric_raw.append((lo, hi, phone))
    voicing = portable.gaussian_filter1d(voicing, 1.0)
    aspiration = portable.gaussian_filter1d(aspiration, 1.0)

    frications = []
    for lo, hi, phone in fric_raw:
        first, last = max(lo - 3, 0), min(hi + 3, n)
        indicator = np.zeros(last - first)
        indicator[lo - first:hi - first] = phone.frication_gain * _FRICATION_SCALE
        envelope = portable.gaussian_filter1d(indicator, 0.8, mode="constant")
        frications.append(Frication(first, envelope, *phone.frication))
    return voicing, aspiration, tuple(frications)


def _f0_track(segments, starts, ends, t, speaker, language, emo, rng) -> np.ndarray:
    prosody = language.prosody
    span = speaker.f0_range_st * emo.range_scale
    st = np.zeros(len(t))
    # phrases: runs of speech between silences
    speech = [i for i, s in enumerate(segments) if s.phone.kind != SILENCE]
    phrase_bounds, run = [], [speech[0]]
    for i in speech[1:]:
        if i == run[-1] + 1:
            run.append(i)
        else:
            phrase_bounds.append((starts[run[0]], ends[run[-1]]))
            run = [i]
    phrase_bounds.append((starts[run[0]], ends[run[-1]]))
    for p_i, (p0, p1) in enumerate(phrase_bounds):
        inside = (t >= p0) & (t < p1)
        pos = (t[inside] - p0) / max(p1 - p0, 1e-6)
        st[inside] += prosody.declination_st * span * (0.5 - pos)
        last = p_i == len(phrase_bounds) - 1
        tail = (t >= p1 - 0.2) & (t < p1 + 0.1)
        ramp = np.clip((t[tail] - (p1 - 0.2)) / 0.2, 0, 1)
        if last or prosody.final_contour == "fall":
            st[tail] -= 3.0 * span * ramp
        else:
            st[tail] += 3.0 * span * ramp
    for i, seg in enumerate(segments):
        if seg.stressed and _is_vocalic(seg.phone):
            centre = starts[i] + prosody.accent_delay * seg.duration
            height = prosody.accent_st * span * rng.uniform(0.6, 1.2)
            u = (t - centre) / 0.07
            st += height * portable.exp(-0.5 * (u * u))
    wander = portable.gaussian_filter1d(rng.standard_normal(len(t)), 0.25 * CONTROL_RATE)
    st += 0.6 * wander / (np.abs(wander).max() + 1e-9)
    return speaker.f0_median * portable.semitones(emo.f0_shift_st + st)


def _articulation_target(phone: Phone) -> tuple[float, float, float]:
    return phone.jaw, phone.rounding, phone.spread


def articulation_at_fps(plan: Plan, fps: int = ARTICULATION_FPS) -> np.ndarray:
    """Articulatory tracks sampled at the centres of video frames."""
    n = int(np.floor(plan.duration * fps + 1e-9))
    t_video = (np.arange(n) + 0.5) / fps
    t_control = np.arange(len(plan.f0)) / CONTROL_RATE
    return np.stack([np.interp(t_video, t_control, plan.articulation[:, k]) for k in range(3)], 1)


def monotone(plan: Plan) -> Plan:
    """The same plan with a flat F0 at its median (used by spoofing systems)."""
    return replace(plan, f0=np.full_like(plan.f0, np.median(plan.f0)))


# ---------------------------------------------------------------------------------------------
# rendering

def render(plan: Plan, sample_rate: int) -> np.ndarray:
    """Waveform (float32) of a plan at `sample_rate`."""
    rng = np.random.default_rng(plan.seed)
    n = int(round(plan.duration * sample_rate))
    t = np.arange(n) / sample_rate
    tc = np.arange(len(plan.f0)) / CONTROL_RATE
    voicing = np.interp(t, tc, plan.voicing)
    aspiration = np.interp(t, tc, plan.aspiration)

    flow, pulse = _glottal_source(np.interp(t, tc, plan.f0), plan, sample_rate, rng)
    noise = rng.standard_normal(n)
    excitation = voicing * pulse + noise * (0.35 * plan.breathiness * voicing * flow + aspiration)
    out = _cascade(excitation, plan, sample_rate)
    out += _frication_branch(plan, sample_rate, n, rng)
    out = sosfilt(portable.butter_sos(2, 60, "highpass", sample_rate), out)
    peak = np.abs(out).max()
    return (out * (min(plan.peak_level, 0.95) / peak if peak > 0 else 0)).astype(np.float32)


def _glottal_source(f0: np.ndarray, plan: Plan, sr: int, rng):
    """Glottal flow (0..1) and its derivative (the source with lip radiation), peak-normalised."""
    cycle = np.cumsum(f0 / sr).astype(np.int64)
    jitter = 1 + plan.jitter * rng.standard_normal(cycle[-1] + 2)
    phase = np.cumsum(f0 * jitter[cycle] / sr)
    cycle = phase.astype(np.int64)
    frac = phase - cycle
    oq = plan.open_quotient
    opening = 0.65 * oq
    closing = portable.cos(0.5 * np.pi * (frac - opening) / (oq - opening))
    flow = np.where(frac < opening, 0.5 * (1 - portable.cos(np.pi * frac / opening)),
                    np.where(frac < oq, closing, 0.0))
    shimmer = 1 + plan.shimmer * rng.standard_normal(cycle[-1] + 2)
    pulse = np.diff(flow, prepend=0.0) * shimmer[cycle]
    pulse = lfilter([1 - plan.tilt], [1, -plan.tilt], pulse)
    return flow, pulse / (np.abs(pulse).max() + 1e-12)


def _resonator(freq: np.ndarray, bw: np.ndarray, sr: int) -> np.ndarray:
    """Klatt resonator coefficients (A, B, C) with unit gain at DC, shape (..., 3)."""
    c = -portable.exp(-2 * np.pi * bw / sr)
    b = 2 * portable.exp(-np.pi * bw / sr) * portable.cos(2 * np.pi * freq / sr)
    return np.stack([1 - b - c, b, c], -1)


def _cascade(x: np.ndarray, plan: Plan, sr: int) -> np.ndarray:
    n_frames = len(plan.f0)
    nyquist_ok = plan.formants < 0.45 * sr
    res = _resonator(np.minimum(plan.formants, 0.45 * sr), plan.bandwidths, sr)   # (F, 5, 3)
    sos = np.zeros((n_frames, 6, 6))
    sos[:, :5, 0] = np.where(nyquist_ok, res[..., 0], 1.0)
    sos[:, :5, 3] = 1.0
    sos[:, :5, 4] = np.where(nyquist_ok, -res[..., 1], 0.0)
    sos[:, :5, 5] = np.where(nyquist_ok, -res[..., 2], 0.0)
    # the nasal pole-zero pair as one biquad: the identity when the zero sits on the pole
    pole = _resonator(np.full(n_frames, _NASAL_POLE), np.full(n_frames, 100.0), sr)
    zero = _resonator(plan.nasal_zero, np.full(n_frames, 100.0), sr)
    gain = pole[:, 0] / zero[:, 0]
    sos[:, 5] = np.stack([gain, -gain * zero[:, 1], -gain * zero[:, 2], np.ones(n_frames),
                          -pole[:, 1], -pole[:, 2]], -1)

    bounds = np.minimum(np.round(np.arange(n_frames + 1) * sr / CONTROL_RATE).astype(int), len(x))
    y = np.empty_like(x)
    zi = np.zeros((6, 2))
    for k in range(n_frames):
        a, b = bounds[k], bounds[k + 1]
        if b > a:
            y[a:b], zi = sosfilt(sos[k], x[a:b], zi=zi)
    y[bounds[-1]:] = 0.0
    return y


def _frication_branch(plan: Plan, sr: int, n: int, rng) -> np.ndarray:
    out = np.zeros(n)
    nyquist = sr / 2
    for event in plan.frications:
        a = int(round(event.first_frame * sr / CONTROL_RATE))
        b = min(int(round((event.first_frame + len(event.envelope)) * sr / CONTROL_RATE)), n)
        if b <= a:
            continue
        lo = max(event.centre - event.bandwidth / 2, 100.0)
        hi = min(event.centre + event.bandwidth / 2, 0.95 * nyquist)
        sos = (portable.butter_sos(2, 0.6 * nyquist, "highpass", sr) if lo >= hi
               else portable.butter_sos(2, (lo, hi), "bandpass", sr))
        times = np.arange(a, b) * CONTROL_RATE / sr
        envelope = np.interp(times, event.first_frame + np.arange(len(event.envelope)),
                             event.envelope)
        out[a:b] += sosfilt(sos, rng.standard_normal(b - a)) * envelope
    return out
