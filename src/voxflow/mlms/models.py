"""The MLMS network (paper 002, section 2, eq. 1-2), its single-language single-speaker baseline,
the duration model, and the language adaptation setups of section 4.2.

    h_t = M_mean(x_1..t) + sum_l lambda_l^(u) M_l(x_1..t)          eq. 1, (batch, frames, P)
    y_t = M_s(h_t, y_{t-1})                                        eq. 2, (batch, frames, out)

with M_mean and the L = `basis_towers` basis towers M_l `Tower`s, lambda^(u) the code of the
utterance's language u (`LanguageCodes`) and M_s the `RecurrentOutput` layer of its speaker s.
A batch may mix languages and speakers: each utterance uses its own code and output layer, so
the codes and layers of languages and speakers absent from the batch get no gradient (None
after `zero_grad(set_to_none=True)`), and an optimizer that skips parameters without gradient
(SGD, Adam) leaves them unchanged, as the paper trains.

One class, three uses:
- the MLMS acoustic model: frame-level linguistic features -> 49 vocoder parameters;
- the paper's baseline, "the same model structure" without the language space:
  `basis_towers=0`, one language and one speaker, so h = M_mean (its code is empty);
- the duration model: the same network over phone sequences, phone-level features -> `out_dim`
  = 1 duration target per phone, with the same language and speaker conditioning. The paper
  uses oracle durations and does not describe its duration model; this one is the acoustic
  model's structure, the simplest model that conditions on language and speaker alike.

Adaptation to a new language (section 4.2): `add_language` and `add_speaker` (a new output layer
for the target speaker, always trained), then the phases of `ADAPTATION_SETUPS[setup]` in order,
each starting from the previous one's result (v3 from v1, v4 from v3); `trainable_parameters`
freezes everything but what a phase updates.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from voxflow.mlms.layers import LanguageCodes, RecurrentOutput, Tower, recurrent_outputs

# What each adaptation phase updates besides the target speaker's output layer: the language
# code, the mean tower, or both jointly.
PHASES = {"code": ("code",), "mean": ("mean",), "code+mean": ("code", "mean")}
# Section 4.2: v1 code only; v2 code and mean tower jointly; v3 v1 then the mean tower alone;
# v4 v3 then both jointly.
ADAPTATION_SETUPS = {"v1": ("code",), "v2": ("code+mean",), "v3": ("code", "mean"),
                     "v4": ("code", "mean", "code+mean")}


@dataclass(frozen=True)
class MLMSConfig:
    """Sizes of `MLMSNet`; the defaults are the paper's (section 4.1)."""
    # width of each tower's ReLU input projection
    projection_dim: int = 256
    # memory cells of each LSTM
    lstm_cells: int = 256
    # recurrent output projection of each LSTM (LSTMP, Sak et al. 2014), also the width of h
    # (the output layer's input); 0: none, h is lstm_cells wide (see `MODELS` in params.py)
    lstm_projection: int = 128
    # stacked LSTMs per tower
    lstm_layers: int = 3
    # language basis towers L, the dimension of the language space (0: the baseline)
    basis_towers: int = 6
    # outputs per frame: 40 mel-cepstra, log F0, voicing, 7 band aperiodicities (1 for the
    # duration model)
    out_dim: int = 49

    def __post_init__(self):
        sizes = {"projection_dim": self.projection_dim, "lstm_cells": self.lstm_cells,
                 "lstm_layers": self.lstm_layers, "out_dim": self.out_dim}
        small = [f"{name}={size}" for name, size in sizes.items() if size < 1]
        negative = [f"{name}={size}" for name, size in (("basis_towers", self.basis_towers),
                    ("lstm_projection", self.lstm_projection)) if size < 0]
        if small or negative:
            raise ValueError(f"MLMSConfig sizes must be positive (basis_towers and "
                             f"lstm_projection >= 0): {', '.join(small + negative)}")
        if self.lstm_projection >= self.lstm_cells:
            raise ValueError(f"lstm_projection {self.lstm_projection} must be smaller than "
                             f"lstm_cells {self.lstm_cells} (it condenses the LSTM output)")

    @property
    def hidden_dim(self) -> int:
        """The width of h: the LSTMs' projection, or their cells without one."""
        return self.lstm_projection or self.lstm_cells


