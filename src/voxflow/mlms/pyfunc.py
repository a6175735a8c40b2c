"""An MLMS voice as an MLflow pyfunc model: text, language and speaker in, a 22.05 kHz waveform
out.

`log_voice(acoustic, duration, linguistic_dir, world, postfilter)` logs it in the active run;
registered and promoted (`voxflow.registry`), downstream users load it as
`models:/voxflow-mlms@champion`:

    model = mlflow.pyfunc.load_model("models:/voxflow-mlms@champion")
    voices = model.metadata.metadata      # {"sample_rate", "languages", "speakers"}
    audio = model.predict({"text": "...", "language": "en", "speaker": "..."})   # (samples,)

The input is one utterance: a dict of the three strings, or a one-row DataFrame with those
columns (MLflow hands the model a dict as such a DataFrame; called directly,
`model.unwrap_python_model().predict(None, {...})`, it takes the dict). The text is
normalized text, words separated by spaces, each in the language's lexicon (the training
alignments' words, `voxflow.mlms.lexicon`; a loaded model's is
`model.unwrap_python_model().voice.lexicon`): an unknown word is an `UnknownWord` error naming
it, an unknown language or speaker a ValueError listing the known ones. The output is
(samples,) float32 at the metadata's sample_rate (`voxflow.mlms.synthesis.Voice`: predicted
durations, the acoustic model's WORLD features, the post-filter if logged with it, WORLD).
Any speaker speaks any of the languages (the paper's cross-lingual synthesis). The model
folder carries the voxflow package, so loading needs the pinned requirements only.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from voxflow.mlms.data import LEXICON, SPEC, read_lexicon, read_spec
from voxflow.mlms.synthesis import Voice
from voxflow.mlms.training import load_model
from voxflow.mlms.world import WorldConfig
from voxflow.pyfunc import log_pyfunc
from voxflow.stage_io import as_params, parse

ACOUSTIC, DURATION, LINGUISTIC, CONFIG = "acoustic", "duration", "linguistic", "config"
COLUMNS = ("text", "language", "speaker")


class VoicePyfunc(mlflow.pyfunc.PythonModel):
    """predict: {"text", "language", "speaker"} (or a one-row DataFrame of them) -> (samples,)
    float32 waveform at the WORLD config's sample rate."""

    def load_context(self, context):
        saved = json.loads(Path(context.artifacts[CONFIG]).read_text())
        linguistic = Path(context.artifacts[LINGUISTIC])
        self.voice = Voice(load_model(context.artifacts[ACOUSTIC]),
                           load_model(context.artifacts[DURATION]), read_lexicon(linguistic),
                           read_spec(linguistic),
                           parse(WorldConfig, saved["world"], "the voice's world config"),
                           saved["postfilter"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None
                ) -> np.ndarray:
        return self.voice.speak(*self._request(model_input))

    def _request(self, model_input) -> tuple[str, str, str]:
        """(text, language, speaker) of the one utterance asked for."""
        rows = pd.DataFrame([model_input]) if isinstance(model_input, dict) else model_input
        expected = ('expected {"text": str, "language": str, "speaker": str} or a one-row '
                    "DataFrame with those columns")
        if not isinstance(rows, pd.DataFrame):
            raise ValueError(f"{expected}, got {type(model_input).__name__}")
        missing = [column for column in COLUMNS if column not in rows.columns]
        if missing or len(rows) != 1:
            raise ValueError(f"{expected}, got {len(rows)} rows with columns "
                             f"{', '.join(map(str, rows.columns))}")
        values = tuple(rows[column].iloc[0] for column in COLUMNS)
        for column, value in zip(COLUMNS, values):
            if not isinstance(value, str):
                raise ValueError(f"{column}: expected a string, got {type(value).__name__}")
        return values


def log_voice(acoustic_path: Path, duration_path: Path, linguistic_dir: Path,
              world: WorldConfig, postfilter: bool, name: str = "voice") -> str:
    """Log the acoustic model `acoustic_path` and the duration model `duration_path` (model.pt
    files of `voxflow.mlms.training.save_model`) with the phone inventory and lexicon of
    `linguistic_dir` as the pyfunc model `name` in the active MLflow run; returns its URI."""
    def write_artifacts(folder: Path) -> dict[str, str]:
        artifacts = {ACOUSTIC: folder / "acoustic.pt", DURATION: folder / "duration.pt",
                     LINGUISTIC: folder / "linguistic", CONFIG: folder / "voice.json"}
        shutil.copyfile(acoustic_path, artifacts[ACOUSTIC])
        shutil.copyfile(duration_path, artifacts[DURATION])
        artifacts[LINGUISTIC].mkdir()
        for file in (SPEC, LEXICON):
            shutil.copyfile(Path(linguistic_dir) / file, artifacts[LINGUISTIC] / file)
        artifacts[CONFIG].write_text(json.dumps(
            {"world": as_params(world), "postfilter": postfilter}, indent=2))
        return {key: str(path) for key, path in artifacts.items()}

    acoustic, duration = load_model(acoustic_path), load_model(duration_path)
    lexicon = read_lexicon(linguistic_dir).pronunciations
    languages, speakers = acoustic.net.languages, acoustic.net.speakers
    for owner, kind, needed, known in (
            ("the duration model", "languages", languages, duration.net.languages),
            ("the duration model", "speakers", speakers, duration.net.speakers),
            (f"the lexicon of {linguistic_dir}", "languages", languages, lexicon)):
        missing = sorted(set(needed) - set(known))
        if missing:
            raise ValueError(f"{owner} has no {kind} {', '.join(missing)} of the acoustic "
                             f"model {acoustic_path}")
    # the example: the first word of the first language's lexicon, by the first speaker
    example = {"text": next(iter(lexicon[languages[0]])), "language": languages[0],
               "speaker": speakers[0]}
    return log_pyfunc(VoicePyfunc, name, write_artifacts, example,
                      packages=("torch", "numpy", "pandas", "pysptk", "pyworld", "soundfile",
                                "mlflow"),
                      metadata={"sample_rate": world.sample_rate, "languages": languages,
                                "speakers": speakers})
