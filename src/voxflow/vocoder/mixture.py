"""Output distributions: the teacher's discretized mixture of logistics over 16-bit audio (seed
000: a 10-component mixture; PixelCNN++, Salimans et al. 2017, as used by Parallel WaveNet) and
the logistic distribution of the Parallel WaveNet student, whose output given the noise is
logistic per sample.

Audio lives in [-1, 1] on a grid of 65536 evenly spaced values (bin centres); the lowest and
highest bins take all the mass below and above, so the probabilities of the 65536 values sum to
one. Mixture parameters are a (batch, 3K, samples) tensor: K logit weights, K means, K log scales.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

LEVELS = 65536
HALF_BIN = 1.0 / (LEVELS - 1)             # half the distance between neighbouring values
# Narrow enough for one component to put all but ~1e-8 of its mass on one value (digital
# silence), no narrower: that would only make the continuous density the student is distilled
# against spikier.
LOG_SCALE_MIN = math.log(HALF_BIN) - 3.0


def _upcast(value):
    """Half-precision tensors (also inside a NamedTuple) in float32; anything else as it is."""
    if isinstance(value, torch.Tensor) and value.dtype in (torch.float16, torch.bfloat16):
        return value.float()
    if isinstance(value, tuple) and hasattr(value, "_fields"):     # a NamedTuple of tensors
        return type(value)(*map(_upcast, value))
    return value


def full_precision(function):
    """`function` run outside autocast with its half-precision tensor arguments in float32.

    Likelihoods need it: in bfloat16 neighbouring 16-bit levels round to one value (levels
    40000 and 40001 both become 0.21875), the bins collapse and the NLL is infinite."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        device = next((a.device.type for a in args if isinstance(a, torch.Tensor)), "cpu")
        with torch.autocast(device_type=device, enabled=False):
            return function(*map(_upcast, args), **{k: _upcast(v) for k, v in kwargs.items()})
    return wrapper


def quantize(audio: torch.Tensor) -> torch.Tensor:
    """Audio in [-1, 1] (clipped beyond) -> int64 level indices 0..65535."""
    levels = torch.round((audio.clamp(-1.0, 1.0) + 1.0) / (2 * HALF_BIN))
    return levels.long()


def dequantize(levels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Level indices -> their values in [-1, 1]."""
    return levels.to(dtype) * (2 * HALF_BIN) - 1.0


def split_parameters(params: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(batch, 3K, samples) -> logit weights, means, log scales, each (batch, K, samples), the
    log scales clamped below at `LOG_SCALE_MIN`."""
    logits, means, log_scales = params.chunk(3, dim=-2)
    return logits, means, log_scales.clamp(min=LOG_SCALE_MIN)


def scale_mixture(params: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """Mixture parameters (batch, 3K, ...) of X -> those of level * X: the weights unchanged,
    the means times level, the log scales plus log(level)."""
    logits, means, log_scales = params.chunk(3, dim=1)
    return torch.cat([logits, means * level, log_scales + level.log()], dim=1)


def logistic_log_density(x: torch.Tensor, mean: torch.Tensor,
                         log_scale: torch.Tensor) -> torch.Tensor:
    """Log density of Logistic(mean, exp(log_scale)) at x (broadcast)."""
    u = (x - mean) * torch.exp(-log_scale)
    return -u - log_scale - 2 * F.softplus(-u)


def logistic_entropy(log_scale: torch.Tensor) -> torch.Tensor:
    """Differential entropy of Logistic(mean, exp(log_scale)): log_scale + 2 nats."""
    return log_scale + 2.0


def logistic_noise(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None = None,
                   device: torch.device | None = None,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard logistic samples, log(u) - log(1 - u) of u ~ U(0, 1), the student's input z.
    u is kept off 0 and 1 by the dtype's resolution so that z stays finite."""
    tiny = torch.finfo(dtype).eps
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype).clamp(tiny, 1 - tiny)
    return torch.log(u) - torch.log1p(-u)


@full_precision
def mixture_log_density(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Continuous log density of the logistic mixture: params (batch, 3K, samples), x
    (..., batch, samples) with any leading dims (several draws at once) -> same shape as x."""
    logits, means, log_scales = split_parameters(params)
    per_component = logistic_log_density(x.unsqueeze(-2), means, log_scales)
    return torch.logsumexp(F.log_softmax(logits, dim=-2) + per_component, dim=-2)


@full_precision
def discretized_log_prob(params: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
    """Log probability of the 16-bit values of `audio` (batch, samples), snapped to the grid,
    under the discretized mixture -> (batch, samples).

    The mass of a bin [x - h, x + h] is sigmoid(a) - sigmoid(b) with a, b the standardized bin
    edges; it is computed as log sigmoid(a) + log sigmoid(-b) + log(1 - exp(b - a)), an identity
    that stays exact in float32 both for bins far in a tail and for bins much narrower than the
    component, where the plain difference of two CDFs cancels (PixelCNN++ falls back to the
    density at the centre there instead)."""
    logits, means, log_scales = split_parameters(params)
    levels = quantize(audio).unsqueeze(-2)
    centred = dequantize(levels, params.dtype) - means
    inv_scale = torch.exp(-log_scales)
    upper, lower = (centred + HALF_BIN) * inv_scale, (centred - HALF_BIN) * inv_scale
    interior = (F.logsigmoid(upper) + F.logsigmoid(-lower)
                + torch.log(-torch.expm1(lower - upper)))
    log_mass = torch.where(levels == 0, F.logsigmoid(upper),
                           torch.where(levels == LEVELS - 1, F.logsigmoid(-lower), interior))
    return torch.logsumexp(F.log_softmax(logits, dim=-2) + log_mass, dim=-2)


@full_precision
def sample_mixture(params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One 16-bit value per position: (batch, 3K, samples) -> (batch, samples) in [-1, 1].

    A component is drawn by the Gumbel-max trick, then a logistic value from it, clipped to
    [-1, 1] (the edge bins hold the tails) and snapped to the grid."""
    logits, means, log_scales = split_parameters(params)
    u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    tiny = torch.finfo(logits.dtype).tiny
    exponential = -torch.log(u.clamp(min=tiny))
    gumbel = -torch.log(exponential.clamp(min=tiny))
    component = (logits + gumbel).argmax(dim=-2, keepdim=True)
    mean = means.gather(-2, component).squeeze(-2)
    log_scale = log_scales.gather(-2, component).squeeze(-2)
    noise = logistic_noise(mean.shape, generator, mean.device, mean.dtype)
    return dequantize(quantize(mean + torch.exp(log_scale) * noise), params.dtype)
