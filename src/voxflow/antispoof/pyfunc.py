"""A trained countermeasure as an MLflow pyfunc model: 16 kHz waveform in, bona fide score out.

`log_countermeasure(model_path)` logs a `models/antispoof/<system>/model.pt` (front-end options,
standardization, backbone and classifier) in the active run; registered and promoted
(`voxflow.registry`), downstream users load it as `models:/voxflow-antispoof@champion`:

    model = mlflow.pyfunc.load_model("models:/voxflow-antispoof@champion")
    score = model.predict(waveform)      # (samples,) float32 at 16 kHz -> (1,) float64

The score is the bona fide log-odds (higher: bona fide), the ASVspoof convention, equal to the
system's score file for the same file. The signature is one utterance of any length, (-1,)
float32: a batch goes through `model.unwrap_python_model().predict(None, batch)` with
(batch, samples), since MLflow's schema enforcement fixes the rank. The model folder carries the
voxflow package (`code_paths`); loading needs torch, torchaudio, numpy, scipy, mlflow and what
voxflow.antispoof imports (scikit-learn, pandas, pyarrow, tqdm, threadpoolctl): the model's
pip requirements list them with this environment's versions. A system on voxflow's own SSL
encoder (front-end option `encoder`) carries that encoder as an artifact too.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import numpy as np

from voxflow.pyfunc import log_pyfunc

MODEL, META, SSL_ENCODER = "model", "meta", "ssl_encoder"
SAMPLE_RATE = 16000


class CountermeasurePyfunc(mlflow.pyfunc.PythonModel):
    """predict: waveform (samples,) float32, 16 kHz -> (1,) float64 bona fide score; called
    directly (unwrapped), also (batch, samples) -> (batch,)."""

    def load_context(self, context):
        from voxflow.antispoof.features import make_extractor
        from voxflow.antispoof.systems import load_countermeasure

        self.model, saved = load_countermeasure(Path(context.artifacts[MODEL]))
        self.frames = saved["frames"]
        options = saved["frontend_options"]
        if SSL_ENCODER in context.artifacts:
            options = {**options, "encoder": context.artifacts[SSL_ENCODER]}
        self.extract = make_extractor(saved["frontend"], options)

    def predict(self, context, model_input, params: dict | None = None) -> np.ndarray:
        from voxflow.antispoof.systems import score_features

        audio = np.asarray(model_input)
        if audio.ndim not in (1, 2) or audio.shape[-1] < 400:
            raise ValueError(f"expected a 16 kHz waveform (samples,) or (batch, samples) of at "
                             f"least 400 samples, got shape {audio.shape}")
        if audio.dtype != np.float32:
            raise ValueError(f"expected float32 samples, got {audio.dtype}")
        if not np.isfinite(audio).all():
            raise ValueError("the waveform holds NaN or infinite samples")
        batch = audio if audio.ndim == 2 else audio[None]
        features = [self.extract(x) for x in batch]
        return score_features(self.model, features, self.frames)


def log_countermeasure(model_path: Path, system: dict, name: str = "countermeasure") -> str:
    """Log the system's model.pt as a pyfunc model `name` in the active MLflow run; returns its
    model URI."""
    from voxflow.antispoof.systems import load_countermeasure

    encoder = load_countermeasure(Path(model_path))[1]["frontend_options"].get("encoder")

    def write_artifacts(folder: Path) -> dict[str, str]:
        artifacts = {MODEL: str(folder / "model.pt"), META: str(folder / "system.json")}
        shutil.copy(model_path, artifacts[MODEL])
        Path(artifacts[META]).write_text(json.dumps(system, indent=2, sort_keys=True))
        if encoder:
            artifacts[SSL_ENCODER] = str(folder / Path(encoder).name)
            shutil.copy(encoder, artifacts[SSL_ENCODER])
        return artifacts

    example = (0.05 * np.sin(2 * np.pi * 220 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
               ).astype(np.float32)
    return log_pyfunc(
        CountermeasurePyfunc, name, write_artifacts, example,
        packages=("torch", "torchaudio", "numpy", "scipy", "mlflow", "scikit-learn", "pandas",
                  "pyarrow", "tqdm", "threadpoolctl"),
        metadata={"system": system.get("name"), "frontend": system.get("frontend"),
                  "frontend_description": system.get("frontend_description")})
