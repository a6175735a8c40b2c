"""Whisper (Radford et al. 2022) read from a local checkpoint file, the cascade's recognizer at
paper size: paper 003's cascade (section 2.3) transcribes with Whisper medium-en.

Nothing is downloaded: the file is openai-whisper's own, a dict of `dims` (the
`whisper.model.ModelDimensions`) and `model_state_dict`, as `whisper.load_model("medium.en")`
keeps it in ~/.cache/whisper/medium.en.pt. The tokenizer (tiktoken's vocabularies) ships inside
the openai-whisper package.

Decoding is openai-whisper's `transcribe` without its stochastic parts: greedy (temperature 0,
no fallback to sampling), the given language, no conditioning on the previous 30 s window. The
text is normalised as voxflow's transcripts are (`voxflow.evaluation.transcripts.normalize_text`:
NFKC, lower case, punctuation removed). The cascade then maps each word its voice's lexicon
lacks, a number written in digits included, to the nearest lexicon word.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from voxflow.evaluation.transcripts import normalize_text


class WhisperRecognizer:
    """transcribe(waves: [(samples,) float 16 kHz]) -> [normalised text], one per waveform."""

    def __init__(self, model, language: str = "en"):
        """model: a `whisper.model.Whisper` (eval mode); language: the spoken language's code."""
        self.model, self.language = model.eval(), language

    def transcribe(self, waves: Sequence[np.ndarray]) -> list[str]:
        return [normalize_text(self.model.transcribe(
            np.asarray(wave, dtype=np.float32), language=self.language, task="transcribe",
            temperature=0.0, condition_on_previous_text=False, fp16=False, verbose=None)["text"])
            for wave in waves]


def load_whisper(path: Path, language: str = "en") -> WhisperRecognizer:
    """The recognizer of an openai-whisper checkpoint file (`dims` and `model_state_dict`), on
    the CPU."""
    from whisper.model import ModelDimensions, Whisper

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such Whisper checkpoint file")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: cannot read a Whisper checkpoint ({err})") from err
    if not isinstance(saved, Mapping) or not {"dims", "model_state_dict"} <= saved.keys():
        raise ValueError(f"{path}: not an openai-whisper checkpoint (needs 'dims' and "
                         "'model_state_dict', as ~/.cache/whisper/<name>.pt has them)")
    model = Whisper(ModelDimensions(**saved["dims"]))
    try:
        model.load_state_dict(saved["model_state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path}: the weights do not fit its dims ({err})") from err
    return WhisperRecognizer(model, language)
