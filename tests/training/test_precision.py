"""CPUFloat32LSTM: the LSTM runs under CPU bfloat16 autocast on every x86_64 CPU, and padded
batches of unequal lengths give what packed sequences give."""
import os
import subprocess
import sys

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from voxflow.training.precision import CPUFloat32LSTM

# Under an AVX2-only oneDNN (the CPUs without AVX512-BF16) a bfloat16 LSTM primitive cannot be
# built; the variable makes this machine behave like one, whatever its CPU.
SCRIPT = """
import sys, torch
from torch import nn
from voxflow.training.precision import CPUFloat32LSTM
cls = {"plain": nn.LSTM, "fp32": CPUFloat32LSTM}[sys.argv[1]]
lstm = cls(8, 16, num_layers=2, batch_first=True)
with torch.autocast("cpu", dtype=torch.bfloat16):
    lstm(torch.randn(2, 5, 8))
"""


def run_under_avx2(kind: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    return subprocess.run([sys.executable, "-c", SCRIPT, kind], env=env, capture_output=True,
                          text=True, timeout=120)


def test_runs_under_bfloat16_autocast_where_oneDNN_has_no_bfloat16_lstm():
    control = run_under_avx2("plain")
    assert control.returncode != 0 and "primitive descriptor" in control.stderr  # the emulation holds
    result = run_under_avx2("fp32")
    assert result.returncode == 0, result.stderr


def test_output_under_autocast_equals_float32_for_padded_and_packed_input():
    torch.manual_seed(0)
    lstm = CPUFloat32LSTM(8, 16, batch_first=True)
    x = torch.randn(2, 5, 8)
    packed = pack_padded_sequence(x, torch.tensor([5, 3]), batch_first=True,
                                  enforce_sorted=False)
    expected, expected_packed = lstm(x)[0], lstm(packed)[0].data
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, out_packed = lstm(x)[0], lstm(packed)[0].data
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out_packed, expected_packed)


def padded_batch(lengths: list[int], features: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), int(lengths.max()), features)
    x[torch.arange(x.shape[1])[None, :] >= lengths[:, None]] = 0.0
    return x, lengths


def packed_outputs(lstm: CPUFloat32LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    return pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]


def test_padded_outputs_equal_a_packed_sequences_outputs_and_gradients():
    torch.manual_seed(0)
    lstm = CPUFloat32LSTM(6, 5, num_layers=2, batch_first=True, bidirectional=True)
    x, lengths = padded_batch([7, 3, 5])
    x.requires_grad_()
    expected = packed_outputs(lstm, x, lengths)
    out = lstm.padded_outputs(x, lengths)
    torch.testing.assert_close(out, expected)
    weights = (torch.randn_like(out) * (out != 0)).detach()     # a loss on every output frame
    grads = torch.autograd.grad((out * weights).sum(), [x, *lstm.parameters()])
    expected_grads = torch.autograd.grad((expected * weights).sum(), [x, *lstm.parameters()])
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad)


def test_padded_outputs_ignore_what_the_padding_holds():
    torch.manual_seed(0)
    lstm = CPUFloat32LSTM(6, 5, num_layers=2, batch_first=True, bidirectional=True)
    x, lengths = padded_batch([7, 3])
    noisy = x.clone()
    noisy[1, 3:] = 100.0
    out = lstm.padded_outputs(noisy, lengths)
    torch.testing.assert_close(out, lstm.padded_outputs(x, lengths))
    assert out[1, 3:].abs().max() == 0.0


def test_padded_outputs_under_autocast_are_float32_as_without():
    torch.manual_seed(0)
    lstm = CPUFloat32LSTM(6, 5, batch_first=True, bidirectional=True)
    x, lengths = padded_batch([4, 2])
    expected = lstm.padded_outputs(x, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = lstm.padded_outputs(x, lengths)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)
