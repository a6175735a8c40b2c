"""The enhancement data: the log-mels of every mixture of a mixture table (a feature cache) and
the training batches that pair them with the target talker's mouth crops.

`extract_features` caches, per mixture (`voxflow.avse.mixing.mix` rebuilds it from its row),
`<split>/<mixture_id>.noisy.npy` and `.clean.npy`, (frames, n_mels) float32 natural-log mel
magnitudes of the mixture and of the scaled target inside it (the reference the enhanced speech
is scored against), frames = samples // hop_length. `EnhancementSet` reads a split of that cache
with the crops cache of `voxflow.avse.crops`: a 3 s GRID sentence is 300 log-mel frames at a
10 ms hop and 75 video frames at 25 fps, one video frame per 4 log-mel frames
(`crops.mel_frames_per_video_frame`); both are cut to the common whole number of video frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from voxflow.avse.crops import mel_frames_per_video_frame
from voxflow.avse.mixing import BadAudio, CorpusRoots, mix, read_mixture_table
from voxflow.features.cache import Computed, Rejected, Utterance, cache_features, read_index
from voxflow.features.logmel import LogMel, LogMelConfig

INDEX_COLUMNS = ["utt_id", "split", "condition", "snr_db", "target", "frames", "noisy_path",
                 "clean_path"]


def extract_features(mixtures: Path, out_dir: Path, config: LogMelConfig) -> pd.DataFrame:
    """Noisy and clean log-mels of every mixture of the table `mixtures` into `out_dir`;
    returns the index (INDEX_COLUMNS, `utt_id` the mixture_id)."""
    table, roots = read_mixture_table(Path(mixtures))
    if not (table["sample_rate"] == config.sample_rate).all():
        raise ValueError(f"{mixtures}: mixtures at {sorted(set(table['sample_rate']))} Hz, the "
                         f"log-mel expects {config.sample_rate} Hz")
    rows = {row["mixture_id"]: row for row in table.to_dict("records")}
    jobs = [Utterance(mixture_id, str(roots.grid / row["target_path"]),
                      fields={"split": row["split"], "condition": row["condition"],
                              "snr_db": row["snr_db"], "target": row["target"]},
                      arrays={"noisy_path": f"{row['split']}/{mixture_id}.noisy.npy",
                              "clean_path": f"{row['split']}/{mixture_id}.clean.npy"})
            for mixture_id, row in rows.items()]
    # in this process, on torch's threads, as voxflow.vocoder.data does (forked workers using
    # torch's threads hang)
    return cache_features(jobs, partial(_mixture_log_mels, rows=rows, roots=roots,
                                        log_mel=LogMel(config)),
                          Path(out_dir), INDEX_COLUMNS, desc="mixture log-mels", workers=1)


def _mixture_log_mels(utterance: Utterance, rows: dict, roots: CorpusRoots,
                      log_mel: LogMel) -> Computed:
    try:
        mixture = mix(rows[utterance.utt_id], roots)
    except BadAudio as err:
        raise Rejected(str(err)) from err
    with torch.no_grad():
        noisy, clean = log_mel(torch.from_numpy(np.stack([mixture.mixture, mixture.target])))
    return {"noisy_path": noisy.numpy(), "clean_path": clean.numpy()}, {"frames": len(noisy)}


@dataclass(frozen=True)
class Statistics:
    """Per-bin mean and standard deviation of the noisy training log-mels, (n_mels,) each,
    which normalise the model's input and target alike, and the mean and standard deviation of
    the training crops' pixels (0..1)."""
    mel_mean: np.ndarray
    mel_std: np.ndarray
    video_mean: float
    video_std: float

    def as_dict(self) -> dict:
        return {"mel_mean": self.mel_mean.tolist(), "mel_std": self.mel_std.tolist(),
                "video_mean": self.video_mean, "video_std": self.video_std}

    @classmethod
    def from_dict(cls, d: dict) -> Statistics:
        return cls(np.asarray(d["mel_mean"], np.float32), np.asarray(d["mel_std"], np.float32),
                   float(d["video_mean"]), float(d["video_std"]))


