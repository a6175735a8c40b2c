"""Mixed-precision rules shared by every model."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


class CPUFloat32LSTM(nn.LSTM):
    """`nn.LSTM` that runs in float32 on the CPU even under autocast; on CUDA autocast applies
    as usual (cuDNN has half-precision LSTMs).

    Why: under CPU bfloat16 autocast the LSTM goes to oneDNN, which builds no bfloat16 LSTM
    primitive on CPUs without AVX512-BF16 ("could not create a primitive descriptor for the LSTM
    forward propagation primitive"), so the same model fails on one x86_64 machine and runs on
    another. Same parameters and state_dict as `nn.LSTM`; the output is float32 on the CPU.
    `padded_outputs` gives a packed sequence's outputs from a padded batch, faster to train."""

    def forward(self, input, hx=None):
        data = input.data if isinstance(input, PackedSequence) else input
        if data.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
            return super().forward(input, hx)
        if hx is not None:
            hx = tuple(h.float() for h in hx)
        with torch.autocast("cpu", enabled=False):
            return super().forward(input.float(), hx)

    def padded_outputs(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (batch, frames, input_size), zero-padded, and lengths (batch,) -> the last layer's
        outputs (batch, frames, directions * hidden_size), zero beyond each length, from a zero
        initial state: what a packed sequence gives (the backward direction starts at each
        utterance's own last frame, the padding never enters the valid frames).

        On the CPU the layers run one direction at a time on the padded batch, the backward
        direction on each utterance reversed within its length: oneDNN's fused LSTM, which a
        packed sequence never reaches (PyTorch's packed CPU LSTM zero-fills the whole sequence's
        gradient once per time step in its backward: 7x slower to train on 160 frames). On
        CUDA it packs, for cuDNN. In the parameters' dtype on the CPU (float32 under autocast),
        as `forward`."""
        if not self.batch_first or self.proj_size:
            raise ValueError("padded_outputs needs batch_first=True and no proj_size")
        frames = x.shape[1]
        valid = torch.arange(frames, device=x.device)[None, :] < lengths.to(x.device)[:, None]
        if x.device.type != "cpu":
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                          enforce_sorted=False)
            return pad_packed_sequence(self(packed)[0], batch_first=True,
                                       total_length=frames)[0]
        # frame t of an utterance of length n <-> frame n - 1 - t; the padding stays in place
        steps = torch.arange(frames)[None, :]
        reversal = torch.where(valid, lengths[:, None] - 1 - steps, steps)[..., None]
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")[:4 if self.bias else 2]
        suffixes = ("", "_reverse")[:2 if self.bidirectional else 1]
        with torch.autocast("cpu", enabled=False):
            x = x.to(self.weight_ih_l0.dtype)       # float32 under autocast
            zeros = x.new_zeros(1, x.shape[0], self.hidden_size)
            for layer in range(self.num_layers):
                if layer:
                    x = F.dropout(x, self.dropout, self.training)
                directions = []
                for suffix in suffixes:
                    weights = [getattr(self, f"{name}_l{layer}{suffix}") for name in names]
                    inputs = x.gather(1, reversal.expand_as(x)) if suffix else x
                    out = torch.lstm(inputs, (zeros, zeros), weights, self.bias, 1, 0.0,
                                     self.training, False, True)[0]
                    directions.append(out.gather(1, reversal.expand_as(out)) if suffix else out)
                x = torch.cat(directions, dim=-1)
        return x.masked_fill(~valid[..., None], 0.0)
