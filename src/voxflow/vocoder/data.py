"""Vocoder training data: log-mel features of a manifest's utterances, and random aligned
(waveform, log-mel) segments for training steps.

`extract_features` caches (`voxflow.features.cache`), per utterance, `<split>/<utt_id>.mel.npy`
(frames x n_mels, float32) and `<split>/<utt_id>.wav.npy` (frames x hop samples, float32), plus
`index.parquet` listing them. Keeping the waveform beside its features makes every training
segment two memory-mapped slices, with no decoding or resampling in the training loop. An
utterance that cannot be read, has the wrong sample rate or is shorter than one frame is
reported in `rejects.csv` and skipped.
"""
from __future__ import annotations

from collections.abc import Collection
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from voxflow.features.cache import (Computed, Rejected, Utterance, cache_features, read_index,
                                    read_mono)
from voxflow.features.logmel import LogMel, LogMelConfig
from voxflow.ingest.manifest import read_manifest

INDEX_COLUMNS = ["utt_id", "speaker", "split", "frames", "mel_path", "wav_path"]


def extract_features(manifest: Path, out_dir: Path, config: LogMelConfig = LogMelConfig(),
                     splits: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Features of the manifest's utterances (of `splits`, default all) into `out_dir`;
    returns the index (INDEX_COLUMNS, the paths relative to out_dir)."""
    table, root = read_manifest(Path(manifest))
    utterances = table.select(["utt_id", "speaker", "split", "audio_path"]).to_pandas()
    if splits is not None:
        unknown = set(splits) - set(utterances["split"])
        if unknown:
            raise ValueError(f"{manifest}: no utterance in split(s) {', '.join(sorted(unknown))}"
                             f"; it has {', '.join(sorted(set(utterances['split'])))}")
        utterances = utterances[utterances["split"].isin(splits)]
    jobs = [Utterance(u.utt_id, str(root / u.audio_path),
                      fields={"speaker": u.speaker, "split": u.split},
                      arrays={"mel_path": f"{u.split}/{u.utt_id}.mel.npy",
                              "wav_path": f"{u.split}/{u.utt_id}.wav.npy"})
            for u in utterances.itertuples()]
    # In this process, on torch's threads: a log-mel on one thread differs in the last bit from
    # one on several (the caches already written would change), and forked workers that use
    # torch's threads hang once this process has used them.
    return cache_features(jobs, partial(_log_mel_features, log_mel=LogMel(config)),
                          Path(out_dir), INDEX_COLUMNS, desc="log-mel features", workers=1)


def _log_mel_features(utterance: Utterance, log_mel: LogMel) -> Computed:
    config = log_mel.config
    waveform = read_mono(utterance.audio_path, config.sample_rate)
    frames = len(waveform) // config.hop_length
    if frames == 0:
        raise Rejected("shorter than one frame")
    waveform = waveform[:frames * config.hop_length]
    with torch.no_grad():
        mel = log_mel(torch.from_numpy(waveform)[None])[0].numpy()
    return {"mel_path": mel, "wav_path": waveform}, {"frames": frames}


class SegmentSampler:
    """Random aligned segments of `segment_frames` frames: `sampler(generator)` ->
    {"audio": (batch, segment_frames * hop), "mel": (batch, segment_frames, n_mels)}.

    Utterances are drawn with probability proportional to their length, offsets uniformly; all
    randomness comes from the generator, so a training loop that checkpoints it resumes on the
    same batches. Utterances shorter than a segment, and those in `exclude` (held out), are left
    out (an error if none remains)."""

    def __init__(self, features_dir: Path, split: str, batch_size: int, segment_frames: int,
                 hop_length: int, speakers: tuple[str, ...] | None = None,
                 exclude: Collection[str] = ()):
        features_dir = Path(features_dir)
        index = read_index(features_dir)
        index = index[(index["split"] == split) & (index["frames"] >= segment_frames)
                      & ~index["utt_id"].isin(list(exclude))]
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

    def audio_rms(self) -> float:
        """The RMS of every sample the sampler draws from: the level a student starts at."""
        total = sum(float(np.square(w, dtype=np.float64).sum()) for w in self.waves)
        return (total / sum(w.size for w in self.waves)) ** 0.5

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
