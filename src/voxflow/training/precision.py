"""Mixed-precision rules shared by every model."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence


class CPUFloat32LSTM(nn.LSTM):
    """`nn.LSTM` that runs in float32 on the CPU even under autocast; on CUDA autocast applies
    as usual (cuDNN has half-precision LSTMs).

    Why: under CPU bfloat16 autocast the LSTM goes to oneDNN, which builds no bfloat16 LSTM
    primitive on CPUs without AVX512-BF16 ("could not create a primitive descriptor for the LSTM
    forward propagation primitive"), so the same model fails on one x86_64 machine and runs on
    another. Same parameters and state_dict as `nn.LSTM`; the output is float32 on the CPU."""

    def forward(self, input, hx=None):
        data = input.data if isinstance(input, PackedSequence) else input
        if data.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
            return super().forward(input, hx)
        if hx is not None:
            hx = tuple(h.float() for h in hx)
        with torch.autocast("cpu", enabled=False):
            return super().forward(input.float(), hx)
