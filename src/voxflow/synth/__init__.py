"""Deterministic parametric speech synthesis and voxflow's miniature corpora."""
import importlib

# loaded on first use (PEP 562): importing `voxflow.synth.corpora` for its corpus names, as every
# `voxflow` command line does, then costs no synthesis engine (scipy.signal)
_EXPORTS = {"Interval": "engine", "Plan": "engine", "Utterance": "engine",
            "plan_utterance": "engine", "render": "engine", "synthesize": "engine",
            "ENGLISH": "languages", "LANGUAGES": "languages", "Language": "languages",
            "Word": "languages", "EMOTIONS": "voice", "Emotion": "voice", "Speaker": "voice",
            "sample_speaker": "voice"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'voxflow.synth' has no attribute {name!r}")
    return getattr(importlib.import_module(f"voxflow.synth.{_EXPORTS[name]}"), name)
