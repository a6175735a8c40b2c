"""Building blocks of the MLMS acoustic model (paper 002, section 2, figure 1): the tower (a ReLU
projection then unidirectional LSTMs with output projections), the speaker-dependent recurrent
output layer, and the language code vectors.

Sequences are (batch, frames, dim), zero-padded at the end to the longest of the batch. Every
block is causal (frame t reads frames 1..t only, the unidirectional model of Zen & Sak 2015), so
the padding after an utterance never reaches its valid frames and no lengths are needed here;
the loss skips the padded frames (`voxflow.mlms.losses.masked_mse`).

Choices the paper leaves open:
- The recurrent output layer is linear, y_t = W h_t + R y_{t-1} + b (Zen & Sak 2015's RNN output
  layer for regression targets). R starts at zero: the untrained layer is the feed-forward
  linear layer and the recurrence starts stable (spectral radius 0); R learns the smoothing from
  the first step (its gradient is sum_t dL/dy_t y_{t-1}^T). W and b keep PyTorch's Linear init.
  The layer runs in float32 even under autocast: its output is fed back for every frame, and
  bfloat16's 3 significant digits would compound over an utterance's hundreds of frames; it is a
  small part of the model's cost.
- "rand" language codes are drawn from N(0, 1 / L), so that the combination sum_l lambda_l
  tower_l of L independent towers starts at the scale of one tower, as with one-hot codes.
- A new (adaptation) language's code starts at the mean of the training codes: the centre of the
  training languages, near the origin of the language space (the mean tower) for random codes,
  uniform weights 1 / U for one-hot ones. Either way no training language is favoured.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from voxflow.training.precision import CPUFloat32LSTM

CODE_SETUPS = ("rand", "onehot-init", "onehot-fixed")      # section 4.1's three setups


class Tower(nn.Module):
    """A ReLU projection, then `lstm_layers` unidirectional LSTMs of `lstm_cells` cells, each
    with a recurrent output projection to `lstm_projection` (0: none): (batch, frames,
    input_dim) -> (batch, frames, lstm_projection or lstm_cells)."""

    def __init__(self, input_dim: int, projection_dim: int, lstm_cells: int,
                 lstm_projection: int, lstm_layers: int):
        super().__init__()
        self.projection = nn.Linear(input_dim, projection_dim)
        self.lstm = CPUFloat32LSTM(projection_dim, lstm_cells, num_layers=lstm_layers,
                            proj_size=lstm_projection, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(torch.relu(self.projection(x)))[0]


class RecurrentOutput(nn.Module):
    """The linear recurrent output layer y_t = W h_t + R y_{t-1} + b, y_0 = 0:
    (batch, frames, input_dim) -> (batch, frames, output_dim), in float32 whatever the autocast
    (see the module docstring for the init and the precision)."""

    def __init__(self, input_dim: int, output_dim: int):
        super().__init__()
        self.forward_weights = nn.Linear(input_dim, output_dim)         # W and b
        self.recurrent = nn.Parameter(torch.zeros(output_dim, output_dim))  # R

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return recurrent_outputs([self] * h.shape[0], h)


def recurrent_outputs(layers: list[RecurrentOutput], h: torch.Tensor) -> torch.Tensor:
    """Each utterance b of h (batch, frames, input_dim) through its own layer `layers[b]` ->
    (batch, frames, output_dim) float32. One recurrence for the whole batch with the layers'
    weights stacked, not one per layer: a batch mixing 8 speakers trains twice as fast."""
    with torch.autocast(h.device.type, enabled=False):
        weights = torch.stack([layer.forward_weights.weight for layer in layers])  # (B, O, I)
        biases = torch.stack([layer.forward_weights.bias for layer in layers])     # (B, O)
        recurrent_t = torch.stack([layer.recurrent for layer in layers]).transpose(1, 2)
        drive = torch.baddbmm(biases[:, None], h.float(), weights.transpose(1, 2))  # W h_t + b
        y = drive.new_zeros(drive.shape[0], 1, drive.shape[2])
        outputs = []
        # unbound once, not sliced per frame: each slice's backward would add a zero-filled
        # gradient of the whole drive, frames^2 work; the same values and gradients
        for drive_t in drive.unbind(dim=1):
            y = drive_t[:, None] + torch.bmm(y, recurrent_t)
            outputs.append(y)
        return torch.cat(outputs, dim=1)


class LanguageCodes(nn.Module):
    """One code vector lambda^(u) (dim,) per language, each its own parameter so that only the
    codes of a batch's languages receive gradients. `forward(languages)`: a list of batch
    language names -> (batch, dim).

    setup (section 4.1): "rand" N(0, 1 / dim), trained; "onehot-init" language i's code is the
    i-th unit vector, trained; "onehot-fixed" the same, kept constant (requires_grad False)."""

    def __init__(self, languages: list[str], dim: int, setup: str):
        super().__init__()
        if setup not in CODE_SETUPS:
            raise ValueError(f"unknown language code setup {setup!r}; expected one of "
                             f"{', '.join(CODE_SETUPS)}")
        if not languages or len(set(languages)) != len(languages):
            raise ValueError(f"language codes need distinct languages, got {languages}")
        if setup != "rand" and dim < len(languages):
            raise ValueError(f"{setup} codes of {dim} dimensions cannot tell {len(languages)} "
                             f"languages apart ({', '.join(languages)}): one-hot codes need "
                             "as many basis towers as languages")
        self.setup = setup
        self.codes = nn.ParameterDict()
        for i, language in enumerate(languages):
            if setup == "rand":
                # max: a baseline's codes (dim 0, no basis towers) are empty
                code = torch.randn(dim) / math.sqrt(max(dim, 1))
            else:
                code = nn.functional.one_hot(torch.tensor(i), dim).float()
            self._put(language, nn.Parameter(code, requires_grad=setup != "onehot-fixed"))

    @property
    def languages(self) -> list[str]:
        return list(self.codes)

    def add(self, language: str) -> None:
        """A trainable code for a new language, at the mean of the existing codes."""
        mean = torch.stack(list(self.codes.values())).mean(dim=0)
        self._put(language, nn.Parameter(mean.detach().clone()))

    def _put(self, language: str, code: nn.Parameter) -> None:
        if language in self.codes:
            raise ValueError(f"language {language!r} already has a code")
        if not language or "." in language:
            raise ValueError(f"language name {language!r} cannot name a parameter (empty or "
                             "with a '.')")
        self.codes[language] = code

    def forward(self, languages: list[str]) -> torch.Tensor:
        unknown = sorted(set(languages) - set(self.codes))
        if unknown:
            raise ValueError(f"no language code for {', '.join(unknown)}; known: "
                             f"{', '.join(self.codes)}")
        return torch.stack([self.codes[language] for language in languages])
