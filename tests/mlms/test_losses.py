"""masked_mse (paper 002, section 3's objective): padding ignored, the mean over valid frames,
float32 under CPU bf16 autocast with the MLMS network's forward."""
from __future__ import annotations

import pytest
import torch

from voxflow.mlms.losses import masked_mse
from voxflow.mlms.models import MLMSConfig, MLMSNet


def make_pair(batch: int = 2, frames: int = 6, dim: int = 3, seed: int = 0
              ) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, frames, dim, generator=g),
            torch.randn(batch, frames, dim, generator=g))


def test_padded_frames_do_not_change_the_loss():
    prediction, target = make_pair()
    lengths = torch.tensor([6, 3])
    other_prediction, other_target = prediction.clone(), target.clone()
    other_prediction[1, 3:] = 100.0
    other_target[1, 3:] = -100.0
    assert torch.equal(masked_mse(prediction, target, lengths),
                       masked_mse(other_prediction, other_target, lengths))


def test_loss_is_the_mean_over_valid_frames_and_dims():
    prediction, target = make_pair()
    lengths = [6, 3]
    errors = torch.cat([(prediction[i, :n] - target[i, :n]).flatten()
                        for i, n in enumerate(lengths)])
    assert torch.allclose(masked_mse(prediction, target, torch.tensor(lengths)),
                          errors.square().mean())


def test_lengths_beyond_the_frames_raise():
    prediction, target = make_pair(frames=4)
    with pytest.raises(ValueError, match="lengths"):
        masked_mse(prediction, target, torch.tensor([4, 5]))


def test_loss_under_cpu_bf16_autocast_is_finite_and_close_to_float32():
    torch.manual_seed(0)
    config = MLMSConfig(projection_dim=16, lstm_cells=16, lstm_projection=8, lstm_layers=2,
                        basis_towers=2, out_dim=5)
    model = MLMSNet(4, config, ["fr", "de"], ["fr_female1", "de_female1"]).eval()
    with torch.no_grad():
        for layer in model.outputs.values():
            layer.recurrent.copy_(0.3 * torch.eye(5))       # exercise the recurrence
    x, _ = make_pair(frames=20, dim=4)
    target = torch.zeros(2, 20, 5)
    lengths = torch.tensor([20, 12])
    languages, speakers = ["fr", "de"], ["de_female1", "fr_female1"]
    with torch.no_grad():
        full = masked_mse(model(x, languages, speakers), target, lengths)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = masked_mse(model(x, languages, speakers), target, lengths)
    assert low.dtype == torch.float32 and torch.isfinite(low)
    assert abs(low.item() - full.item()) < 0.01 * full.item()
