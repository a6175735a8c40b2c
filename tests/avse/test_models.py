"""MHCA-AVCRN, its ablations and the audio-only CRN (paper 001, section 2) on the tiny
configuration: shapes, the 2-stage MHCA block, the video's influence, padding, bf16 autocast and
a short fit."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from voxflow.avse.layers import TwoStageMHCA, frame_mask
from voxflow.avse.models import VARIANTS, AVSEConfig, AVSENet, mel_mse

AV_VARIANTS = [v for v in VARIANTS if v != "audio_only"]


def make_config(variant: str = "mhca", **overrides) -> AVSEConfig:
    return replace(AVSEConfig.tiny(variant), **overrides)


def make_inputs(batch: int = 2, video_frames: int = 3, seed: int = 0,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Random normalised mel (batch, 4 * video_frames, 80) and crops (batch, video_frames,
    80, 80)."""
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(batch, 4 * video_frames, 80, generator=g, dtype=dtype)
    video = torch.rand(batch, video_frames, 80, 80, generator=g, dtype=dtype) - 0.5
    return mel, video


def video_for(config: AVSEConfig, video: torch.Tensor) -> torch.Tensor | None:
    return video if config.uses_video else None


def make_live(model: AVSENet, alpha: float = 0.5, beta: float = 0.5, seed: int = 1) -> AVSENet:
    """The model with what starts at zero moved off it: alpha and beta of every MHCA block set,
    and the zero-initialised output layer redrawn, so that every path reaches the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in (getattr(skip, "block", None) for skip in model.skips):
            if getattr(block, "alpha", None) is not None:
                block.alpha.fill_(alpha)
            if getattr(block, "beta", None) is not None:
                block.beta.fill_(beta)
        for p in model.output.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def make_block(channels: int = 8, heads: int = 2, seed: int = 0, **parts) -> TwoStageMHCA:
    """An MHCA block whose gate has random weights and bias (instead of PyTorch's small ones)."""
    torch.manual_seed(seed)
    block = TwoStageMHCA(channels, heads, **parts)
    with torch.no_grad():
        for p in block.gate.parameters():
            p.normal_()
    return block


def feature_pair(channels: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random fused and decoder maps, each (2, channels, 10, 12)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, channels, 10, 12, generator=g),
            torch.randn(2, channels, 10, 12, generator=g))


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_returns_a_mel_of_the_input_shape(variant):
    config = make_config(variant)
    mel, video = make_inputs()
    assert AVSENet(config)(mel, video_for(config, video)).shape == mel.shape


def test_paper_preset_has_crn_sizes_and_the_input_shape():
    config = AVSEConfig.paper()
    model = AVSENet(config)
    assert model.freqs == [80, 40, 20, 10, 5, 3]
    assert model.bottleneck.lstm.input_size == 256 * 3
    assert 2 * model.bottleneck.lstm.hidden_size == 256 * 3
    mel, video = make_inputs(batch=1, video_frames=2)
    assert model(mel, video).shape == mel.shape


def test_untrained_network_returns_its_input():
    mel, video = make_inputs()
    assert torch.equal(AVSENet(make_config())(mel, video), mel)


@pytest.mark.parametrize("parts", [{}, {"balancing": False}], ids=["mhca", "no_balancing"])
def test_mhca_at_zero_alpha_and_beta_is_the_constant_gate_on_the_decoder_feature(parts):
    block = make_block(**parts)
    fused, decoder = feature_pair()
    gate = torch.sigmoid(block.gate.bias)[None, :, None, None]
    assert torch.equal(block(fused, decoder), gate * decoder)


def test_nonzero_beta_changes_the_mhca_output():
    block = make_block()
    fused, decoder = feature_pair()
    constant = block(fused, decoder)
    with torch.no_grad():
        block.beta.fill_(0.5)
    assert (block(fused, decoder) - constant).abs().max() > 1e-3


def test_alpha_changes_the_mhca_output_once_beta_is_nonzero():
    block = make_block()
    fused, decoder = feature_pair()
    with torch.no_grad():
        block.beta.fill_(0.5)
        before = block(fused, decoder)
        block.alpha.fill_(0.5)
    assert (block(fused, decoder) - before).abs().max() > 1e-3


def test_beta_learns_from_initialisation():
    """At alpha = beta = 0 beta's gradient is Y V, non-zero (the printed eq. 2 without V's
    residual would give both zero gradient); alpha's is zero until beta moves."""
    block = make_block()
    fused, decoder = feature_pair()
    weights = torch.randn(decoder.shape, generator=torch.Generator().manual_seed(3))
    (block(fused, decoder) * weights).sum().backward()
    assert block.beta.grad.abs() > 1e-4
    assert block.alpha.grad == 0


