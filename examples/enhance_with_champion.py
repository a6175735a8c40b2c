"""Enhance a noisy recording with the champion audio-visual enhancer and the talker's video.

    python examples/enhance_with_champion.py --wav noisy.wav --video talker.mpg --out clean.wav

The video's mouth crops come from voxflow's front-end (dlib's 68 landmarks, `voxflow.avse.crops`);
the audio is made mono and resampled to the model's rate; both are cut to their common length.
"""
from __future__ import annotations

import argparse

import mlflow
import numpy as np
import soundfile as sf
import torch
import torchaudio

from voxflow.avse.crops import CropConfig, video_crops
from voxflow.tracking import tracking_uri

MODEL_URI = "models:/voxflow-avse@champion"


def read_audio(path: str, sample_rate: int) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    audio = torch.from_numpy(audio.mean(axis=1))
    if rate != sample_rate:
        audio = torchaudio.functional.resample(audio, rate, sample_rate)
    return audio.numpy().astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wav", required=True, help="the noisy recording")
    parser.add_argument("--video", required=True, help="the talker's video (e.g. GRID .mpg)")
    parser.add_argument("--out", required=True, help="output wav")
    parser.add_argument("--model", default=MODEL_URI)
    parser.add_argument("--tracking-uri", default=tracking_uri(),
                        help="MLflow store (default: MLFLOW_TRACKING_URI or voxflow's mlflow/)")
    args = parser.parse_args(argv)

    mlflow.set_tracking_uri(args.tracking_uri)
    model = mlflow.pyfunc.load_model(args.model)
    rate = model.metadata.metadata["features"]["sample_rate"]
    arrays, _ = video_crops(args.video, CropConfig())
    enhanced = model.predict({"audio": read_audio(args.wav, rate),
                              "crops": arrays["crops_path"]})
    sf.write(args.out, np.clip(enhanced, -1.0, 1.0), rate, subtype="PCM_16")
    print(f"{args.out}: {len(enhanced) / rate:.2f} s enhanced by {args.model}")


if __name__ == "__main__":
    main()
