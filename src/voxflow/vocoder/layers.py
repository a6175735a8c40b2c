"""Building blocks shared by the WaveNet teacher and the Parallel WaveNet student (the UPW paper,
section 2.2): causal dilated convolutions with an incremental cache, gated residual blocks with
local conditioning, and upsampling of frame-level conditioning by repetition.

Incremental generation follows Fast WaveNet (Paine et al. 2016): each dilated convolution keeps a
ring buffer of its last `(kernel - 1) * dilation` inputs, so one generated sample costs one
kernel-sized dot product per layer whatever the length generated so far, instead of recomputing
the receptive field.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def upsample(frames: torch.Tensor, hop_length: int) -> torch.Tensor:
    """(batch, channels, frames) -> (batch, channels, frames * hop_length): each frame repeated
    `hop_length` times, the paper's upsampling from 80 Hz frames to 24 kHz samples."""
    return frames.repeat_interleave(hop_length, dim=-1)


def shift_right(x: torch.Tensor) -> torch.Tensor:
    """(..., samples) -> the same shifted one step later with a zero first: position t then holds
    x[t - 1], so a causal network reading it predicts x[t] from x[<t] only."""
    return F.pad(x, (1, 0))[..., :-1]


def pointwise(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution applied to one time step: (batch, in) -> (batch, out)."""
    return F.linear(x, conv.weight[..., 0], conv.bias)


class ConvQueue:
    """The input history one dilated causal convolution needs during incremental generation: a
    ring buffer of its last `(kernel - 1) * dilation` inputs (zeros at the start, as the causal
    zero padding of the full-sequence forward). `push` reads the kernel's taps and stores the
    new input in O(kernel) work, independent of how many samples were generated."""

    def __init__(self, batch: int, channels: int, kernel_size: int, dilation: int,
                 device: torch.device | None = None, dtype: torch.dtype | None = None):
        self.length = (kernel_size - 1) * dilation
        self.buffer = torch.zeros(batch, channels, self.length, device=device, dtype=dtype)
        self.position = 0          # index of the oldest stored input, the next one overwritten
        # distance back in time of each past tap, oldest first: (k-1)d, ..., 2d, d
        self.lags = torch.arange(kernel_size - 1, 0, -1, device=device) * dilation

    def push(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, channels) input at time t -> (batch, channels, kernel) taps x[t-(k-1)d], ...,
        x[t-d], x[t] in the order of the convolution's weight."""
        if self.length == 0:
            return x[..., None]
        past = self.buffer.index_select(2, (self.position - self.lags) % self.length)
        taps = torch.cat([past, x[..., None]], dim=2)
        self.buffer[:, :, self.position] = x
        self.position = (self.position + 1) % self.length
        return taps


class CausalConv1d(nn.Conv1d):
    """Dilated convolution whose output at t sees inputs at t, t - d, ..., t - (k-1)d only (left
    zero padding); `step` computes one output sample from a `ConvQueue`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_padding = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left_padding, 0)))

    def new_queue(self, batch: int, like: torch.Tensor) -> ConvQueue:
        return ConvQueue(batch, self.in_channels, self.kernel_size[0], self.dilation[0],
                         device=like.device, dtype=like.dtype)

    def step(self, x: torch.Tensor, queue: ConvQueue) -> torch.Tensor:
        """(batch, in) input at time t -> (batch, out) output at time t."""
        return F.linear(queue.push(x).flatten(1), self.weight.flatten(1), self.bias)


class ResidualBlock(nn.Module):
    """WaveNet residual block: a dilated causal convolution plus a 1x1 projection of the local
    conditioning, gated tanh * sigmoid, a 1x1 back to the residual stream and, in the teacher, a
    1x1 to the skip connections (`skip_channels=None`: the student's blocks, which have none).
    `residual=False` drops the residual projection of the teacher's last block, whose output only
    the skip path reads (an unused parameter would get no gradient, which DDP rejects).

    The conditioning projection runs on frames and is then repeated to the sample rate: a 1x1
    convolution commutes with repetition, so this equals projecting the upsampled conditioning
    while costing `hop_length` times less."""

    def __init__(self, residual_channels: int, gate_channels: int, cond_channels: int,
                 kernel_size: int, dilation: int, skip_channels: int | None,
                 residual: bool = True):
        super().__init__()
        self.dilated = CausalConv1d(residual_channels, 2 * gate_channels, kernel_size, dilation)
        self.condition = nn.Conv1d(cond_channels, 2 * gate_channels, 1)
        self.residual = nn.Conv1d(gate_channels, residual_channels, 1) if residual else None
        self.skip = nn.Conv1d(gate_channels, skip_channels, 1) if skip_channels else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor, hop_length: int
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (batch, residual, samples), cond (batch, cond_channels, frames) ->
        (residual output, skip output or None), both at the sample rate."""
        gated = self._gate(self.dilated(x) + upsample(self.condition(cond), hop_length))
        out = x + self.residual(gated) if self.residual is not None else x
        return out, (self.skip(gated) if self.skip is not None else None)

    def step(self, x: torch.Tensor, cond_projection: torch.Tensor, queue: ConvQueue
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One time step: x (batch, residual), cond_projection (batch, 2 * gate) the current
        frame's column of `self.condition(cond)` -> (residual output, skip output or None)."""
        gated = self._gate(self.dilated.step(x, queue) + cond_projection)
        out = x + pointwise(self.residual, gated) if self.residual is not None else x
        return out, (pointwise(self.skip, gated) if self.skip is not None else None)

    @staticmethod
    def _gate(h: torch.Tensor) -> torch.Tensor:
        filter_, gate = h.chunk(2, dim=1)
        return torch.tanh(filter_) * torch.sigmoid(gate)
