"""Training pieces of the Siamese spoofing detector (the Siamese spoofing paper): eq. 3's
contrastive loss by hand, balanced minibatches and their pairs, eq. 4-5's learning-rate
schedule, the GMM baseline, and a few Siamese steps on separable features."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from voxflow.antispoof.gmm import GMMConfig, GMMCountermeasure
from voxflow.antispoof.losses import contrastive_loss
from voxflow.antispoof.models import BONAFIDE, SPOOF, BackboneConfig, build_backbone
from voxflow.antispoof.sampling import BalancedBatchSampler, sample_pairs
from voxflow.antispoof.schedule import warmup_decay_schedule


pytestmark = pytest.mark.usefixtures("one_thread")


# -------------------------------------------------------------------------- contrastive loss

def test_contrastive_loss_is_equation_3():
    # Euclidean distances 0.5, 5, 1 and 2.5 (3-4-5 triangles), margin 2
    first = torch.zeros(4, 2)
    second = torch.tensor([[0.3, 0.4], [3.0, 4.0], [0.6, 0.8], [1.5, 2.0]])
    y = torch.tensor([0, 0, 1, 1])   # same, same, different inside / outside the margin
    by_hand = [0.5 * 0.5, 0.5 * 5.0, 0.5 * (2 - 1.0), 0.0]
    assert contrastive_loss(first, second, y).item() == pytest.approx(sum(by_hand) / 4)
    # margin 1: the dissimilar pair at distance 1 sits on the margin and contributes nothing
    by_hand = [0.25, 2.5, 0.0, 0.0]
    assert contrastive_loss(first, second, y, margin=1.0).item() == pytest.approx(sum(by_hand) / 4)
    # the labels swapped: similar pairs pay distance, dissimilar ones the hinge
    by_hand = [0.5 * 1.5, 0.0, 0.5 * 1.0, 0.5 * 2.5]
    assert contrastive_loss(first, second, 1 - y).item() == pytest.approx(sum(by_hand) / 4)


def test_contrastive_loss_gradients_pull_similar_and_push_dissimilar_pairs():
    first = torch.zeros(2, 2, requires_grad=True)
    second = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    contrastive_loss(first, second, torch.tensor([0, 1])).backward()
    # d/dfirst of 1/4 ||first - second|| for the similar pair: towards `second`
    assert torch.allclose(first.grad[0], torch.tensor([-0.25, 0.0]))
    assert torch.allclose(first.grad[1], torch.tensor([0.25, 0.0]))   # and away for the other
    coincident = torch.ones(1, 3, requires_grad=True)
    contrastive_loss(coincident, torch.ones(1, 3), torch.tensor([1])).backward()
    assert torch.isfinite(coincident.grad).all()


# --------------------------------------------------------------------------------- sampling

@pytest.fixture
def labels():
    order = torch.randperm(300, generator=torch.Generator().manual_seed(3))
    return torch.tensor([BONAFIDE] * 40 + [SPOOF] * 260)[order]


def test_balanced_batches_are_half_bona_fide(labels):
    sampler = BalancedBatchSampler(labels, batch_size=64, seed=7)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 300 // 64
    for batch in batches:
        assert len(batch) == 64 and all(0 <= i < 300 for i in batch)
        assert Counter(labels[batch].tolist()) == {BONAFIDE: 32, SPOOF: 32}
    # the minority class is cycled: each bona fide utterance 3 or 4 times in 128 draws
    counts = Counter(i for batch in batches for i in batch if labels[i] == BONAFIDE)
    assert len(counts) == 40 and set(counts.values()) <= {3, 4}
    # the spoof class: 128 distinct draws out of 260
    assert len({i for batch in batches for i in batch if labels[i] == SPOOF}) == 128


def test_balanced_batches_are_deterministic_per_seed_and_epoch(labels):
    sampler = BalancedBatchSampler(labels, batch_size=16, seed=7)
    first = list(sampler)
    assert list(BalancedBatchSampler(labels, batch_size=16, seed=7)) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert list(BalancedBatchSampler(labels, batch_size=16, seed=8)) != first
    with pytest.raises(ValueError, match="even"):
        BalancedBatchSampler(labels, batch_size=15)
    with pytest.raises(ValueError, match="bona fide"):
        BalancedBatchSampler([SPOOF] * 10)
    with pytest.raises(ValueError, match="labels must be"):
        BalancedBatchSampler([0, 1, 2])


def test_pairs_are_fifty_distinct_pairs_with_equation_3_labels(labels):
    batch = labels[next(iter(BalancedBatchSampler(labels, batch_size=64, seed=0)))]
    pairs = sample_pairs(batch, 50, torch.Generator().manual_seed(1))
    assert len(pairs.first) == len(pairs.second) == len(pairs.label) == 50
    assert (pairs.first < pairs.second).all()                     # distinct positions
    assert len(set(zip(pairs.first.tolist(), pairs.second.tolist()))) == 50
    for i, j, y in zip(*pairs):
        assert y == (0 if batch[i] == batch[j] else 1)
    assert 0 < pairs.label.sum() < 50                              # both kinds in a 50-pair draw
    again = sample_pairs(batch, 50, torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(pairs, again))
    with pytest.raises(ValueError, match="distinct pairs"):
        sample_pairs(batch[:4], 7)


# --------------------------------------------------------------------------------- schedule

def test_schedule_is_equation_4_and_5():
    alpha, n = 0.01, 10
    gamma = n * math.sqrt(2 * n)                                   # eq. 5: 44.72
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=alpha)
    scheduler = warmup_decay_schedule(optimizer, batches_per_epoch=n)
    seen = []
    for step in range(60):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    for step in (0, 1, 5, 11, 12, 13, 30, 59):
        expected = alpha * min((step + 1) / gamma, 1 / math.sqrt(step + 1))
        assert seen[step] == pytest.approx(expected, rel=1e-12)
    assert seen[0] == pytest.approx(alpha / gamma)
    assert seen[30] == pytest.approx(alpha / math.sqrt(31))
    # warm-up for 2^(1/3) N = 12.6 iterations, then decay
    peak = int(np.argmax(seen))
    assert peak in (11, 12) and all(a < b for a, b in zip(seen[:peak], seen[1:peak + 1]))
    assert all(a > b for a, b in zip(seen[peak:], seen[peak + 1:]))


# ------------------------------------------------------------------------------------- GMM

def _utterances(rng, mean, count):
    return [rng.normal(mean, 1.0, size=(int(rng.integers(30, 60)), 3)) for _ in range(count)]


def test_gmm_scores_separate_two_gaussian_classes():
    rng = np.random.default_rng(0)
    bona, spoof = np.array([0.0, 0.0, 0.0]), np.array([1.0, -1.0, 0.5])
    config = GMMConfig(components=4, max_frames=20000, max_iter=50)
    gmm = GMMCountermeasure(config).fit(_utterances(rng, bona, 20), _utterances(rng, spoof, 20))
    bona_scores = gmm.score_many(_utterances(rng, bona, 15))
    spoof_scores = gmm.score_many(_utterances(rng, spoof, 15))
    assert bona_scores.min() > 0 > spoof_scores.max()
    assert gmm.bonafide.covariance_type == "diag" and gmm.bonafide.n_components == 4


def test_gmm_frame_subsampling_is_seeded():
    rng = np.random.default_rng(1)
    bona, spoof = _utterances(rng, 0.0, 10), _utterances(rng, 2.0, 10)
    config = GMMConfig(components=2, max_frames=100, seed=3)
    a = GMMCountermeasure(config).fit(bona, spoof)
    b = GMMCountermeasure(config).fit(bona, spoof)
    np.testing.assert_array_equal(a.bonafide.means_, b.bonafide.means_)
    assert GMMConfig.paper().components == 512
    with pytest.raises(RuntimeError, match="fit"):
        GMMCountermeasure(config).score(bona[0])


# ------------------------------------------------------------------------- Siamese training

def spectral_classes(count: int, generator: torch.Generator, ripple: float = 0.8):
    """`count` utterances of 40 frames x 60 dims, alternately bona fide and spoof, white noise
    with a spectral ripple (period 6 bins, amplitude `ripple`) on the spoof ones: features
    (count, 40, 60), labels (count,)."""
    labels = torch.tensor([BONAFIDE, SPOOF] * (count // 2))
    features = torch.randn(count, 40, 60, generator=generator)
    features[labels == SPOOF] += ripple * torch.cos(torch.arange(60) * 2 * torch.pi / 6)
    return features, labels


def separation(embeddings: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean between-class over mean within-class Euclidean distance: 1 when the classes mix,
    unchanged by scaling every embedding (eq. 3's loss is not)."""
    distances = torch.cdist(embeddings, embeddings)
    same = labels[:, None] == labels[None]
    within = same & ~torch.eye(len(labels), dtype=torch.bool)
    return (distances[~same].mean() / distances[within].mean()).item()


