"""Networks of the Siamese spoofing detector (the Siamese spoofing paper): Max-Feature-Map, the
five embedding backbones (shapes, gradients, the layer counts of section 3.2), the MLP
classifier of section 3.3 and table 2's original network."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from voxflow.antispoof.models import (BACKBONES, BONAFIDE, LCNN, SPOOF, BackboneConfig,
                                      BasicBlock, Bottleneck, ClassifierConfig, MaxFeatureMap,
                                      MLPClassifier, OriginalNetwork, SqueezeExcitation,
                                      build_backbone, countermeasure_score)


@pytest.fixture(autouse=True)
def seeded(one_thread):
    torch.manual_seed(0)


def test_max_feature_map_halves_channels_and_takes_the_max():
    x = torch.tensor([[[[1.0, -2.0]], [[5.0, 0.0]], [[3.0, -1.0]], [[4.0, 7.0]]]])  # (1, 4, 1, 2)
    y = MaxFeatureMap()(x)
    assert y.shape == (1, 2, 1, 2)
    assert torch.equal(y, torch.tensor([[[[3.0, -1.0]], [[5.0, 7.0]]]]))
    with pytest.raises(ValueError, match="even number"):
        MaxFeatureMap()(torch.zeros(1, 3, 2, 2))


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_tiny_backbone_embeds_any_length_and_passes_gradients(name):
    backbone = build_backbone(name, BackboneConfig.tiny())
    for frames in (40, 75):
        features = torch.randn(4, frames, 60)
        assert backbone(features).shape == (4, 32)
    features = torch.randn(4, 50, 60, requires_grad=True)
    backbone(features).square().sum().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0
    for parameter_name, parameter in backbone.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), parameter_name
    first = next(m for m in backbone.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 1 and first.weight.grad.abs().sum() > 0


def test_lcnn_has_the_layers_of_section_3_2_1():
    lcnn = LCNN(BackboneConfig.paper())
    convs = [m for m in lcnn.modules() if isinstance(m, nn.Conv2d)]
    nin = [c for c in convs if c.kernel_size == (1, 1)]
    assert len(convs) - len(nin) == 5 and len(nin) == 4
    pools = [m for m in lcnn.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 4 and all(p.kernel_size == 2 and p.stride == 2 for p in pools)
    assert sum(isinstance(m, MaxFeatureMap) for m in lcnn.modules()) == 9
    assert lcnn.fc.out_features == 512


@pytest.mark.parametrize("name, block, blocks, se, channels", [
    ("resnet18", BasicBlock, 8, False, 512), ("senet18", BasicBlock, 8, True, 512),
    ("senet34", BasicBlock, 16, True, 512), ("senet50", Bottleneck, 16, True, 2048)])
def test_paper_resnets_have_their_depth(name, block, blocks, se, channels):
    backbone = build_backbone(name, BackboneConfig.paper())
    found = [m for m in backbone.modules() if isinstance(m, (BasicBlock, Bottleneck))]
    assert len(found) == blocks and all(type(m) is block for m in found)
    assert sum(isinstance(m, SqueezeExcitation) for m in backbone.modules()) == (blocks if se
                                                                                  else 0)
    assert backbone.fc.in_features == channels * 16 and backbone.fc.out_features == 512


def test_squeeze_excitation_only_rescales_channels():
    se = SqueezeExcitation(8, 4)
    x = torch.randn(2, 8, 5, 6)
    ratio = se(x) / x
    # one weight in (0, 1) per (example, channel), the same at every position
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-5)
    assert ((ratio > 0) & (ratio < 1)).all()


def test_unknown_backbone_is_refused():
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        build_backbone("vgg")


def test_backbone_config_round_trips_through_json_lists():
    config = BackboneConfig.tiny()
    d = {**config.__dict__, "pooled": list(config.pooled)}
    assert BackboneConfig.from_dict(d) == config


def test_mlp_classifier_is_512_256_2_with_batch_norm_on_the_hidden_layer():
    mlp = MLPClassifier(ClassifierConfig.paper())
    assert (mlp.hidden.in_features, mlp.hidden.out_features) == (512, 256)
    assert mlp.norm.num_features == 256 and mlp.output.out_features == 2
    assert mlp(torch.randn(5, 512)).shape == (5, 2)
    mlp.eval()
    x = torch.randn(3, 512)
    hidden = torch.relu(mlp.norm(mlp.hidden(x)))
    assert torch.allclose(mlp(x), mlp.output(hidden))


def test_original_network_and_score_convention():
    model = OriginalNetwork(build_backbone("lcnn", BackboneConfig.tiny()))
    logits = model(torch.randn(3, 40, 60))
    assert logits.shape == (3, 2)
    scores = countermeasure_score(logits)
    log_probs = torch.log_softmax(logits, dim=-1)
    assert torch.allclose(scores, log_probs[:, BONAFIDE] - log_probs[:, SPOOF], atol=1e-6)
    assert countermeasure_score(torch.tensor([[0.0, 3.0]])).item() > 0   # bona fide: positive
