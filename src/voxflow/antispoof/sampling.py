"""Minibatches and pairs of the Siamese spoofing paper's representation learning (section 4):
minibatches of 64 with half bona fide and half spoof utterances, and 50 random pairs drawn from
each minibatch for the contrastive loss. Everything is drawn from seeded torch.Generators, so a
seed and an epoch give the same batches and pairs on any machine. """
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Sampler

from voxflow.antispoof.losses import DIFFERENT, SAME
from voxflow.antispoof.models import BONAFIDE, SPOOF


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A torch.Generator for (seed, epoch), independent across both (not seed + epoch)."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class BalancedBatchSampler(Sampler[list[int]]):
    """Batch sampler: lists of `batch_size` dataset indices, half bona fide and half spoof, in
    random order (a DataLoader's `batch_sampler`).

    labels: one per utterance, BONAFIDE (1) or SPOOF (0). Each class is read through its own
    random permutation, drawn anew whenever it is used up, so within an epoch the minority class
    (bona fide: 2,580 of 25,380 ASVspoof 2019 LA training utterances) is repeated and every
    utterance of a class is seen equally often (to within one). An epoch is
    `batches_per_epoch` batches, by default len(labels) // batch_size, the number of an ordinary
    pass (the N of the learning-rate schedule). `set_epoch` selects the epoch's draw."""

    def __init__(self, labels: Sequence[int] | torch.Tensor, batch_size: int = 64, seed: int = 0,
                 batches_per_epoch: int | None = None):
        labels = torch.as_tensor(labels)
        if batch_size < 2 or batch_size % 2:
            raise ValueError(f"batch_size must be even and at least 2, got {batch_size}")
        if bool(((labels != BONAFIDE) & (labels != SPOOF)).any()):
            raise ValueError(f"labels must be {BONAFIDE} (bona fide) or {SPOOF} (spoof)")
        self.classes = [torch.nonzero(labels == c).flatten() for c in (BONAFIDE, SPOOF)]
        if any(len(members) == 0 for members in self.classes):
            raise ValueError("balanced batches need at least one bona fide and one spoof label")
        self.batch_size = batch_size
        self.seed = seed
        self.batches_per_epoch = batches_per_epoch or max(1, len(labels) // batch_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        generator = epoch_generator(self.seed, self.epoch)
        half = self.batch_size // 2
        streams = [_class_stream(members, generator) for members in self.classes]
        for _ in range(self.batches_per_epoch):
            batch = torch.cat([torch.stack([next(stream) for _ in range(half)])
                               for stream in streams])
            yield batch[torch.randperm(self.batch_size, generator=generator)].tolist()


def _class_stream(members: torch.Tensor, generator: torch.Generator) -> Iterator[torch.Tensor]:
    while True:
        yield from members[torch.randperm(len(members), generator=generator)]


class Pairs(NamedTuple):
    """Positions in the minibatch of each pair's two members (pairs,), and the pair label Y of
    eq. 3 (pairs,): 0 same class, 1 different classes."""
    first: torch.Tensor
    second: torch.Tensor
    label: torch.Tensor


def sample_pairs(labels: torch.Tensor, n_pairs: int = 50,
                 generator: torch.Generator | None = None) -> Pairs:
    """labels (batch,) of one minibatch -> `n_pairs` distinct unordered pairs of distinct
    positions, uniformly among the batch * (batch - 1) / 2 possible (50 of 2,016 at the
    paper's batch of 64), with their eq. 3 labels."""
    batch = len(labels)
    candidates = torch.triu_indices(batch, batch, offset=1)
    if n_pairs > candidates.shape[1]:
        raise ValueError(f"{n_pairs} distinct pairs asked of a batch of {batch}")
    chosen = candidates[:, torch.randperm(candidates.shape[1], generator=generator)[:n_pairs]]
    first, second = chosen[0], chosen[1]
    label = torch.where(labels[first] == labels[second], SAME, DIFFERENT)
    return Pairs(first, second, label)