def siamese_separation(shuffle_labels: bool = False, steps: int = 30) -> tuple[float, float]:
    """A tiny LCNN trained `steps` eq. 3 steps (Adam 1e-2, balanced batches of 16, 20 pairs) on
    64 spectral-ripple utterances (their labels shuffled if asked) -> the separation of 64
    held-out utterances' evaluation-mode embeddings before and after."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    features, labels = spectral_classes(64, g)
    held_out, held_out_labels = spectral_classes(64, g)
    if shuffle_labels:
        labels = labels[torch.randperm(len(labels), generator=g)]
    backbone = build_backbone("lcnn", BackboneConfig.tiny())

    def held_out_separation():
        backbone.eval()
        with torch.no_grad():
            value = separation(backbone(held_out), held_out_labels)
        backbone.train()
        return value

    before = held_out_separation()
    optimizer = torch.optim.Adam(backbone.parameters(), lr=1e-2)
    for batch in BalancedBatchSampler(labels, batch_size=16, seed=0, batches_per_epoch=steps):
        pairs = sample_pairs(labels[batch], 20, g)
        embeddings = backbone(features[batch])
        loss = contrastive_loss(embeddings[pairs.first], embeddings[pairs.second], pairs.label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return before, held_out_separation()


def test_siamese_training_separates_held_out_bona_fide_and_spoof_embeddings():
    """Eq. 3 training moves the classes apart relative to their spread, on unseen utterances."""
    before, after = siamese_separation()
    assert before < 1.2 and after > 3 * before, (before, after)


def test_siamese_training_on_shuffled_labels_does_not_separate_the_classes():
    """The separation comes from the labels: training on shuffled ones leaves the classes mixed."""
    before, after = siamese_separation(shuffle_labels=True)
    assert after < 2 * before, (before, after)
