"""The Parallel WaveNet student as an MLflow pyfunc model: log-mel in, 24 kHz waveform out.

`log_vocoder(student, config, mel_config)` logs it in the active run; registered and promoted
(`voxflow.registry`), downstream users load it as `models:/voxflow-upw-vocoder@champion`:

    model = mlflow.pyfunc.load_model("models:/voxflow-upw-vocoder@champion")
    audio = model.predict(log_mel, params={"seed": 0})   # (frames, 80) float32 -> (frames * 300,)

The model folder carries the voxflow package (`code_paths`), so loading needs torch, torchaudio,
numpy and mlflow only. The input is the natural-log mel of `voxflow.features.logmel.LogMel` with the
LogMelConfig stored in the model's metadata (`model.metadata.metadata["mel_config"]`). The
utterance embedding is e = 0 (the prior's centroid, the UPW paper's choice at inference): no
reference waveform. The output is a function of the input and params {"seed": int} (default 0),
which seeds the student's logistic noise (for a given device: CPU and CUDA draw different noise).
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import mlflow
import numpy as np
import torch
from torch import nn

from voxflow.pyfunc import log_pyfunc
from voxflow.vocoder.models import ParallelWaveNetStudent, VocoderConfig

CONFIG, WEIGHTS = "config", "weights"


class VocoderPyfunc(mlflow.pyfunc.PythonModel):
    """predict: log-mel (frames, n_mels) or (batch, frames, n_mels) float32 -> waveform
    (frames * hop_length,) or (batch, frames * hop_length) float32."""

    def load_context(self, context):
        saved = json.loads(Path(context.artifacts[CONFIG]).read_text())
        self.config = VocoderConfig.from_dict(saved["vocoder"])
        self.mel_config = saved["mel"]
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        student = ParallelWaveNetStudent(self.config)
        student.load_state_dict(torch.load(context.artifacts[WEIGHTS], map_location="cpu",
                                           weights_only=True))
        self.student = student.to(self.device).eval()

    def predict(self, context, model_input: np.ndarray, params: dict | None = None
                ) -> np.ndarray:
        mel = self._check(np.asarray(model_input))
        seed = int((params or {}).get("seed", 0))
        generator = torch.Generator(self.device).manual_seed(seed)
        batch = torch.from_numpy(mel if mel.ndim == 3 else mel[None]).to(self.device)
        audio = self.student.synthesize(batch, generator=generator).cpu().numpy()
        return audio.astype(np.float32) if mel.ndim == 3 else audio[0].astype(np.float32)

    def _check(self, mel: np.ndarray) -> np.ndarray:
        n_mels = self.config.conditioning.n_mels
        if mel.ndim not in (2, 3) or mel.shape[-1] != n_mels or mel.shape[-2] == 0:
            raise ValueError(f"expected a log-mel array of shape (frames, {n_mels}) or (batch, "
                             f"frames, {n_mels}) with frames >= 1, got shape {mel.shape}")
        if mel.dtype != np.float32:
            raise ValueError(f"expected a float32 log-mel, got {mel.dtype} "
                             "(cast with .astype(np.float32))")
        if not np.isfinite(mel).all():
            raise ValueError("the log-mel holds NaN or infinite values; expected natural-log "
                             "mel magnitudes as voxflow's LogMel computes them")
        return mel


def log_vocoder(student: nn.Module, config: VocoderConfig, mel_config, name: str = "vocoder"
                ) -> str:
    """Log `student` (a ParallelWaveNetStudent, its conditioning networks included) as a pyfunc
    model `name` in the active MLflow run; returns its model URI (`models:/m-...`)."""
    from voxflow.features.logmel import LogMel

    if (mel_config.n_mels, mel_config.hop_length) != (config.conditioning.n_mels,
                                                      config.conditioning.hop_length):
        raise ValueError(f"mel config ({mel_config.n_mels} mels, hop {mel_config.hop_length}) "
                         f"does not match the vocoder's conditioning ({config.conditioning})")
    student = getattr(student, "module", student)           # a DDP-wrapped student

    def write_artifacts(folder: Path) -> dict[str, str]:
        artifacts = {CONFIG: str(folder / "vocoder.json"), WEIGHTS: str(folder / "student.pt")}
        Path(artifacts[CONFIG]).write_text(json.dumps(
            {"vocoder": asdict(config), "mel": mel_config.as_dict()}, indent=2))
        torch.save({k: v.detach().cpu() for k, v in student.state_dict().items()},
                   artifacts[WEIGHTS])
        return artifacts

    # a 20-frame example: the log-mel of a quiet 220 Hz tone
    seconds = torch.arange(20 * mel_config.hop_length) / mel_config.sample_rate
    example = LogMel(mel_config)(0.1 * torch.sin(2 * torch.pi * 220 * seconds)[None])[0]
    return log_pyfunc(VocoderPyfunc, name, write_artifacts, example.numpy().astype(np.float32),
                      packages=("torch", "torchaudio", "numpy", "mlflow"),
                      metadata={"mel_config": mel_config.as_dict()}, params={"seed": 0})
