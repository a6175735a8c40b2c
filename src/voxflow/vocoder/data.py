"""Vocoder training data: log-mel features of a manifest's utterances, and random aligned
(waveform, log-mel) segments for training steps.

`extract_features` writes, per utterance, `<split>/<utt_id>.mel.npy` (frames x n_mels, float32)
and `<split>/<utt_id>.wav.npy` (frames x hop samples, float32), plus `index.parquet` listing
them. Keeping the waveform beside its features makes every training segment two memory-mapped
slices, with no decoding or resampling in the training loop. An utterance that cannot be read,
has the wrong sample rate or is shorter than one frame is reported in `rejects.csv` and skipped.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from tqdm import tqdm

from voxflow.features.logmel import LogMel, LogMelConfig
from voxflow.ingest.manifest import read_manifest
from voxflow.parallel import progress_disabled

log = logging.getLogger(__name__)


def extract_features(manifest: Path, out_dir: Path, config: LogMelConfig = LogMelConfig(),
                     splits: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Features of the manifest's utterances (of `splits`, default all) into `out_dir`;
    returns the index (utt_id, speaker, split, frames, mel_path, wav_path relative to out_dir)."""
    table, root = read_manifest(Path(manifest))
    utterances = table.select(["utt_id", "speaker", "split", "audio_path"]).to_pandas()
    if splits is not None:
        unknown = set(splits) - set(utterances["split"])
        if unknown:
            raise ValueError(f"{manifest}: no utterance in split(s) {', '.join(sorted(unknown))}"
                             f"; it has {', '.join(sorted(set(utterances['split'])))}")
        utterances = utterances[utterances["split"].isin(splits)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_mel = LogMel(config)
    rows, rejects = [], []
    quiet = progress_disabled()
    for u in tqdm(utterances.itertuples(), total=len(utterances), desc="log-mel", unit="utt",
                  leave=False, disable=quiet):
        path = root / u.audio_path
        try:
            audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as err:
            rejects.append((u.utt_id, str(path), f"cannot read audio ({err})"))
            continue
        frames = audio.shape[0] // config.hop_length
        if rate != config.sample_rate or frames == 0:
            reason = (f"sample rate {rate} Hz, expected {config.sample_rate}" if rate !=
                      config.sample_rate else "shorter than one frame")
            rejects.append((u.utt_id, str(path), reason))
            continue
        waveform = audio.mean(axis=1)[:frames * config.hop_length]
        with torch.no_grad():
            mel = log_mel(torch.from_numpy(waveform)[None])[0].numpy()
        stem = Path(u.split) / u.utt_id
        (out_dir / u.split).mkdir(exist_ok=True)
        np.save(out_dir / f"{stem}.mel.npy", mel)
        np.save(out_dir / f"{stem}.wav.npy", waveform)
        rows.append((u.utt_id, u.speaker, u.split, frames, f"{stem}.mel.npy", f"{stem}.wav.npy"))
    index = pd.DataFrame(rows, columns=["utt_id", "speaker", "split", "frames", "mel_path",
                                        "wav_path"])
    index.to_parquet(out_dir / "index.parquet", index=False)
    pd.DataFrame(rejects, columns=["utt_id", "path", "reason"]).to_csv(out_dir / "rejects.csv",
                                                                       index=False)
    for utt_id, path, reason in rejects:
        log.warning("skipped %s (%s): %s", utt_id, path, reason)
    log.info("log-mel features of %d utterances written to %s (%d skipped)", len(index),
             out_dir, len(rejects))
    return index


class SegmentSampler:
    """Random aligned segments of `segment_frames` frames: `sampler(generator)` ->
    {"audio": (batch, segment_frames * hop), "mel": (batch, segment_frames, n_mels)}.

    Utterances are drawn with probability proportional to their length, offsets uniformly; all
    randomness comes from the generator, so a training loop that checkpoints it resumes on the
    same batches. Utterances shorter than a segment are left out (an error if none remains)."""

    def __init__(self, features_dir: Path, split: str, batch_size: int, segment_frames: int,
                 hop_length: int, speakers: tuple[str, ...] | None = None):
        features_dir = Path(features_dir)
        index = pd.read_parquet(features_dir / "index.parquet")
        index = index[(index["split"] == split) & (index["frames"] >= segment_frames)]
        if speakers is not None:
            index = index[index["speaker"].isin(speakers)]
        if index.empty:
            raise ValueError(f"{features_dir}: no {split} utterance of at least {segment_frames} "
                             f"frames{' for speakers ' + ', '.join(speakers) if speakers else ''}")
        self.batch_size, self.segment_frames, self.hop = batch_size, segment_frames, hop_length
        self.mels = [np.load(features_dir / p, mmap_mode="r") for p in index["mel_path"]]
        self.waves = [np.load(features_dir / p, mmap_mode="r") for p in index["wav_path"]]
        weights = torch.tensor(index["frames"].to_numpy() - segment_frames + 1, dtype=torch.float64)
        self.weights = weights / weights.sum()

    def mel_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-bin mean and standard deviation (n_mels,) of the log-mels of every frame the
        sampler draws from: the training set's normalization of the conditioner's input."""
        frames = np.concatenate(self.mels).astype(np.float64)
        return (torch.from_numpy(frames.mean(axis=0)).float(),
                torch.from_numpy(frames.std(axis=0)).float())

    def __call__(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        picks = torch.multinomial(self.weights, self.batch_size, replacement=True,
                                  generator=generator)
        audio, mel = [], []
        for i in picks.tolist():
            room = len(self.mels[i]) - self.segment_frames + 1
            start = int(torch.randint(room, (1,), generator=generator))
            mel.append(torch.from_numpy(np.array(self.mels[i][start:start + self.segment_frames])))
            audio.append(torch.from_numpy(np.array(
                self.waves[i][start * self.hop:(start + self.segment_frames) * self.hop])))
        return {"audio": torch.stack(audio), "mel": torch.stack(mel)}
