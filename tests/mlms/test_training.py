"""Training the MLMS models (voxflow.mlms.training and the stages): they learn, the best dev
validation is kept, every kind of model is saved under its name, adaptation touches only what
its setup adapts, and the same params train the same model."""
from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import torch

from voxflow.mlms import stages
from voxflow.mlms.data import acoustic_set
from voxflow.mlms.params import mlms_params
from voxflow.mlms.training import (adapt, dev_mse, find_models, load_model, saved_name,
                                   saved_validation,
                                   train_system)


@pytest.fixture
def train(mlms_data, quick):
    """`train(out, system, **training)` -> the model.pt files of a short training of `system`
    through its stage."""
    def run(out, system="mlms-rand", **training):
        section = quick()
        section["training"] = {**section["training"], **training}
        return stages.train(system, mlms_data["world"], mlms_data["linguistic"], out, section,
                            plots_path=out / "validation.csv")
    return run


@pytest.fixture(scope="module")
def dev(mlms_data):
    return acoustic_set(mlms_data["world"], mlms_data["linguistic"], "dev")


def test_a_short_training_lowers_the_dev_mse_below_the_mean_prediction(train, dev, tmp_path,
                                                                       tracking):
    """Normalised targets: predicting the training mean scores about 1."""
    (path,) = train(tmp_path / "rand", steps=40, batch_size=8, segment_frames=100, lr=3e-3,
                    validate_every=40)
    model = load_model(path)
    languages = model.net.languages
    trained = dev_mse(model, dev.where(language=languages))
    for parameter in model.net.outputs.parameters():        # outputs = the training mean
        parameter.data.zero_()
    assert trained < 0.9 * dev_mse(model, dev.where(language=languages))


def test_the_kept_weights_are_those_of_the_best_dev_validation(train, dev, tmp_path,
                                                               tracking):
    (path,) = train(tmp_path / "rand")
    history = saved_validation(path)
    model = load_model(path)
    assert [v["step"] for v in history] == [2, 4]
    assert dev_mse(model, dev.where(language=model.net.languages)) == pytest.approx(
        min(v["dev_mse"] for v in history), rel=1e-5)
    assert (tmp_path / "rand" / "validation.csv").read_text().startswith("model,step,dev_mse")


def test_the_same_params_train_the_same_model(train, tmp_path, tracking):
    first, second = (load_model(train(tmp_path / name)[0]) for name in ("first", "second"))
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name


def test_a_training_is_a_tracked_run_with_its_dev_mse(train, tmp_path, tracking):
    train(tmp_path / "rand")
    (run,) = mlflow.search_runs(experiment_names=["voxflow"], output_format="list")
    assert run.info.run_name == "mlms-train@mlms-rand"
    assert run.data.params["codes"] == "rand" and "val/dev_mse" in run.data.metrics


def test_mlms_models_never_see_a_held_out_language(mlms_models):
    model = load_model(mlms_models["dir"] / "mlms-rand" / "model.pt")
    held_out = set(mlms_params(mlms_models["section"]).held_out_languages)
    assert len(model.net.languages) == 6 and not held_out & set(model.net.languages)


def test_there_is_one_baseline_per_training_speaker(mlms_models, dev):
    params = mlms_params(mlms_models["section"])
    training = dev.rows[~dev.rows["language"].isin(params.held_out_languages)]
    names = {name for name in find_models(mlms_models["dir"]) if name.startswith("baselines/")}
    assert names == {f"baselines/{speaker}" for speaker in set(training["speaker"])}
    baseline = load_model(mlms_models["dir"] / "baselines" / training["speaker"].iloc[0]
                          / "model.pt")
    assert len(baseline.net.languages) == 1 and len(baseline.net.basis_towers) == 0


def test_every_setup_is_adapted_to_every_held_out_language(mlms_models):
    params = mlms_params(mlms_models["section"])
    names = set(find_models(mlms_models["dir"]))
    assert {f"{language}/{setup}" for language in params.held_out_languages
            for setup in params.adaptation.setups} <= names
    assert "duration" in names


def test_v1_changes_only_the_new_code_and_the_new_speakers_layer(mlms_models):
    source = load_model(mlms_models["dir"] / "mlms-rand" / "model.pt").state_dict()
    adapted_path = next((mlms_models["dir"] / "adapted" / "pl" / "v1").glob("model.pt"))
    adapted = load_model(adapted_path)
    (speaker,) = set(adapted.net.speakers) - set(load_model(
        mlms_models["dir"] / "mlms-rand" / "model.pt").net.speakers)
    changed = {name for name, value in adapted.state_dict().items()
               if name not in source or not torch.equal(value, source[name])}
    assert changed == {"net.codes.codes.pl", *(f"net.outputs.{speaker}.{p}" for p in
                       ("forward_weights.weight", "forward_weights.bias", "recurrent"))}


