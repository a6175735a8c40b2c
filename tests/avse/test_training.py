"""Training an AV-SE system: a tracked stage that learns, selected on dev, reproducible."""
from __future__ import annotations

import mlflow
import pytest
import torch

from voxflow.avse import stages
from voxflow.avse.data import EnhancementSet
from voxflow.avse.training import dev_mse, find_models, load_model, saved_validation


@pytest.fixture
def train(avse_data, quick):
    """`train(out, system, **training)` -> model.pt of a short training on the tiny data."""
    def run(out, system="mhca-avcrn", **training):
        return stages.train(system, avse_data["features"], avse_data["crops"], out,
                            quick(**training), plots_path=out / "validation.csv")
    return run


def test_a_short_training_lowers_the_dev_mse(train, avse_data, tmp_path, tracking):
    path = train(tmp_path / "mhca", steps=30, batch_size=8, lr=3e-3, validate_every=30)
    dev = EnhancementSet(avse_data["features"], avse_data["crops"], "dev")
    identity = load_model(path)         # as the untrained network: it returns its input
    identity.net.output.weight.data.zero_()
    identity.net.output.bias.data.zero_()
    assert dev_mse(load_model(path), dev) < 0.8 * dev_mse(identity, dev)


def test_the_kept_weights_are_those_of_the_best_dev_validation(train, avse_data, tmp_path,
                                                               tracking):
    path = train(tmp_path / "crn", system="crn")
    history = saved_validation(path)
    dev = EnhancementSet(avse_data["features"], avse_data["crops"], "dev")
    assert [v["step"] for v in history] == [2, 4]
    assert dev_mse(load_model(path), dev) == pytest.approx(min(v["dev_mse"] for v in history),
                                                           rel=1e-5)
    assert (tmp_path / "crn" / "validation.csv").read_text().startswith("step,dev_mse")


def test_the_same_params_train_the_same_model(train, tmp_path, tracking):
    first, second = (load_model(train(tmp_path / name, system="crn"))
                     for name in ("first", "second"))
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name


def test_a_training_is_a_tracked_run_with_its_dev_mse(train, tmp_path, tracking):
    train(tmp_path / "crn", system="crn")
    (run,) = mlflow.search_runs(experiment_names=["voxflow"], output_format="list")
    assert run.info.run_name == "avse-train@crn"
    assert run.data.params["variant"] == "audio_only" and "val/dev_mse" in run.data.metrics


def test_models_are_found_by_their_system_name(train, tmp_path, tracking):
    path = train(tmp_path / "somewhere" / "folder", system="crn")
    assert find_models([tmp_path / "somewhere"]) == {"crn": path}


def test_an_unknown_system_is_an_error(train, tmp_path):
    with pytest.raises(ValueError, match="unknown avse system 'vse'"):
        train(tmp_path, system="vse")
