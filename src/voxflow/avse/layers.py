"""Building blocks of MHCA-AVCRN (paper 001, section 2): convolution blocks over
(frequency, time) maps, the per-frame video block, the recurrent bottleneck, and the 2-stage
multi-head cross-attention (MHCA) block with its two ablations.

Feature maps are (batch, channels, frequency, time), time at the mel frame rate (100 Hz).
Utterances of a batch are zero-padded to the longest; `mask` (batch, 1, 1, time) is 1 on the
valid frames and 0 on the padding, or None when nothing is padded. Every block zeroes the
padded frames of its output, so that the next 3x3 kernel reads zeros there exactly as the zero
padding of an unpadded utterance, and the attention sums over valid positions only.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from voxflow.training.precision import CPUFloat32LSTM

KERNEL = 3      # 3x3 over (frequency, time): one frame of context each side, as offline allows


def frame_mask(lengths: torch.Tensor | None, frames: int, like: torch.Tensor
               ) -> torch.Tensor | None:
    """lengths (batch,) valid frames -> (batch, 1, 1, frames) mask in `like`'s dtype and device
    (None for None)."""
    if lengths is None:
        return None
    valid = torch.arange(frames, device=like.device) < lengths.to(like.device)[:, None]
    return valid[:, None, None, :].to(like.dtype)


def masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """x (batch, ..., time) with its padded frames set to zero."""
    return x if mask is None else x * mask


class ConvBlock(nn.Module):
    """Conv2d 3x3 + BN + ELU, stride `freq_stride` along frequency only (time kept):
    (batch, in, freq, time) -> (batch, out, ceil(freq / freq_stride), time)."""

    def __init__(self, in_channels: int, out_channels: int, freq_stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, KERNEL, stride=(freq_stride, 1),
                              padding=KERNEL // 2)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked(nn.functional.elu(self.norm(self.conv(x))), mask)


class DeconvBlock(nn.Module):
    """ConvTranspose2d 3x3 stride 2 along frequency + BN + ELU, the mirror of a strided
    `ConvBlock`: (batch, in, freq, time) -> (batch, out, out_freq, time), `out_freq` the
    frequency size the mirrored encoder layer read (2 * freq or 2 * freq - 1)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.deconv = upsampling_deconv(in_channels, out_channels)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, out_freq: int, mask: torch.Tensor | None = None
                ) -> torch.Tensor:
        y = self.deconv(x, output_size=(out_freq, x.shape[-1]))
        return masked(nn.functional.elu(self.norm(y)), mask)


