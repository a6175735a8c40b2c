"""An AV-SE system as an MLflow pyfunc model: a noisy 16 kHz waveform and the talker's mouth
crops in, the enhanced waveform out.

`log_enhancer(model, features)` logs it in the active run; registered and promoted
(`voxflow.registry`), downstream users load it as `models:/voxflow-avse@champion`:

    model = mlflow.pyfunc.load_model("models:/voxflow-avse@champion")
    enhanced = model.predict({"audio": noisy, "crops": crops})    # (samples,) float32

`audio` is (samples,) float32 at the model's sample rate (metadata `features`), `crops`
(frames, 80, 80) uint8 mouth crops at 25 fps from `voxflow.avse.crops` (`video_crops` of the
talker's video; an audio-only system ignores them, any array will do). Both are cut to the
common length, a whole number of video frames (640 samples at 16 kHz), so the output is that
long. The model folder carries the voxflow package, so loading needs torch, torchaudio, numpy
and mlflow only (not dlib: the crops come in ready).
"""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import torch

from voxflow.avse.data import Statistics
from voxflow.avse.models import MEL_FRAMES_PER_VIDEO_FRAME, AVSEConfig
from voxflow.avse.training import Enhancer
from voxflow.avse.waveform import MelGainResynthesis
from voxflow.features.logmel import LogMel, LogMelConfig
from voxflow.pyfunc import log_pyfunc

CONFIG, WEIGHTS = "config", "weights"


class EnhancerPyfunc(mlflow.pyfunc.PythonModel):
    """predict: {"audio": (samples,) float32, "crops": (frames, 80, 80) uint8} -> enhanced
    (samples',) float32, samples' = the common whole number of video frames in samples."""

    def load_context(self, context):
        saved = json.loads(Path(context.artifacts[CONFIG]).read_text())
        self.features = LogMelConfig(**saved["features"])
        self.model = Enhancer(AVSEConfig.from_dict(saved["model"]),
                              Statistics.from_dict(saved["statistics"]))
        self.model.load_state_dict(torch.load(context.artifacts[WEIGHTS], map_location="cpu",
                                              weights_only=True))
        self.model.eval()
        self.log_mel = LogMel(self.features)
        self.resynthesis = MelGainResynthesis(self.features, saved["max_gain"])

    def predict(self, context, model_input: dict, params: dict | None = None) -> np.ndarray:
        audio, crops = self._check(model_input)
        samples_per_frame = self.features.hop_length * MEL_FRAMES_PER_VIDEO_FRAME
        frames = min(len(audio) // samples_per_frame, len(crops))
        if frames == 0:
            raise ValueError(f"audio of {len(audio)} samples and {len(crops)} crops: at least "
                             f"one video frame ({samples_per_frame} samples) of each is needed")
        noisy = torch.from_numpy(audio[:frames * samples_per_frame])[None]
        video = torch.from_numpy(crops[:frames]).float()[None] / 255
        with torch.no_grad():
            enhanced = self.model.enhance(self.log_mel(noisy), video)
            return self.resynthesis(noisy, enhanced)[0].numpy().astype(np.float32)

    def _check(self, model_input: dict) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(model_input, dict) or {"audio", "crops"} - set(model_input):
            raise ValueError('expected {"audio": (samples,) float32, "crops": (frames, 80, 80) '
                             'uint8}')
        audio, crops = np.asarray(model_input["audio"]), np.asarray(model_input["crops"])
        side = self.model.net.config.n_mels
        if audio.ndim != 1 or audio.dtype != np.float32 or not np.isfinite(audio).all():
            raise ValueError(f"audio: expected a finite (samples,) float32 waveform at "
                             f"{self.features.sample_rate} Hz, got {audio.dtype} {audio.shape}")
        if crops.ndim != 3 or crops.shape[1:] != (side, side) or crops.dtype != np.uint8:
            raise ValueError(f"crops: expected (frames, {side}, {side}) uint8 mouth crops "
                             f"(voxflow.avse.crops), got {crops.dtype} {crops.shape}")
        return audio, crops


def log_enhancer(model: Enhancer, features: LogMelConfig, max_gain: float,
                 name: str = "enhancer") -> str:
    """Log `model` as the pyfunc model `name` in the active MLflow run; returns its URI."""
    def write_artifacts(folder: Path) -> dict[str, str]:
        artifacts = {CONFIG: str(folder / "enhancer.json"), WEIGHTS: str(folder / "model.pt")}
        Path(artifacts[CONFIG]).write_text(json.dumps(
            {"model": model.net.config.to_dict(), "statistics": model.statistics.as_dict(),
             "features": features.as_dict(), "max_gain": max_gain}, indent=2))
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()},
                   artifacts[WEIGHTS])
        return artifacts

    # a 0.2 s example (5 video frames): a quiet 220 Hz tone and grey crops
    samples = 5 * features.hop_length * MEL_FRAMES_PER_VIDEO_FRAME
    seconds = np.arange(samples) / features.sample_rate
    side = model.net.config.n_mels
    example = {"audio": (0.1 * np.sin(2 * np.pi * 220 * seconds)).astype(np.float32),
               "crops": np.full((5, side, side), 128, np.uint8)}
    return log_pyfunc(EnhancerPyfunc, name, write_artifacts, example,
                      packages=("torch", "torchaudio", "numpy", "mlflow"),
                      metadata={"features": features.as_dict()})
