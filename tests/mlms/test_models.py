"""The MLMS network, baseline and duration model (paper 002, eq. 1-2) on tiny sizes: shapes,
the tower combination, language codes, per-utterance conditioning in mixed batches, the
recurrent output layer and the gradients of each adaptation phase."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from voxflow.mlms.layers import LanguageCodes, RecurrentOutput
from voxflow.mlms.models import (ADAPTATION_SETUPS, PHASES, MLMSConfig, MLMSNet,
                                 trainable_parameters)
from voxflow.synth.languages import HELD_OUT_LANGUAGES, TRAINING_LANGUAGES

INPUT_DIM = 6
LANGUAGES = list(TRAINING_LANGUAGES[:3])
SPEAKERS = [f"{language}_female1" for language in LANGUAGES]
NEW_LANGUAGE = HELD_OUT_LANGUAGES[0]
NEW_SPEAKER = f"{NEW_LANGUAGE}_female1"


def make_config(**overrides) -> MLMSConfig:
    """Tiny sizes, one basis tower per test language (so one-hot codes fit)."""
    sizes = dict(projection_dim=8, lstm_cells=8, lstm_projection=4, lstm_layers=2,
                 basis_towers=len(LANGUAGES), out_dim=5)
    return MLMSConfig(**{**sizes, **overrides})


def make_model(code_setup: str = "rand", languages: list[str] = LANGUAGES,
               speakers: list[str] = SPEAKERS, seed: int = 0, **config) -> MLMSNet:
    torch.manual_seed(seed)
    return MLMSNet(INPUT_DIM, make_config(**config), list(languages), list(speakers),
                   code_setup)


def make_inputs(batch: int = 2, frames: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, frames, INPUT_DIM, generator=torch.Generator().manual_seed(seed))


def set_recurrent(layer: RecurrentOutput, scale: float = 0.3, seed: int = 1) -> RecurrentOutput:
    """The layer with a random recurrent matrix R instead of its zero init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.recurrent.copy_(scale * torch.randn(layer.recurrent.shape, generator=g))
    return layer


def backward_sum(model: MLMSNet, languages: list[str], speakers: list[str]) -> None:
    model.zero_grad(set_to_none=True)
    model(make_inputs(batch=len(languages)), languages, speakers).square().sum().backward()


def names_with_grad(model: MLMSNet) -> set[str]:
    return {name for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("out_dim", [49, 1], ids=["acoustic", "duration"])
def test_forward_gives_out_dim_values_per_frame(out_dim):
    model = make_model(out_dim=out_dim)
    x = make_inputs(batch=2, frames=7)
    assert model(x, LANGUAGES[:2], SPEAKERS[:2]).shape == (2, 7, out_dim)


def test_paper_config_has_the_paper_sizes():
    model = MLMSNet(INPUT_DIM, MLMSConfig(), list(TRAINING_LANGUAGES), SPEAKERS[:1])
    output = model.outputs[SPEAKERS[0]]
    lstm = model.mean_tower.lstm
    assert len(model.basis_towers) == 6
    assert model.mean_tower.projection.out_features == 256
    assert (lstm.hidden_size, lstm.proj_size, lstm.num_layers) == (256, 128, 3)
    assert output.forward_weights.weight.shape == (49, 128)      # the paper's 128 x 49
    assert output.recurrent.shape == (49, 49)
    assert output.forward_weights.bias.shape == (49,)


@pytest.mark.parametrize("index", range(len(LANGUAGES)))
def test_onehot_code_gives_the_mean_tower_plus_that_language_tower(index):
    model = make_model("onehot-init")
    x = make_inputs()
    with torch.no_grad():
        h = model.hidden(x, [LANGUAGES[index]] * 2)
        expected = model.mean_tower(x) + model.basis_towers[index](x)
    assert torch.equal(h, expected)


@pytest.mark.parametrize("setup, trainable",
                         [("rand", True), ("onehot-init", True), ("onehot-fixed", False)])
def test_training_codes_are_trainable_unless_onehot_fixed(setup, trainable):
    model = make_model(setup)
    assert all(code.requires_grad == trainable for code in model.codes.codes.values())


def test_onehot_codes_need_a_basis_tower_per_language():
    with pytest.raises(ValueError, match="one-hot"):
        LanguageCodes(LANGUAGES, len(LANGUAGES) - 1, "onehot-init")


def test_new_language_code_starts_at_the_mean_of_the_training_codes():
    model = make_model()
    model.add_language(NEW_LANGUAGE)
    training = torch.stack([model.codes.codes[language] for language in LANGUAGES])
    assert torch.allclose(model.codes.codes[NEW_LANGUAGE], training.mean(dim=0))


def test_mixed_batch_gives_gradients_to_exactly_the_codes_and_layers_it_uses():
    model = make_model()
    backward_sum(model, [LANGUAGES[0], LANGUAGES[2]], [SPEAKERS[1], SPEAKERS[2]])
    grads = names_with_grad(model)
    assert {n for n in grads if n.startswith("codes.")} == {
        f"codes.codes.{LANGUAGES[0]}", f"codes.codes.{LANGUAGES[2]}"}
    assert {n.split(".")[1] for n in grads if n.startswith("outputs.")} == {SPEAKERS[1],
                                                                            SPEAKERS[2]}


def test_each_utterance_of_a_mixed_batch_equals_its_run_alone():
    model = make_model()
    for layer in model.outputs.values():
        set_recurrent(layer)
    x = make_inputs(batch=3)
    languages = [LANGUAGES[2], LANGUAGES[0], LANGUAGES[2]]
    speakers = [SPEAKERS[1], SPEAKERS[0], SPEAKERS[1]]
    with torch.no_grad():
        batch = model(x, languages, speakers)
        alone = [model(x[i:i + 1], languages[i:i + 1], speakers[i:i + 1]) for i in range(3)]
    assert torch.allclose(batch, torch.cat(alone), atol=1e-6)


def test_recurrent_output_layer_is_the_linear_recurrence():
    layer = set_recurrent(RecurrentOutput(4, 3))
    h = make_inputs(batch=2, frames=5)[..., :4]
    W, R, b = layer.forward_weights.weight, layer.recurrent, layer.forward_weights.bias
    y, expected = torch.zeros(2, 3), []
    for t in range(5):
        y = torch.stack([W @ h[i, t] + R @ y[i] + b for i in range(2)])
        expected.append(y)
    with torch.no_grad():
        assert torch.allclose(layer(h), torch.stack(expected, dim=1), atol=1e-6)


def test_untrained_recurrent_output_layer_is_its_feed_forward_part():
    layer = RecurrentOutput(4, 3)
    h = make_inputs()[..., :4]
    with torch.no_grad():
        torch.testing.assert_close(layer(h), layer.forward_weights(h))


def expected_adapted(model: MLMSNet, phase: str) -> set[str]:
    names = {n for n, _ in model.named_parameters() if n.startswith(f"outputs.{NEW_SPEAKER}.")}
    if "code" in PHASES[phase]:
        names.add(f"codes.codes.{NEW_LANGUAGE}")
    if "mean" in PHASES[phase]:
        names |= {n for n, _ in model.named_parameters() if n.startswith("mean_tower.")}
    return names


@pytest.mark.parametrize("phase", PHASES)
def test_adaptation_phase_trains_exactly_its_parameters(phase):
    model = make_model()
    model.add_language(NEW_LANGUAGE)
    model.add_speaker(NEW_SPEAKER)
    returned = trainable_parameters(model, phase, NEW_LANGUAGE, NEW_SPEAKER)
    expected = expected_adapted(model, phase)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in returned} == expected
    assert {n for n, p in model.named_parameters() if p.requires_grad} == expected


