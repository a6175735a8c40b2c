"""Deterministic parametric speech synthesis and voxflow's miniature corpora."""
from voxflow.synth.engine import Interval, Plan, Utterance, plan_utterance, render, synthesize
from voxflow.synth.languages import ENGLISH, LANGUAGES, Language, Word
from voxflow.synth.voice import EMOTIONS, Emotion, Speaker, sample_speaker

__all__ = ["ENGLISH", "EMOTIONS", "Emotion", "Interval", "LANGUAGES", "Language", "Plan",
           "Speaker", "Utterance", "Word", "plan_utterance", "render", "sample_speaker",
           "synthesize"]