class MLMSNet(nn.Module):
    """`forward(x, languages, speakers)`: x (batch, frames, input_dim) linguistic features,
    zero-padded at the end; languages, speakers: a name per utterance -> (batch, frames,
    out_dim) float32; the padded frames hold whatever the padding produced, for the loss to
    skip (`voxflow.mlms.losses.masked_mse`).

    code_setup: "rand", "onehot-init" or "onehot-fixed" language codes (`LanguageCodes`)."""

    def __init__(self, input_dim: int, config: MLMSConfig, languages: list[str],
                 speakers: list[str], code_setup: str = "rand"):
        super().__init__()
        self.input_dim = input_dim
        self.config = config
        self.mean_tower = self._tower()
        self.basis_towers = nn.ModuleList(self._tower() for _ in range(config.basis_towers))
        self.codes = LanguageCodes(languages, config.basis_towers, code_setup)
        self.outputs = nn.ModuleDict()
        for speaker in speakers:
            self.add_speaker(speaker)

    def _tower(self) -> Tower:
        c = self.config
        return Tower(self.input_dim, c.projection_dim, c.lstm_cells, c.lstm_projection,
                     c.lstm_layers)

    @property
    def languages(self) -> list[str]:
        return self.codes.languages

    @property
    def speakers(self) -> list[str]:
        return list(self.outputs)

    def add_language(self, language: str) -> None:
        """A code for a new language (at the mean of the training codes)."""
        self.codes.add(language)

    def add_speaker(self, speaker: str) -> None:
        """A new randomly initialised output layer for `speaker`."""
        if speaker in self.outputs:
            raise ValueError(f"speaker {speaker!r} already has an output layer")
        if not speaker or "." in speaker:
            raise ValueError(f"speaker name {speaker!r} cannot name a module (empty or with "
                             "a '.')")
        layer = RecurrentOutput(self.config.hidden_dim, self.config.out_dim)
        self.outputs[speaker] = layer.to(self.mean_tower.projection.weight.device)

    def hidden(self, x: torch.Tensor, languages: list[str]) -> torch.Tensor:
        """Eq. 1: x (batch, frames, input_dim) -> h (batch, frames, hidden_dim)."""
        codes = self.codes(languages)                                   # (batch, L)
        h = self.mean_tower(x)
        if self.basis_towers:
            bases = torch.stack([tower(x) for tower in self.basis_towers], dim=-1)
            h = h + torch.einsum("btpl,bl->btp", bases, codes)
        return h

    def forward(self, x: torch.Tensor, languages: list[str], speakers: list[str]
                ) -> torch.Tensor:
        self._check(x, languages, speakers)
        return recurrent_outputs([self.outputs[s] for s in speakers], self.hidden(x, languages))

    def _check(self, x: torch.Tensor, languages: list[str], speakers: list[str]) -> None:
        if x.ndim != 3 or x.shape[-1] != self.input_dim or x.shape[1] < 1:
            raise ValueError(f"input has shape {tuple(x.shape)}; expected (batch, frames >= 1, "
                             f"{self.input_dim})")
        if not len(languages) == len(speakers) == x.shape[0]:
            raise ValueError(f"{len(languages)} languages and {len(speakers)} speakers for a "
                             f"batch of {x.shape[0]} utterances")
        unknown = sorted(set(speakers) - set(self.outputs))
        if unknown:
            raise ValueError(f"no output layer for speaker {', '.join(unknown)}; known: "
                             f"{', '.join(self.outputs)}")


def trainable_parameters(model: MLMSNet, phase: str, language: str, speaker: str
                         ) -> list[nn.Parameter]:
    """Freeze `model` but for what adaptation `phase` updates (`PHASES`): `speaker`'s output
    layer always, plus `language`'s code and/or the mean tower. Returns those parameters, the
    ones to give the optimizer; the basis towers, other codes and other speakers' layers stay
    frozen (requires_grad False)."""
    if phase not in PHASES:
        raise ValueError(f"unknown adaptation phase {phase!r}; expected one of "
                         f"{', '.join(PHASES)}")
    if language not in model.languages:
        raise ValueError(f"the model has no code for {language!r} (add_language first); "
                         f"known: {', '.join(model.languages)}")
    if speaker not in model.speakers:
        raise ValueError(f"the model has no output layer for {speaker!r} (add_speaker "
                         f"first); known: {', '.join(model.speakers)}")
    trainable = list(model.outputs[speaker].parameters())
    if "code" in PHASES[phase]:
        trainable.append(model.codes.codes[language])
    if "mean" in PHASES[phase]:
        trainable += list(model.mean_tower.parameters())
    model.requires_grad_(False)
    for parameter in trainable:
        parameter.requires_grad_(True)
    return trainable