class EnhancementSet:
    """The mixtures of one split with their targets' crops, in memory: `batch(indices)` ->
    {"noisy", "clean": (batch, frames, n_mels), "video": (batch, frames // 4, 80, 80) float,
    "lengths": (batch,) log-mel frames}, zero-padded to the longest, unnormalised (the model
    normalises with `Statistics`). Mixtures whose target has no crops (rejected video) are
    left out and counted in `missing_video`."""

    def __init__(self, features_dir: Path, crops_dir: Path, split: str):
        index = read_index(Path(features_dir))
        index = index[index["split"] == split].sort_values("utt_id").reset_index(drop=True)
        crops = read_index(Path(crops_dir)).set_index("utt_id")
        has_video = index["target"].isin(crops.index)
        self.missing_video = int((~has_video).sum())
        self.index = index[has_video].reset_index(drop=True)
        if self.index.empty:
            raise ValueError(f"{features_dir}: no {split} mixture with the target's crops in "
                             f"{crops_dir}")
        step = mel_frames_per_video_frame()
        self.noisy, self.clean, self.video = [], [], []
        videos = {}     # target -> its crops, read once: every mixture of a target shares them
        for row in self.index.itertuples():
            if row.target not in videos:
                videos[row.target] = np.load(Path(crops_dir) / crops.loc[row.target,
                                                                          "crops_path"])
            video = videos[row.target]
            frames = min(row.frames // step, len(video))
            self.noisy.append(np.load(Path(features_dir) / row.noisy_path)[:frames * step])
            self.clean.append(np.load(Path(features_dir) / row.clean_path)[:frames * step])
            self.video.append(video[:frames])

    def __len__(self) -> int:
        return len(self.index)

    def statistics(self) -> Statistics:
        """Over every mixture's frames; the pixels of a video count once per mixture that
        shows it, summed per distinct video (concatenating the copies took gigabytes)."""
        frames = np.concatenate(self.noisy).astype(np.float64)
        count = total = squares = 0.0
        shown = self.index.groupby(["target", "frames"]).indices
        for mixtures in shown.values():
            pixels = self.video[mixtures[0]].astype(np.float64) / 255
            count += len(mixtures) * pixels.size
            total += len(mixtures) * pixels.sum()
            squares += len(mixtures) * np.square(pixels).sum()
        mean = total / count
        std = np.sqrt(max(squares / count - mean ** 2, 0.0))
        return Statistics(frames.mean(0).astype(np.float32),
                          np.maximum(frames.std(0), 1e-3).astype(np.float32),
                          float(mean), float(max(std, 1e-3)))

    def batch(self, indices, spans=None) -> dict[str, torch.Tensor]:
        """The mixtures `indices`, whole, or of each the video frames [start, end) of `spans`
        (and the 4 times as many log-mel frames)."""
        step = mel_frames_per_video_frame()
        spans = spans or [(0, len(self.video[i])) for i in indices]
        noisy = [self.noisy[i][a * step:b * step] for i, (a, b) in zip(indices, spans)]
        clean = [self.clean[i][a * step:b * step] for i, (a, b) in zip(indices, spans)]
        video = [self.video[i][a:b] for i, (a, b) in zip(indices, spans)]
        longest = max(len(v) for v in video)

        def padded(arrays, frames):
            return torch.from_numpy(np.stack([np.pad(a, [(0, frames - len(a))]
                                                     + [(0, 0)] * (a.ndim - 1)) for a in arrays]))

        return {"noisy": padded(noisy, longest * step), "clean": padded(clean, longest * step),
                "video": padded(video, longest).float() / 255,
                "lengths": torch.tensor([len(n) for n in noisy])}

    def sampler(self, batch_size: int, segment_video_frames: int = 0):
        """`sampler(generator)` -> a batch of `batch_size` mixtures drawn without replacement
        (with it when the split is smaller), the loop's `sample_batch`; with
        `segment_video_frames`, a random segment of that many video frames of each (the whole
        of a shorter one)."""
        def sample(generator: torch.Generator) -> dict[str, torch.Tensor]:
            if batch_size <= len(self):
                picks = torch.randperm(len(self), generator=generator)[:batch_size].tolist()
            else:
                picks = torch.randint(len(self), (batch_size,), generator=generator).tolist()
            if not segment_video_frames:
                return self.batch(picks)
            spans = []
            for i, u in zip(picks, torch.rand(len(picks), generator=generator).tolist()):
                length = min(segment_video_frames, len(self.video[i]))
                start = int(u * (len(self.video[i]) - length + 1))
                spans.append((start, start + length))
            return self.batch(picks, spans)
        return sample