def test_no_filtering_gates_with_the_fused_feature_at_zero_alpha():
    block = make_block(filtering=False)
    fused, decoder = feature_pair()
    changed = fused.clone()
    changed[:, :, :, 5:] += 1.0
    assert block.beta is None and block.query is None
    assert (block(fused, decoder) - block(changed, decoder)).abs().max() > 1e-3


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_parameter_gets_a_gradient_once_alpha_and_beta_are_nonzero(variant):
    config = make_config(variant)
    model = make_live(AVSENet(config))
    mel, video = make_inputs()
    mel_mse(model(mel, video_for(config, video)), torch.zeros_like(mel)).backward()
    silent = [name for name, p in model.named_parameters() if not p.grad.abs().sum() > 0]
    assert not silent


@pytest.mark.parametrize("variant", AV_VARIANTS)
def test_the_video_changes_the_output(variant):
    """In training mode: batch statistics normalise each layer, as in training (the untrained
    running statistics of eval mode let the small video features fade on the way)."""
    model = make_live(AVSENet(make_config(variant)))
    mel, video = make_inputs()
    _, other = make_inputs(seed=1)
    with torch.no_grad():
        assert (model(mel, video) - model(mel, other)).abs().max() > 0.1


def test_audio_only_takes_no_video_and_has_no_video_stream():
    model = AVSENet(make_config("audio_only"))
    mel, video = make_inputs()
    assert model.video is None and model.audio is None
    with pytest.raises(ValueError, match="audio_only variant takes no video"):
        model(mel, video)


@pytest.mark.parametrize("variant", AV_VARIANTS)
def test_audio_visual_variants_need_the_video(variant):
    mel, _ = make_inputs()
    with pytest.raises(ValueError, match=f"{variant} variant needs the video"):
        AVSENet(make_config(variant))(mel)


def test_video_of_the_wrong_length_is_rejected():
    mel, video = make_inputs(video_frames=3)
    with pytest.raises(ValueError, match="4 mel frames per video frame"):
        AVSENet(make_config())(mel, video[:, :2])


@pytest.mark.parametrize("variant", VARIANTS)
def test_valid_frames_of_a_padded_utterance_equal_the_utterance_alone(variant):
    """In eval mode, float64: equal up to rounding (1e-10), whatever the padding holds."""
    config = make_config(variant)
    model = make_live(AVSENet(config)).double().eval()
    mel, video = make_inputs(video_frames=5, dtype=torch.float64)     # padded to 20 frames
    lengths = torch.tensor([12, 20])
    with torch.no_grad():
        padded = model(mel, video_for(config, video), lengths)
        alone = model(mel[:1, :12], video_for(config, video[:1, :3]))
    assert (padded[0, :12] - alone[0]).abs().max() < 1e-10


@pytest.mark.parametrize("variant", VARIANTS)
def test_padded_frames_of_the_output_are_zero(variant):
    config = make_config(variant)
    model = make_live(AVSENet(config))
    mel, video = make_inputs(video_frames=5)
    out = model(mel, video_for(config, video), torch.tensor([10, 20]))
    assert not out[0, 10:].any() and out[0, :10].abs().min() > 0


def test_mhca_ignores_the_padding_of_its_inputs():
    block = make_block()
    with torch.no_grad():
        block.alpha.fill_(0.5)
        block.beta.fill_(0.5)
    block.eval()
    fused, decoder = feature_pair()
    mask = frame_mask(torch.tensor([7, 12]), 12, fused)
    with torch.no_grad():
        padded = block(fused * mask, decoder * mask, mask)   # the model's maps are masked
        alone = block(fused[:1, :, :, :7], decoder[:1, :, :, :7])
    assert (padded[0, :, :, :7] - alone[0]).abs().max() < 1e-5


def test_loss_under_cpu_bf16_autocast_is_finite_and_close_to_float32():
    model = make_live(AVSENet(make_config())).eval()
    mel, video = make_inputs()
    clean = 0.5 * mel
    with torch.no_grad():
        full = mel_mse(model(mel, video), clean)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = mel_mse(model(mel, video), clean)
    assert low.dtype == torch.float32 and torch.isfinite(low)
    assert abs(low.item() - full.item()) < 0.01 * full.item()


def test_a_few_adam_steps_fit_a_small_batch():
    torch.manual_seed(0)
    model = AVSENet(make_config())
    mel, video = make_inputs(video_frames=5)
    clean = (mel.roll(1, dims=1) + mel + mel.roll(-1, dims=1)) / 3   # smoothed over time
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = mel_mse(model(mel, video), clean)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_mel_mse_skips_the_padded_frames():
    clean = torch.zeros(2, 4, 80)
    enhanced = clean.clone()
    enhanced[0, 3] = 10.0                       # error only on a padded frame of utterance 0
    enhanced[1, :] = 1.0
    assert mel_mse(enhanced, clean, torch.tensor([3, 4])).item() == pytest.approx(4 / 7)


def test_config_round_trips_through_json():
    config = make_config("no_filtering", channels=(8, 16))
    assert AVSEConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(("overrides", "message"), [
    ({"variant": "late_fusion"}, "unknown AV-SE variant 'late_fusion'"),
    ({"channels": (4, 6)}, "do not all divide into 4 heads"),
    ({"video_width": 0}, "video_width 0 is not in 1..n_mels"),
])
def test_config_rejects_bad_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_config(**{"heads": 4, **overrides})
