"""The MLMS training objective (paper 002, section 3): the mean squared error between predicted
and target features (normalised vocoder parameters, or phone durations for the duration model)
over the valid frames of zero-padded batches, in float32 whatever precision the network ran in.
"""
from __future__ import annotations

import torch


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor
               ) -> torch.Tensor:
    """prediction, target (batch, frames, dim), lengths (batch,) valid frames of each utterance
    -> scalar, the mean over the valid frames and the dims (float32: under autocast the inputs
    may be bfloat16, and a mean of many squared errors needs more than its 3 digits)."""
    if prediction.shape != target.shape or prediction.ndim != 3:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target "
                         f"{tuple(target.shape)} are not the same (batch, frames, dim) shape")
    batch, frames = target.shape[:2]
    if lengths.shape != (batch,) or lengths.min() < 1 or lengths.max() > frames:
        raise ValueError(f"lengths {lengths.tolist()} do not fit {batch} utterances of at most "
                         f"{frames} frames")
    valid = torch.arange(frames, device=target.device) < lengths.to(target.device)[:, None]
    return (prediction.float() - target.float())[valid].square().mean()
