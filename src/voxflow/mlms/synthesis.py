"""Speech from linguistic features (paper 002, section 3): the acoustic model's parameter
generation, the cepstral post-filter and WORLD at 22.05 kHz; and `Voice`, text to speech with
the lexicon and the duration model.

The paper generates from oracle durations; `generate_features` takes durations, from the
alignments (evaluation) or from `predict_durations` (a registered voice speaking new text).
"""
from __future__ import annotations

import numpy as np
import torch

from voxflow.mlms.lexicon import Lexicon
from voxflow.mlms.linguistic import LinguisticSpec, frame_features, phone_features
from voxflow.mlms.world import VUV, WorldConfig, synthesize
from voxflow.mlms.training import Predictor


def generate_features(acoustic: Predictor, phones: np.ndarray, durations: np.ndarray,
                      language: str, speaker: str) -> np.ndarray:
    """Phone-level linguistic features (phones, D_phone) and frames per phone (phones,) ->
    (frames, 49) float32 WORLD features, V/UV as a 0/1 flag (the network predicts it as a
    real number)."""
    x = torch.from_numpy(frame_features(phones, durations))[None]
    with torch.no_grad():
        y = acoustic.predict(x.to(acoustic.out_mean.device), [language], [speaker])
    features = y[0].float().cpu().numpy()
    features[:, VUV] = features[:, VUV] > 0.5
    return features


def predict_durations(duration_model: Predictor, phones: np.ndarray, language: str,
                      speaker: str) -> np.ndarray:
    """(phones, D_phone) -> (phones,) int64 frames per phone, at least 1 (the model predicts
    log frames)."""
    x = torch.from_numpy(np.asarray(phones, np.float32))[None]
    with torch.no_grad():
        log_frames = duration_model.predict(x.to(duration_model.out_mean.device), [language],
                                            [speaker])
    return np.maximum(np.rint(np.exp(log_frames[0, :, 0].float().cpu().numpy())), 1
                      ).astype(np.int64)


class Voice:
    """Text -> waveform: `speak(text, language, speaker)` returns (samples,) float32 at
    world.sample_rate. The text is normalized (words split on spaces, as the corpus's
    normalized_text); a word missing from the language's lexicon raises `UnknownWord` naming
    it."""

    def __init__(self, acoustic: Predictor, durations: Predictor, lexicon: Lexicon,
                 spec: LinguisticSpec, world: WorldConfig, postfilter: bool = True):
        self.acoustic, self.durations = acoustic.eval(), durations.eval()
        self.lexicon, self.spec, self.world, self.postfilter = lexicon, spec, world, postfilter

    @property
    def speakers(self) -> list[str]:
        return self.acoustic.net.speakers

    @property
    def languages(self) -> list[str]:
        return self.acoustic.net.languages

    def features(self, text: str, language: str, speaker: str) -> np.ndarray:
        """(frames, 49) WORLD features of `text`."""
        for name, value, known in (("language", language, self.languages),
                                   ("speaker", speaker, self.speakers)):
            if value not in known:
                raise ValueError(f"the voice has no {name} {value!r}; it has "
                                 f"{', '.join(known)}")
        phones = phone_features(self.lexicon.segments_for_text(text, language), self.spec)
        durations = predict_durations(self.durations, phones, language, speaker)
        return generate_features(self.acoustic, phones, durations, language, speaker)

    def speak(self, text: str, language: str, speaker: str) -> np.ndarray:
        return synthesize(self.features(text, language, speaker), self.world, self.postfilter)
