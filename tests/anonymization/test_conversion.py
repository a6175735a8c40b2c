"""WavLM feature conversion (paper 003 section 2.2): the FastSpeech2-style converter, its
padding mask, the gradient-reversed speaker adversary, the discretized CTC objective, the batch
sampler with target reconstruction pairs, training, bf16 autocast and saving."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from voxflow.anonymization import asv
from voxflow.anonymization.conversion import (
    IGNORED_SPEAKER, ConversionObjective, ConversionTraining, ConverterConfig, FeatureConverter,
    SpeakerAdversary, assign_units, collapse_units, convert, fit_units, load_converter,
    pair_sampler, save_converter, train_converter, unit_ctc_loss, unit_logits)
from voxflow.anonymization.ssl import seeded

DIM = 16


def model_config(**overrides) -> ConverterConfig:
    settings = {"feature_dim": DIM, "hidden": 32, "encoder_layers": 1, "decoder_layers": 1,
                "heads": 2, "filter_size": 64, "dropout": 0.0}
    return ConverterConfig(**{**settings, **overrides})


def training_config(**overrides) -> ConversionTraining:
    settings = {"steps": 10, "batch_size": 6, "crop_frames": 40, "lr": 3e-3, "warmup_steps": 5,
                "reconstruction_share": 1 / 3, "units": 8, "checkpoint_every": 1000,
                "log_every": 5}
    return ConversionTraining(**{**settings, **overrides})


def toy_data(speakers: int = 3, utts: int = 4, frames: int = 60, seed: int = 0):
    """sources, targets = sources @ W (a fixed linear map: the 'conversion'), source speakers,
    and the target speaker's own frames (also in W's image)."""
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((DIM, DIM)) / np.sqrt(DIM)).astype(np.float32)
    sources = [rng.standard_normal((frames + 7 * i, DIM)).astype(np.float32)
               for i in range(speakers * utts)]
    own = [rng.standard_normal((frames, DIM)).astype(np.float32) @ weight for _ in range(3)]
    return (sources, [s @ weight for s in sources],
            [f"s{i // utts}" for i in range(speakers * utts)], own)


def converter(seed: int = 0, **overrides) -> FeatureConverter:
    with seeded(seed):
        return FeatureConverter(model_config(**overrides)).eval()


def objective_and_batch(training: ConversionTraining, seed: int = 0):
    """A ConversionObjective with every part (3 speakers, 8 random centroids) and one batch."""
    sources, targets, _, own = toy_data()
    with seeded(seed):
        centroids = F.normalize(torch.randn(training.units, DIM), dim=1)
        objective = ConversionObjective(FeatureConverter(model_config()), training, 3, centroids)

    def triple(source, target):
        units = torch.from_numpy(assign_units(target, centroids.numpy()))
        return torch.from_numpy(source), torch.from_numpy(target), units

    sample = pair_sampler([triple(s, t) for s, t in zip(sources, targets)],
                          torch.arange(len(sources)) % 3, [triple(f, f) for f in own], training)
    return objective, sample(torch.Generator().manual_seed(seed))


def frame_loss(model: FeatureConverter, sources, targets) -> float:
    return float(np.mean([np.abs(convert(model, s) - t).mean() + ((convert(model, s) - t) ** 2
                                                                   ).mean()
                          for s, t in zip(sources, targets)]))


# --- the discretized objective ----------------------------------------------------------------

def test_collapse_units_merges_repeats():
    units = torch.tensor([3, 3, 1, 1, 1, 3, 0, 0, 2])
    assert collapse_units(units).tolist() == [3, 1, 3, 0, 2]


def test_unit_logits_put_the_blank_first():
    centroids, blank = torch.eye(4)[:3], torch.eye(4)[3]
    frames = torch.stack([blank, 2 * centroids[1]])[None]             # (1, 2, 4)
    logits = unit_logits(frames, centroids, blank, temperature=0.5)
    assert logits.shape == (1, 2, 4)
    assert torch.allclose(logits[0], torch.tensor([[2.0, 0, 0, 0], [0, 0, 2.0, 0]]))


def test_ctc_prefers_frames_in_the_sequence_order():
    centroids, blank = torch.eye(6)[:4], torch.eye(6)[5]
    sequence = torch.tensor([0, 1, 2, 3])
    ordered = centroids[[0, 0, 1, 1, 2, 2, 3, 3]][None]
    reversed_ = centroids[[3, 3, 2, 2, 1, 1, 0, 0]][None]
    lengths = torch.tensor([8])

    def loss(frames):
        return float(unit_ctc_loss(frames, lengths, [sequence], centroids, blank, 0.1))

    assert loss(ordered) < 0.01
    assert loss(reversed_) > 100 * loss(ordered)


def test_fit_units_finds_cosine_clusters_and_assign_units_ignores_norm():
    rng = np.random.default_rng(0)
    directions = np.eye(DIM, dtype=np.float32)[:3]
    labels = rng.integers(3, size=300)
    frames = (directions[labels] + 0.05 * rng.standard_normal((300, DIM))) \
        * rng.uniform(0.5, 5, size=(300, 1))
    centroids = fit_units(frames.astype(np.float32), 3, seed=0)
    assert centroids.shape == (3, DIM)
    assert (np.abs(centroids @ directions.T).max(axis=0) > 0.99).all()
    match = (centroids @ directions.T).argmax(axis=1)                 # centroid -> direction
    assert (match[assign_units(frames, centroids)] == labels).all()


# --- the converter and the adversary ----------------------------------------------------------

def test_converter_keeps_the_shape():
    features = torch.randn(3, 25, DIM)
    assert converter()(features, torch.tensor([25, 20, 5])).shape == (3, 25, DIM)


@pytest.mark.parametrize("grad", [False, True])   # without: torch's fast attention path
def test_padded_frames_do_not_change_valid_outputs(grad):
    model = converter()
    features = torch.randn(1, 20, DIM)
    padded = torch.cat([features, 100 * torch.randn(1, 10, DIM)], dim=1)
    batch = torch.cat([padded, torch.randn(1, 30, DIM)])
    with torch.set_grad_enabled(grad):
        alone = model(features, torch.tensor([20]))
        together = model(batch, torch.tensor([20, 30]))
    assert torch.allclose(together[0, :20], alone[0], atol=1e-5)
    assert (together[0, 20:] == 0).all()


def test_gradient_reversal_negates_and_scales_the_classifier_gradient():
    torch.manual_seed(0)
    adversary = SpeakerAdversary(asv.MODELS["tiny"], DIM, speakers=3, scale=0.5).eval()
    features = torch.randn(4, 30, DIM, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 1])
    reversed_grad, = torch.autograd.grad(F.cross_entropy(adversary(features), labels), features)
    plain_grad, = torch.autograd.grad(F.cross_entropy(adversary.logits(features), labels),
                                      features)
    assert plain_grad.abs().max() > 0
    assert torch.allclose(reversed_grad, -0.5 * plain_grad, atol=1e-7)


def test_gradient_reversal_leaves_the_classifier_gradient_alone():
    torch.manual_seed(0)
    adversary = SpeakerAdversary(asv.MODELS["tiny"], DIM, speakers=3, scale=0.5).eval()
    features, labels = torch.randn(4, 30, DIM), torch.tensor([0, 1, 2, 1])
    weight = adversary.output.weight
    reversed_grad, = torch.autograd.grad(F.cross_entropy(adversary(features), labels), weight)
    plain_grad, = torch.autograd.grad(F.cross_entropy(adversary.logits(features), labels),
                                      weight)
    assert torch.equal(reversed_grad, plain_grad)


# --- batches, training, precision -------------------------------------------------------------

@pytest.mark.parametrize("share, own_rows", [(0.0, 0), (0.25, 2), (0.5, 4)])
def test_reconstruction_share_sets_the_target_pairs_of_a_batch(share, own_rows):
    training = training_config(batch_size=8, reconstruction_share=share)
    sources, targets, _, own = toy_data()
    triple = lambda s, t: (torch.from_numpy(s), torch.from_numpy(t), None)  # noqa: E731
    sample = pair_sampler([triple(s, t) for s, t in zip(sources, targets)],
                          torch.zeros(len(sources), dtype=torch.long),
                          [triple(f, f) for f in own], training)
    batch = sample(torch.Generator().manual_seed(0))
    reconstruction = batch["speakers"] == IGNORED_SPEAKER
    assert int(reconstruction.sum()) == own_rows
    identical = (batch["sources"] == batch["targets"]).flatten(1).all(dim=1)
    assert torch.equal(identical, reconstruction)


def test_training_lowers_the_frame_loss(tmp_path):
    sources, targets, speakers, own = toy_data()
    training = training_config(steps=150, lr=1e-2, warmup_steps=20, adversarial_weight=0.0,
                               discrete_weight=0.0)
    before = frame_loss(converter(), sources, targets)     # train_converter's initial weights
    model = train_converter(sources, targets, speakers, own, tmp_path, model_config(), training)
    assert frame_loss(model, sources, targets) < 0.5 * before


def test_training_is_deterministic_for_a_seed(tmp_path):
    sources, targets, speakers, own = toy_data()
    runs = [train_converter(sources, targets, speakers, own, tmp_path / str(run), model_config(),
                            training_config(), seed=3).state_dict() for run in range(2)]
    assert all(torch.equal(runs[0][name], runs[1][name]) for name in runs[0])


def test_every_loss_term_is_finite_and_close_to_fp32_under_bf16_autocast():
    objective, batch = objective_and_batch(training_config())
    objective.eval()
    with torch.no_grad():
        _, full = objective(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, mixed = objective(batch)
    assert {"l1", "l2", "ctc", "adversary"} <= full.keys()
    for name in ("l1", "l2", "ctc", "adversary"):
        assert torch.isfinite(mixed[name])
        assert float(mixed[name]) == pytest.approx(float(full[name]), rel=0.05), name


def test_save_and_load_give_the_same_outputs(tmp_path):
    model = converter(seed=1)
    features = np.random.default_rng(0).standard_normal((33, DIM)).astype(np.float32)
    path = save_converter(model, tmp_path / "converter.pt", {"speakers": ["a", "b"]})
    assert np.array_equal(convert(load_converter(path), features), convert(model, features))
    assert torch.load(path, weights_only=True)["extra"] == {"speakers": ["a", "b"]}


# --- bad inputs -------------------------------------------------------------------------------

def _one_speaker(data):
    sources, targets, speakers, own = data
    return sources, targets, ["s0"] * len(speakers), own


@pytest.mark.parametrize("corrupt, message", [
    (lambda d: ([], [], [], d[3]), "sources is empty"),
    (lambda d: (d[0], d[1][:-1], d[2], d[3]), "one of each per pair"),
    (lambda d: (d[0], d[1], d[2][:-1], d[3]), "one of each per pair"),
    (lambda d: (d[0][:1] + [np.zeros((9, DIM + 1), np.float32)] + d[0][2:], *d[1:]),
     r"sources\[1\] must be \(frames >= 1, feature_dim=16\)"),
    (lambda d: (d[0], [t[:-1] for t in d[1]], d[2], d[3]), "frame-aligned"),
    (lambda d: (*d[:3], []), "target_frames is empty"),
    (_one_speaker, "at least 2 source speakers"),
])
def test_train_converter_names_bad_inputs(tmp_path, corrupt, message):
    with pytest.raises(ValueError, match=message):
        train_converter(*corrupt(toy_data()), tmp_path, model_config(), training_config())


@pytest.mark.parametrize("overrides, message", [
    ({"reconstruction_share": 0.95}, "leaves no conversion pair"),
    ({"batch_size": 3, "reconstruction_share": 0.5}, "needs >= 2 conversion pairs"),
    ({"frame_weight": 0.0, "discrete_weight": 0.0}, "nothing teaches"),
    ({"adversary": "huge"}, "adversary must be one of"),
    ({"temperature": 0.0}, "temperature must be > 0"),
])
def test_training_config_names_bad_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        training_config(**overrides)


def test_converter_and_convert_name_bad_shapes():
    with pytest.raises(ValueError, match="hidden 30 must be divisible by heads 4"):
        model_config(hidden=30, heads=4)
    with pytest.raises(ValueError, match="lengths must be"):
        converter()(torch.randn(2, 10, DIM), torch.tensor([10, 11]))
    with pytest.raises(ValueError, match=r"features\[0\] must be"):
        convert(converter(), np.zeros((10, DIM + 2), np.float32))
    with pytest.raises(ValueError, match="unit sequences for"):
        unit_ctc_loss(torch.randn(2, 5, DIM), torch.tensor([5, 5]), [torch.tensor([0])],
                      torch.eye(DIM)[:3], torch.eye(DIM)[3], 0.1)