def upsampling_deconv(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """The transposed 3x3 convolution that doubles frequency and keeps time; call it with
    `output_size` to pick between the two sizes a stride-2 convolution maps to the same size."""
    return nn.ConvTranspose2d(in_channels, out_channels, KERNEL, stride=(2, 1),
                              padding=KERNEL // 2)


class VideoBlock(nn.Module):
    """Max-pooling convolution block on single frames: (frames, in, size, size) ->
    (frames, out, ceil(size / 2), ceil(size / 2)) with `pool`, else the same size; max-pool 2
    (ceil, to follow the audio encoder's ceil(freq / 2) on odd sizes), then Conv2d 3x3 + BN + ELU.
    Pooling first lets the first block's output keep the crop's full 80 rows."""

    def __init__(self, in_channels: int, out_channels: int, pool: bool):
        super().__init__()
        self.pool = nn.MaxPool2d(2, ceil_mode=True) if pool else nn.Identity()
        self.conv = ConvBlock(in_channels, out_channels)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(frames))


class RecurrentBottleneck(nn.Module):
    """(batch, channels, freq, time) -> the same shape: each frame's map flattened to
    channels * freq, `layers` bidirectional LSTMs of `hidden` units per direction (offline
    enhancement sees the whole utterance), a linear map back to channels * freq.

    With `lengths` the LSTMs run on packed sequences, so the backward direction starts at each
    utterance's own last frame and the padding never enters the valid frames."""

    def __init__(self, channels: int, freq: int, hidden: int, layers: int):
        super().__init__()
        self.lstm = CPUFloat32LSTM(channels * freq, hidden, num_layers=layers, batch_first=True,
                                   bidirectional=True)
        self.project = nn.Linear(2 * hidden, channels * freq)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, channels, freq, frames = x.shape
        sequence = x.permute(0, 3, 1, 2).reshape(batch, frames, channels * freq)
        if lengths is None:
            states = self.lstm(sequence)[0]
        else:
            packed = pack_padded_sequence(sequence, lengths.cpu(), batch_first=True,
                                          enforce_sorted=False)
            states = pad_packed_sequence(self.lstm(packed)[0], batch_first=True,
                                         total_length=frames)[0]
        out = self.project(states).reshape(batch, frames, channels, freq).permute(0, 2, 3, 1)
        return masked(out, mask)


class ConcatSkip(nn.Module):
    """CRN's skip connection: (fused, decoder) each (batch, C, freq, time) -> their
    concatenation (batch, 2C, freq, time), decoder first."""

    channel_factor = 2      # output channels per input channel, for the next deconvolution

    def forward(self, fused: torch.Tensor, decoder: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.cat([decoder, fused], dim=1)


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(batch, C, freq, time) -> (batch, heads, C / heads, freq * time)."""
    batch, channels = x.shape[:2]
    return x.reshape(batch, heads, channels // heads, -1)


def channel_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      positions: torch.Tensor) -> torch.Tensor:
    """DANet-style attention between channels, per head: query, key, value
    (batch, heads, c, N) -> (batch, heads, c, N) whose row j is sum_i a_ji value_i with
    a_ji = softmax over i of <query_j, key_i> / positions.

    The dot products run over all N = freq * time positions; dividing by `positions`
    (batch, 1, 1, 1), the number of valid ones, makes them mean products, whose scale does not
    grow with the utterance's length. Measured on the untrained tiny and paper networks with
    3 s inputs, the largest softmax weight is 0.96-1.0 with raw sums (one-hot, no gradient),
    0.15-0.95 with a 1/sqrt(N) scale (depending on the level and the length), and close to the
    uniform 1 / c with means; the batch-norm gains of K, V and Q then learn the sharpness."""
    energy = query @ key.transpose(-1, -2) / positions
    return torch.softmax(energy, dim=-1) @ value


class TwoStageMHCA(nn.Module):
    """The 2-stage multi-head cross-attention block (paper 001, section 2.2, eq. 1-4): fused
    audio-visual feature F_f and decoder feature F_d, each (batch, C, freq, time) ->
    F_out (batch, C, freq, time), computed per head on C / heads channels:

        K, V = ConvBlock(F_f), ConvBlock(F_f)
        X    = softmax_i(<V_j, K_i>)            eq. 1, x_ji: channel i's influence on channel j
        G    = V + alpha * X V                   eq. 2, audio-visual balancing
        Q    = ConvBlock(F_d)
        Y    = softmax_i(<G_j, Q_i>)             eq. 3
        L    = beta * Y G                        eq. 4, feature filtering
        F_out = sigmoid(deconv(L)) * F_d

    (dot products as mean products, see `channel_attention`). alpha and beta are two learnable
    scalars shared by the heads, both initialised at 0, so the untrained block is the constant
    gate sigmoid(deconv bias) * F_d.

    Two departures from the printed equations, both needed for a block that can learn:
    - eq. 2 and 4 print the sums over i as x_ji V_j and y_ji G_j, which sum the weights to 1 and
      leave G = alpha V: the sums are read as DANet's x_ji V_i and y_ji G_i (the paper's
      wording is DANet's channel attention).
    - G keeps DANet's residual V. As printed (G = alpha X V) the block's output depends on
      alpha and beta through their product only, so at alpha = beta = 0 both get zero gradient
      and stay at 0 for ever. With the residual, beta learns from the first step (its gradient
      is Y V) and alpha once beta is non-zero. There is no residual in L: it would make the
      untrained gate depend on F_f instead of being constant.

    Ablations: `balancing=False` (no eq. 1-2) filters G = V itself, i.e. the full block with
    alpha fixed at 0; `filtering=False` (no eq. 3-4) gates with G: F_out = sigmoid(deconv(G)) *
    F_d. Neither creates the parameters it does not use."""

    channel_factor = 1      # output channels per input channel, for the next deconvolution

    def __init__(self, channels: int, heads: int, balancing: bool = True,
                 filtering: bool = True):
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels do not split into {heads} heads")
        if not (balancing or filtering):
            raise ValueError("an MHCA block needs the balancing or the filtering part (without "
                             "either it is a plain skip: use ConcatSkip)")
        self.heads = heads
        self.value = ConvBlock(channels, channels)
        self.key = ConvBlock(channels, channels) if balancing else None
        self.alpha = nn.Parameter(torch.zeros(())) if balancing else None
        self.query = ConvBlock(channels, channels) if filtering else None
        self.beta = nn.Parameter(torch.zeros(())) if filtering else None
        self.gate = nn.ConvTranspose2d(channels, channels, KERNEL, padding=KERNEL // 2)

    def forward(self, fused: torch.Tensor, decoder: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        freq, frames = fused.shape[-2:]
        valid = frames if mask is None else mask.sum(dim=-1, keepdim=True)
        positions = freq * torch.as_tensor(valid, dtype=fused.dtype, device=fused.device)
        v = _split_heads(self.value(fused, mask), self.heads)
        balanced = v                                                    # G
        if self.key is not None:
            k = _split_heads(self.key(fused, mask), self.heads)
            balanced = v + self.alpha * channel_attention(v, k, v, positions)
        filtered = balanced                                             # L
        if self.query is not None:
            q = _split_heads(self.query(decoder, mask), self.heads)
            filtered = self.beta * channel_attention(balanced, q, balanced, positions)
        return torch.sigmoid(self.gate(filtered.reshape(fused.shape))) * decoder


class MHCASkip(nn.Module):
    """MHCA-AVCRN's skip connection: (fused, decoder) each (batch, C, freq, time) ->
    (batch, 2C, freq, time), the decoder feature gated by the 2-stage MHCA block, concatenated
    with the fused feature as CRN's skip does.

    voxflow's reading of "feeds fused audio-visual features to each corresponding decoder
    layer": the paper gates F_d with the block and does not say the concatenation goes. Without
    it the fused feature would reach the decoder only through a gate whose beta starts at 0, and
    the full model would start with less of its encoder than its ablation without MHCA."""

    channel_factor = 2

    def __init__(self, block: TwoStageMHCA):
        super().__init__()
        self.block = block

    def forward(self, fused: torch.Tensor, decoder: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.cat([self.block(fused, decoder, mask), fused], dim=1)
