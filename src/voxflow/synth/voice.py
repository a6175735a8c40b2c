"""Speakers and emotions: the voice parameters of the synthesizer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxflow.synth import portable

REFERENCE_VTL_CM = 17.5


@dataclass(frozen=True)
class Speaker:
    id: str
    gender: str                 # "F" or "M"
    vtl_cm: float               # vocal-tract length; formants scale by 17.5 / vtl_cm
    f0_median: float            # Hz
    f0_range_st: float          # pitch-accent scale, semitones
    breathiness: float          # 0..1, aspiration noise mixed into voicing
    tilt: float                 # 0..1, one-pole low-pass on the glottal source
    jitter: float               # cycle-to-cycle period perturbation (fraction)
    shimmer: float              # cycle-to-cycle amplitude perturbation (fraction)
    rate: float                 # phone-duration multiplier
    open_quotient: float        # glottal open phase, fraction of the period
    f4_offset: float            # individual upper-formant shift (fraction), a voice signature

    @property
    def formant_scale(self) -> float:
        return REFERENCE_VTL_CM / self.vtl_cm


def sample_speaker(rng: np.random.Generator, speaker_id: str, gender: str) -> Speaker:
    """Draw a speaker from gender-dependent population ranges (adult voices)."""
    female = gender == "F"
    return Speaker(
        id=speaker_id, gender=gender,
        vtl_cm=float(rng.normal(14.6, 0.7) if female else rng.normal(17.4, 0.8)),
        f0_median=portable.exp(float(rng.normal(portable.log(205.0), 0.13) if female
                                     else rng.normal(portable.log(115.0), 0.15))),
        f0_range_st=float(rng.uniform(0.7, 1.4)),
        breathiness=float(rng.uniform(0.05, 0.35) if female else rng.uniform(0.0, 0.25)),
        tilt=float(rng.uniform(0.2, 0.75)),
        jitter=float(rng.uniform(0.003, 0.012)),
        shimmer=float(rng.uniform(0.02, 0.06)),
        rate=float(rng.uniform(0.85, 1.15)),
        open_quotient=float(rng.uniform(0.5, 0.7)),
        f4_offset=float(rng.uniform(-0.08, 0.08)),
    )


@dataclass(frozen=True)
class Emotion:
    name: str
    f0_shift_st: float      # F0 level change
    range_scale: float      # pitch-accent and declination scale
    rate_scale: float       # phone-duration multiplier
    energy_db: float        # level change
    breathiness_add: float
    tilt_add: float         # positive: darker (lax), negative: brighter (tense)
    oq_add: float           # open-quotient change: tense voice closes longer


EMOTIONS: dict[str, Emotion] = {e.name: e for e in [
    Emotion("neutral", 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0),
    Emotion("happy", 3.5, 1.8, 0.88, 3.0, 0.0, -0.1, -0.03),
    Emotion("sad", -2.0, 0.45, 1.3, -6.0, 0.25, 0.2, 0.1),
    Emotion("angry", 2.0, 1.4, 0.85, 7.0, -0.05, -0.3, -0.12),
]}