def test_v3_continues_from_v1_instead_of_training_its_phase_again(mlms_models):
    adapted = mlms_models["dir"] / "adapted" / "pl"
    v1, v3 = (saved_validation(adapted / setup / "model.pt") for setup in ("v1", "v3"))
    assert v3[:len(v1)] == v1 and {v["phase"] for v in v3[len(v1):]} == {"mean"}
    assert sorted(p.name for p in (adapted / "phases").iterdir()) == [
        "code", "code+mean", "code-mean", "code-mean-code+mean"]


def test_an_unknown_system_is_named(mlms_data, quick, tmp_path):
    with pytest.raises(ValueError, match="unknown mlms system 'nope'"):
        train_system(mlms_params(quick()), "nope", mlms_data["world"], mlms_data["linguistic"],
                     tmp_path)


def test_only_the_languages_the_source_lacks_are_adapted_to(mlms_models, mlms_data, quick,
                                                             tmp_path):
    params = mlms_params(quick(adaptation={"source": "mlms-rand", "setups": ["v1"]}))
    knows_pl = mlms_models["dir"] / "adapted" / "pl" / "v1" / "model.pt"
    paths = adapt(params, knows_pl, mlms_data["world"], mlms_data["linguistic"], tmp_path)
    assert [saved_name(path) for path in paths] == ["pt-br/v1"]


def test_adaptation_and_scratch_train_on_the_limited_data_only(mlms_models, mlms_data, quick,
                                                              tmp_path, monkeypatch):
    from voxflow.mlms import training

    seen = []                           # (setup folder, utt_ids trained on) of every fit

    def recording_fit(model, train_set, dev, *args, **kwargs):
        seen.append(sorted(train_set.rows["utt_id"]))
        return fit(model, train_set, dev, *args, **kwargs)

    fit = training.fit
    monkeypatch.setattr(training, "fit", recording_fit)
    params = mlms_params(quick(adaptation={"source": "mlms-rand", "setups": ["v1", "scratch"],
                                           "train_utterances": 2}))
    adapt(params, mlms_models["dir"] / "mlms-rand" / "model.pt", mlms_data["world"],
          mlms_data["linguistic"], tmp_path)
    train = acoustic_set(mlms_data["world"], mlms_data["linguistic"], "train")
    first_two = {language: sorted(train.where(language=language).rows["utt_id"])[:2]
                 for language in params.held_out_languages}
    assert sorted(map(tuple, seen)) == sorted(tuple(first_two[language])
                                              for language in params.held_out_languages
                                              for _ in ("v1", "scratch"))


def test_an_mlms_system_trains_on_two_processes(mlms_data, quick, tmp_path, tracking):
    """torchrun with gloo: a batch uses only its speakers' output layers, which DDP allows
    (find_unused_parameters); one run, one model, from rank 0."""
    import os
    import subprocess
    import sys

    import yaml

    params = {"mlms": quick()}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    torchrun = Path(sys.executable).parent / "torchrun"
    result = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "voxflow", "stage",
         "mlms-train", "mlms-rand", str(mlms_data["world"]), str(mlms_data["linguistic"]),
         "--out", str(tmp_path / "model"), "--params", str(tmp_path / "params.yaml")],
        env={**os.environ, "VOXFLOW_PROGRESS": "0", "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = mlflow.search_runs(experiment_names=["voxflow"], output_format="list")
    assert run.info.status == "FINISHED"
    assert load_model(tmp_path / "model" / "model.pt").net.languages


def test_under_ddp_the_layers_of_speakers_outside_the_batch_get_no_gradient(tmp_path):
    """What keeps adaptation and training honest under DDP: a parameter no rank used keeps
    grad None, so Adam leaves it alone (a zero gradient would still move it by momentum)."""
    import torch.distributed as dist
    from torch import nn

    from voxflow.mlms.models import MLMSNet
    from voxflow.mlms.params import MODELS

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    try:
        net = MLMSNet(6, MODELS["tiny"], ["de", "fr"], ["de_f1", "fr_f1"])
        model = nn.parallel.DistributedDataParallel(net, find_unused_parameters=True)
        model(torch.randn(2, 5, 6), ["de", "de"], ["de_f1", "de_f1"]).square().mean().backward()
        assert all(p.grad is None for p in net.outputs["fr_f1"].parameters())
        assert net.codes.codes["fr"].grad is None
        assert all(p.grad is not None for p in net.outputs["de_f1"].parameters())
    finally:
        dist.destroy_process_group()
