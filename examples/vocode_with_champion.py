"""Vocode a log-mel (or a wav's log-mel) with the champion Universal Parallel WaveNet student.

    python examples/vocode_with_champion.py --wav speech.wav --out vocoded.wav
    python examples/vocode_with_champion.py --mel mel.npy --out vocoded.wav --seed 3

--mel takes a (frames, 80) float32 natural-log mel as voxflow's LogMel computes it; --wav
computes it with the LogMelConfig stored in the model (mono, resampled to its rate if needed).
"""
from __future__ import annotations

import argparse

import mlflow
import numpy as np
import soundfile as sf
import torch
import torchaudio

from voxflow.features.logmel import LogMel, LogMelConfig
from voxflow.tracking import tracking_uri

MODEL_URI = "models:/voxflow-upw-vocoder@champion"


def wav_log_mel(path: str, config: LogMelConfig) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    audio = torch.from_numpy(audio.mean(axis=1))
    if rate != config.sample_rate:
        audio = torchaudio.functional.resample(audio, rate, config.sample_rate)
    return LogMel(config)(audio[None])[0].numpy().astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--mel", help="(frames, 80) float32 log-mel, .npy")
    source.add_argument("--wav", help="audio file to analyse and resynthesize")
    parser.add_argument("--out", required=True, help="output wav")
    parser.add_argument("--seed", type=int, default=0, help="seed of the student's noise")
    parser.add_argument("--model", default=MODEL_URI)
    parser.add_argument("--tracking-uri", default=tracking_uri(),
                        help="MLflow store (default: MLFLOW_TRACKING_URI or voxflow's mlflow/)")
    args = parser.parse_args(argv)

    mlflow.set_tracking_uri(args.tracking_uri)
    model = mlflow.pyfunc.load_model(args.model)
    config = LogMelConfig(**model.metadata.metadata["mel_config"])
    mel = (np.load(args.mel).astype(np.float32) if args.mel
           else wav_log_mel(args.wav, config))
    audio = model.predict(mel, params={"seed": args.seed})
    sf.write(args.out, np.clip(audio, -1.0, 1.0), config.sample_rate, subtype="PCM_16")
    print(f"{args.out}: {len(audio) / config.sample_rate:.2f} s from {len(mel)} frames "
          f"of {args.model}")


if __name__ == "__main__":
    main()