@pytest.mark.parametrize("phase", PHASES)
def test_adaptation_phase_gives_gradients_to_exactly_its_parameters(phase):
    model = make_model()
    model.add_language(NEW_LANGUAGE)
    model.add_speaker(NEW_SPEAKER)
    trainable_parameters(model, phase, NEW_LANGUAGE, NEW_SPEAKER)
    backward_sum(model, [NEW_LANGUAGE] * 2, [NEW_SPEAKER] * 2)
    assert names_with_grad(model) == expected_adapted(model, phase)


def test_v3_starts_from_v1_and_v4_from_v3():
    assert ADAPTATION_SETUPS["v3"][:1] == ADAPTATION_SETUPS["v1"]
    assert ADAPTATION_SETUPS["v4"][:2] == ADAPTATION_SETUPS["v3"]


def test_baseline_hidden_activation_is_its_mean_tower():
    model = make_model(languages=LANGUAGES[:1], speakers=SPEAKERS[:1], basis_towers=0)
    x = make_inputs()
    with torch.no_grad():
        assert len(model.basis_towers) == 0
        assert torch.equal(model.hidden(x, LANGUAGES[:1] * 2), model.mean_tower(x))


def test_added_speaker_has_its_own_output_layer():
    model = make_model()
    model.add_speaker(NEW_SPEAKER)
    x = make_inputs(batch=1)
    with torch.no_grad():
        new = model(x, LANGUAGES[:1], [NEW_SPEAKER])
        old = model(x, LANGUAGES[:1], SPEAKERS[:1])
    assert (new - old).abs().max() > 1e-3


def test_adding_an_existing_speaker_raises():
    with pytest.raises(ValueError, match=SPEAKERS[0]):
        make_model().add_speaker(SPEAKERS[0])


@pytest.mark.parametrize("languages, speakers, name",
                         [([NEW_LANGUAGE], SPEAKERS[:1], NEW_LANGUAGE),
                          (LANGUAGES[:1], [NEW_SPEAKER], NEW_SPEAKER)],
                         ids=["language", "speaker"])
def test_unknown_language_or_speaker_raises_naming_it(languages, speakers, name):
    with pytest.raises(ValueError, match=name):
        make_model()(make_inputs(batch=1), languages, speakers)


def test_lstm_projection_must_be_smaller_than_the_cells():
    with pytest.raises(ValueError, match="lstm_projection"):
        replace(make_config(), lstm_projection=8)


def test_without_a_projection_h_is_as_wide_as_the_lstm_cells():
    model = make_model(lstm_projection=0)
    assert model.hidden(make_inputs(), LANGUAGES[:2]).shape[-1] == 8
    assert model(make_inputs(), LANGUAGES[:2], SPEAKERS[:2]).shape[-1] == 5
