"""The spoofing detectors' losses under CPU bfloat16 autocast (the cast CUDA's default training
applies to convolutions and matmuls): finite, with finite gradients, and equal to float32
within bfloat16's precision, for eq. 3's contrastive loss on each backbone's embeddings and the
cross-entropy of the MLP classifier and of table 2's original network."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from voxflow.antispoof.losses import contrastive_loss
from voxflow.antispoof.models import (BACKBONES, BackboneConfig, ClassifierConfig, MLPClassifier,
                                      OriginalNetwork, build_backbone)
from voxflow.antispoof.sampling import sample_pairs

# bfloat16 keeps 8 bits of mantissa (relative step 2^-8 = 0.4 %) per value; averaged over the
# pairs the losses land within 2e-4 of float32 (measured), a network's worth of steps below this
RELATIVE_TOLERANCE = 0.01


pytestmark = pytest.mark.usefixtures("one_thread")


def features_and_labels(seed: int = 0, batch: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, 40 frames, 60 dims) features and alternating 0/1 labels."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 40, 60, generator=g), torch.arange(batch) % 2


def in_both_precisions(loss_of, module):
    """loss_of(module) in float32 and under bfloat16 autocast, each with its gradients."""
    results = []
    for autocast in (False, True):
        module.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = loss_of(module)
        loss.backward()
        grads = [p.grad.clone() for p in module.parameters() if p.grad is not None]
        results.append((loss.detach(), grads))
    return results


def assert_close_and_finite(results):
    (full, full_grads), (low, low_grads) = results
    assert full.dtype == low.dtype == torch.float32
    assert torch.isfinite(low) and all(torch.isfinite(g).all() for g in low_grads)
    assert low.item() == pytest.approx(full.item(), rel=RELATIVE_TOLERANCE)
    assert len(low_grads) == len(full_grads) > 0


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_contrastive_loss_on_backbone_embeddings(name):
    torch.manual_seed(0)
    backbone = build_backbone(name, BackboneConfig.tiny()).eval()  # batch norm: fixed statistics
    x, labels = features_and_labels()
    first, second, pair_label = sample_pairs(labels, 16, torch.Generator().manual_seed(1))

    def loss_of(model):
        embeddings = model(x)
        return contrastive_loss(embeddings[first], embeddings[second], pair_label, margin=2.0)

    assert_close_and_finite(in_both_precisions(loss_of, backbone))


def test_mlp_classifier_cross_entropy():
    torch.manual_seed(0)
    config = ClassifierConfig()
    classifier = MLPClassifier(config).eval()
    x = torch.randn(8, config.input_dim, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(8) % 2
    assert_close_and_finite(in_both_precisions(lambda m: F.cross_entropy(m(x), labels),
                                               classifier))


def test_original_network_cross_entropy():
    torch.manual_seed(0)
    network = OriginalNetwork(build_backbone("senet34", BackboneConfig.tiny())).eval()
    x, labels = features_and_labels()
    assert_close_and_finite(in_both_precisions(lambda m: F.cross_entropy(m(x), labels),
                                               network))
