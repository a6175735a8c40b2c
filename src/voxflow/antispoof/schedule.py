"""The two-stage learning-rate schedule of the Siamese spoofing paper (section 4, eq. 4-5): a
linear warm-up per iteration, then an inverse-square-root decay per iteration (the Transformer's
"Noam" shape).

    lr = alpha min((it_steps + 1) / gamma, 1 / sqrt(it_steps + 1)),   gamma = N sqrt(2N)

with N the number of batches in one epoch. The two branches meet at it_steps + 1 = 2^(1/3) N,
about 1.26 epochs, the "approximately one and a half epochs" of warm-up the paper reports; the
peak learning rate is then alpha / sqrt(2^(1/3) N). alpha, not given in the paper, is the
optimizer's own learning rate.
"""
from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_gamma(batches_per_epoch: int) -> float:
    """Eq. 5: gamma = N sqrt(2N)."""
    if batches_per_epoch < 1:
        raise ValueError(f"batches_per_epoch must be positive, got {batches_per_epoch}")
    return batches_per_epoch * math.sqrt(2 * batches_per_epoch)


def warmup_decay_factor(step: int, batches_per_epoch: int) -> float:
    """Eq. 4 without alpha: the learning rate of iteration `step` (0-based) over alpha."""
    return min((step + 1) / warmup_gamma(batches_per_epoch), 1 / math.sqrt(step + 1))


def warmup_decay_schedule(optimizer: torch.optim.Optimizer, batches_per_epoch: int) -> LambdaLR:
    """LambdaLR whose learning rate is eq. 4 with alpha = each parameter group's initial lr.
    Call `scheduler.step()` after every optimizer step (the schedule is per iteration): the
    k-th optimizer step (0-based) then runs at alpha * warmup_decay_factor(k, N)."""
    return LambdaLR(optimizer, lambda step: warmup_decay_factor(step, batches_per_epoch))
