"""The SSL encoder and the anonymizers (kNN-VC, the cascade, the admixture) as MLflow pyfunc
models.

    ssl = mlflow.pyfunc.load_model("models:/voxflow-ssl@candidate")
    features = ssl.predict(wave)              # (samples,) float32 16 kHz -> (frames, dim)
    anonymizer = mlflow.pyfunc.load_model("models:/voxflow-anonymizer-knnvc@candidate")
    anonymized = anonymizer.predict(wave, params={"seed": 7})   # (samples',) float32 16 kHz
    mixed = mlflow.pyfunc.load_model("models:/voxflow-anonymizer-admixture@candidate")
    anonymized = mixed.predict(wave, params={"seed": 7, "p": 0.325})

The encoder gives the layer the anonymization DAG chose (its metadata's `layer`; `params=
{"layer": n}` another). An anonymizer draws everything (target speaker, speed, noise; the
cascade's voice; the admixture's system) from `seed`: the same seed, the same output. The
admixture's `p` defaults to the one it was registered with. All take 16 kHz mono audio. The
model folders carry the voxflow package, so loading needs the pinned requirements only.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np

from voxflow.anonymization.anonymizers import (MATCHING_SETS, Admixture,
                                               load_conversion_anonymizer,
                                               load_knnvc_anonymizer)
from voxflow.anonymization.asr import MODEL_FILE as ASR_FILE
from voxflow.anonymization.audio import RATE
from voxflow.anonymization.cascade import load_cascade
from voxflow.anonymization.conversion import CONVERTER_FILE
from voxflow.anonymization.knnvc import KnnVCConfig
from voxflow.anonymization.ssl import SSL_FILE, features, load_encoder
from voxflow.anonymization.vocoder import VOCODER_FILE
from voxflow.mlms.data import LEXICON, SPEC
from voxflow.pyfunc import log_pyfunc
from voxflow.stage_io import parse

PACKAGES = ("numpy", "torch", "torchaudio", "mlflow", "pandas", "scipy", "soundfile",
            "rapidfuzz", "pysptk", "pyworld")
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
    """predict: (samples,) 16 kHz -> (samples',) 16 kHz anonymized, drawn from params' seed (an
    admixture's share of the cascade from params' p)."""

    def load_context(self, context):
        config = json.loads(Path(context.artifacts["config"]).read_text())
        parts = {}
        if "knnvc" in config:
            parts["knnvc"] = load_knnvc_anonymizer(
                Path(context.artifacts["ssl"]), Path(context.artifacts["vocoder"]),
                parse(KnnVCConfig, config["knnvc"], "knnvc config"))
        if "conversion" in config:
            parts["conversion"] = load_conversion_anonymizer(
                Path(context.artifacts["ssl"]), Path(context.artifacts["vocoder"]),
                Path(context.artifacts["converter"]), config["conversion"]["target"])
        if "cascade" in config:
            voice = Path(context.artifacts["voice"])
            whisper = context.artifacts.get("whisper")
            parts["cascade"] = load_cascade(
                Path(context.artifacts["asr"]), *(voice / name for name in VOICE_FILES),
                config["cascade"]["postfilter"], whisper and Path(whisper))
        self.parts, self.p = parts, config.get("p")

    def anonymizer(self, p: float | None = None):
        """The `voxflow.anonymization.anonymizers` Anonymizer it is (an admixture's at `p`, or
        at the p it was registered with)."""
        if self.p is None:
            return next(iter(self.parts.values()))
        return Admixture(self.parts["cascade"], self.parts["knnvc"],
                         self.p if p is None else float(p))

    def predict(self, context, model_input, params: dict | None = None) -> np.ndarray:
        params = params or {}
        return self.anonymizer(params.get("p")).anonymize(
            _wave(model_input), RATE, np.random.default_rng(int(params.get("seed", 0))))


# the cascade's voice in the model folder: load_cascade's files after the recognizer
VOICE_FILES = ("acoustic.pt", "duration.pt", "linguistic", "world.json")


@dataclass(frozen=True)
class CascadeFiles:
    """What the cascade is made of: the recognizer's folder (anon-asr), the MLMS voice's files
    (as `voxflow.anonymization.cascade.load_cascade` takes them), its post-filter and the
    Whisper checkpoint that transcribes instead of anon-asr's recognizer, if any."""
    asr_dir: Path
    acoustic: Path
    duration: Path
    linguistic_dir: Path
    world_json: Path
    postfilter: bool
    whisper: Path | None = None

def log_ssl(ssl_dir: Path, layer: int) -> str:
    """Log the encoder of `ssl_dir` as the pyfunc `ssl` in the active run; its model URI."""
    def write(folder: Path) -> dict[str, str]:
        (folder / "config.json").write_text(json.dumps({"layer": layer}))
        return {"ssl": str(shutil.copy(Path(ssl_dir) / SSL_FILE, folder / SSL_FILE)),
                "config": str(folder / "config.json")}

    return log_pyfunc(SSLPyfunc, "ssl", write, EXAMPLE, PACKAGES,
                      {"sample_rate": RATE, "layer": layer}, params={"layer": -1})


def log_anonymizer(system: str, seed: int, knnvc: KnnVCConfig | None = None,
                   ssl_dir: Path | None = None, vocoder_dir: Path | None = None,
                   cascade: CascadeFiles | None = None, p: float | None = None,
                   conversion: tuple[Path, str] | None = None) -> str:
    """Log the anonymizer `system` as the pyfunc `anonymizer-<system>` in the active run; its
    model URI. A kNN-VC system takes `knnvc` with the encoder and the matching sets (and the
    HiFi-GAN if it has one) of `ssl_dir` and `vocoder_dir`; a conversion variant takes
    `conversion` (its converter's folder and target speaker) with the same two folders; the
    cascade takes `cascade`; the admixture takes kNN-VC's and the cascade's, and its `p`."""
    def write(folder: Path) -> dict[str, str]:
        config, artifacts = {"system": system}, {}
        if knnvc is not None:
            config["knnvc"] = {key: (list(value) if isinstance(value, tuple) else value)
                               for key, value in asdict(knnvc).items()}
        if conversion is not None:
            config["conversion"] = {"target": conversion[1]}
            artifacts["converter"] = str(shutil.copy(Path(conversion[0]) / CONVERTER_FILE,
                                                     folder / CONVERTER_FILE))
        if knnvc is not None or conversion is not None:
            vocoder = folder / "vocoder"
            vocoder.mkdir()
            for name in (MATCHING_SETS, VOCODER_FILE):      # no weights for Griffin-Lim
                if (Path(vocoder_dir) / name).is_file():
                    shutil.copy(Path(vocoder_dir) / name, vocoder / name)
            artifacts |= {"ssl": str(shutil.copy(Path(ssl_dir) / SSL_FILE, folder / SSL_FILE)),
                          "vocoder": str(vocoder)}
        if cascade is not None:
            config["cascade"] = {"postfilter": cascade.postfilter}
            voice = folder / "voice"
            acoustic, duration, linguistic, world = (voice / name for name in VOICE_FILES)
            linguistic.mkdir(parents=True)
            for source, dest in ((cascade.acoustic, acoustic), (cascade.duration, duration),
                                 (cascade.world_json, world),
                                 *((Path(cascade.linguistic_dir) / name, linguistic / name)
                                   for name in (SPEC, LEXICON))):
                shutil.copy(source, dest)
            artifacts |= {"asr": str(shutil.copy(Path(cascade.asr_dir) / ASR_FILE,
                                                 folder / ASR_FILE)),
                          "voice": str(voice)}
            if cascade.whisper is not None:
                artifacts["whisper"] = str(shutil.copy(cascade.whisper, folder / "whisper.pt"))
        if p is not None:
            config["p"] = p
        (folder / "config.json").write_text(json.dumps(config))
        return {**artifacts, "config": str(folder / "config.json")}

    params = {"seed": seed} if p is None else {"seed": seed, "p": p}
    whisper = cascade is not None and cascade.whisper is not None
    packages = (*PACKAGES, "openai-whisper") if whisper else PACKAGES
    return log_pyfunc(AnonymizerPyfunc, f"anonymizer-{system}", write, EXAMPLE, packages,
                      {"sample_rate": RATE, "system": system}, params=params)
