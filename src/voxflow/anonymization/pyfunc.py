"""The SSL encoder and the kNN-VC anonymizers as MLflow pyfunc models.

    ssl = mlflow.pyfunc.load_model("models:/voxflow-ssl@candidate")
    features = ssl.predict(wave)              # (samples,) float32 16 kHz -> (frames, dim)
    anonymizer = mlflow.pyfunc.load_model("models:/voxflow-anonymizer-knnvc@candidate")
    anonymized = anonymizer.predict(wave, params={"seed": 7})   # (samples',) float32 16 kHz

The encoder gives the layer the anonymization DAG chose (its metadata's `layer`; `params=
{"layer": n}` another). An anonymizer draws its target speaker, speed and noise from `seed`:
the same seed, the same output. Both take 16 kHz mono audio. The model folders carry the voxflow
package, so loading needs the pinned requirements only.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import mlflow
import numpy as np

from voxflow.anonymization.anonymizers import MATCHING_SETS, load_knnvc_anonymizer
from voxflow.anonymization.audio import RATE
from voxflow.anonymization.knnvc import KnnVCConfig
from voxflow.anonymization.ssl import SSL_FILE, features, load_encoder
from voxflow.anonymization.vocoder import VOCODER_FILE
from voxflow.pyfunc import log_pyfunc
from voxflow.stage_io import parse

PACKAGES = ("numpy", "torch", "torchaudio", "mlflow", "pandas", "scipy", "soundfile")
# a second of a 200 Hz tone: the example of the signatures
EXAMPLE = (0.1 * np.sin(2 * np.pi * 200 * np.arange(RATE) / RATE)).astype(np.float32)


def _wave(model_input) -> np.ndarray:
    """(samples,) float32 from an array or a one-column DataFrame (how MLflow may pass it)."""
    values = model_input.to_numpy() if hasattr(model_input, "to_numpy") else model_input
    wave = np.asarray(values, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        raise ValueError("the input holds no samples: expected (samples,) 16 kHz audio")
    return wave


class SSLPyfunc(mlflow.pyfunc.PythonModel):
    """predict: (samples,) 16 kHz -> (frames, dim) features of the chosen layer."""

    def load_context(self, context):
        self.encoder = load_encoder(Path(context.artifacts["ssl"]))
        self.layer = json.loads(Path(context.artifacts["config"]).read_text())["layer"]

    def predict(self, context, model_input, params: dict | None = None) -> np.ndarray:
        layer = int((params or {}).get("layer", -1))
        return features(self.encoder, _wave(model_input), self.layer if layer < 0 else layer)


class AnonymizerPyfunc(mlflow.pyfunc.PythonModel):
    """predict: (samples,) 16 kHz -> (samples',) 16 kHz anonymized, drawn from params' seed."""

    def load_context(self, context):
        config = json.loads(Path(context.artifacts["config"]).read_text())
        self.anonymizer = load_knnvc_anonymizer(
            Path(context.artifacts["ssl"]), Path(context.artifacts["vocoder"]),
            parse(KnnVCConfig, config["knnvc"], "knnvc config"))

    def predict(self, context, model_input, params: dict | None = None) -> np.ndarray:
        seed = int((params or {}).get("seed", 0))
        return self.anonymizer.anonymize(_wave(model_input), RATE, np.random.default_rng(seed))


def log_ssl(ssl_dir: Path, layer: int) -> str:
    """Log the encoder of `ssl_dir` as the pyfunc `ssl` in the active run; its model URI."""
    def write(folder: Path) -> dict[str, str]:
        (folder / "config.json").write_text(json.dumps({"layer": layer}))
        return {"ssl": str(shutil.copy(Path(ssl_dir) / SSL_FILE, folder / SSL_FILE)),
                "config": str(folder / "config.json")}

    return log_pyfunc(SSLPyfunc, "ssl", write, EXAMPLE, PACKAGES,
                      {"sample_rate": RATE, "layer": layer}, params={"layer": -1})


def log_anonymizer(system: str, knnvc: KnnVCConfig, ssl_dir: Path, vocoder_dir: Path,
                   seed: int) -> str:
    """Log kNN-VC `system` (the encoder, the matching sets, the HiFi-GAN if it has one, its
    config) as the pyfunc `anonymizer-<system>` in the active run; its model URI."""
    def write(folder: Path) -> dict[str, str]:
        config = {key: (list(value) if isinstance(value, tuple) else value)
                  for key, value in asdict(knnvc).items()}
        (folder / "config.json").write_text(json.dumps({"system": system, "knnvc": config}))
        vocoder = folder / "vocoder"
        vocoder.mkdir()
        for name in (MATCHING_SETS, VOCODER_FILE):      # no weights for Griffin-Lim
            if (Path(vocoder_dir) / name).is_file():
                shutil.copy(Path(vocoder_dir) / name, vocoder / name)
        return {"ssl": str(shutil.copy(Path(ssl_dir) / SSL_FILE, folder / SSL_FILE)),
                "vocoder": str(vocoder), "config": str(folder / "config.json")}

    return log_pyfunc(AnonymizerPyfunc, f"anonymizer-{system}", write, EXAMPLE, PACKAGES,
                      {"sample_rate": RATE, "system": system}, params={"seed": seed})
