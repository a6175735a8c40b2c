"""A kNN-VC anonymizer end to end (encoder -> matching -> vocoder, untrained tiny models, with
a HiFi-GAN on the matched features and with Griffin-Lim on the matched log-mels): the same seed
gives the same audio, and the registered pyfunc model loads and anonymizes as the in-process one
does, as does a conversion variant's; the SSL encoder's pyfunc gives its chosen layer; the DAG's
loaders given anon-features's stored features anonymize exactly as without them."""
from __future__ import annotations

from dataclasses import replace
from functools import partial

import mlflow
import numpy as np
import pytest
import torch

from voxflow.anonymization.anonymizers import (MATCHING_SETS, ConversionAnonymizer,
                                               KnnVCAnonymizer, load_conversion_anonymizer,
                                               load_knnvc_anonymizer)
from voxflow.anonymization.conversion import MODELS as CONVERTER_MODELS
from voxflow.anonymization.conversion import CONVERTER_FILE, FeatureConverter, save_converter
from voxflow.anonymization.audio import HOP, RATE
from voxflow.anonymization.knnvc import KnnVC, KnnVCConfig
from voxflow.anonymization.pyfunc import log_anonymizer, log_ssl
from voxflow.anonymization.ssl import MODELS as SSL_MODELS
from voxflow.anonymization.ssl import (SSL_FILE, STORED_FEATURES, features, new_encoder,
                                       save_encoder, store_features, wave_key)
from voxflow.anonymization.vocoder import (MODELS, VOCODER_FILE, Generator, MelGriffinLim,
                                           mel_frames, save_vocoder, vocode)
from voxflow.tracking import experiment_id

LAYER = 2
GRIFFIN_LIM_ITERATIONS = 4     # the matching sets' (a few: the pyfunc runs as in process either way)
CONFIG = KnnVCConfig(length_variation=(0.8, 1.2))


def speech_like(seed: int, seconds: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.1 * np.sin(2 * np.pi * rng.uniform(100, 200) * t)
            + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module", params=["ssl-hifigan", "mel-griffin-lim"])
def models(request, tmp_path_factory):
    """{"ssl", "vocoder"} folders of untrained tiny models and two target speakers' sets, the
    vocoder of `request.param`."""
    folder = tmp_path_factory.mktemp("anonymizer")
    encoder = new_encoder(replace(SSL_MODELS["tiny"], layers=2, dim=32, heads=2, ffn_dim=64),
                          seed=0)
    save_encoder(encoder, folder / "ssl" / SSL_FILE)
    targets = {f"spk{s}": speech_like(s, 2.0) for s in range(2)}
    sets = {name: torch.from_numpy(features(encoder, wave, LAYER))
            for name, wave in targets.items()}
    if request.param == "ssl-hifigan":
        generator = Generator(replace(MODELS["tiny"], feature_dim=32, initial_channels=16))
        save_vocoder(generator, folder / "vocoder" / VOCODER_FILE)
        values, vocoder = None, partial(vocode, generator.eval())
    else:
        (folder / "vocoder").mkdir()
        values = {name: torch.from_numpy(mel_frames(wave)) for name, wave in targets.items()}
        vocoder = MelGriffinLim(GRIFFIN_LIM_ITERATIONS)
    torch.save({"layer": LAYER, "sets": sets, "values": values, "vocoder": request.param,
                "griffin_lim_iterations": GRIFFIN_LIM_ITERATIONS},
               folder / "vocoder" / MATCHING_SETS)
    return {"ssl": folder / "ssl", "vocoder": folder / "vocoder", "encoder": encoder,
            "sets": sets, "values": values, "vocode": vocoder}


def in_process(models) -> KnnVCAnonymizer:
    return KnnVCAnonymizer(models["encoder"], LAYER,
                           KnnVC(models["sets"], CONFIG, models["values"]), models["vocode"])


def test_the_same_seed_gives_the_same_anonymized_audio(models):
    anonymizer, source = in_process(models), speech_like(7)
    first = anonymizer.anonymize(source, RATE, np.random.default_rng(3))
    assert np.array_equal(first, anonymizer.anonymize(source, RATE, np.random.default_rng(3)))
    assert not np.array_equal(first, anonymizer.anonymize(source, RATE,
                                                          np.random.default_rng(4)))


def test_the_output_is_whole_frames_of_16k_audio(models):
    out = in_process(models).anonymize(speech_like(7), RATE, np.random.default_rng(0))
    assert out.dtype == np.float32 and len(out) % HOP == 0


def test_the_registered_anonymizer_anonymizes_as_the_in_process_one(models, tracking):
    with mlflow.start_run(experiment_id=experiment_id()):
        uri = log_anonymizer("knnvc-len", 0, CONFIG, models["ssl"], models["vocoder"])
    loaded = mlflow.pyfunc.load_model(uri)
    source = speech_like(7)
    expected = in_process(models).anonymize(source, RATE, np.random.default_rng(5))
    np.testing.assert_allclose(loaded.predict(source, params={"seed": 5}), expected, atol=1e-6)


def test_the_registered_anonymizer_is_the_one_voxflow_anonymize_runs(models, tracking):
    with mlflow.start_run(experiment_id=experiment_id()):
        uri = log_anonymizer("knnvc-len", 0, CONFIG, models["ssl"], models["vocoder"])
    anonymizer = mlflow.pyfunc.load_model(uri).unwrap_python_model().anonymizer()
    source = speech_like(7)
    np.testing.assert_allclose(anonymizer.anonymize(source, RATE, np.random.default_rng(5)),
                               in_process(models).anonymize(source, RATE,
                                                            np.random.default_rng(5)),
                               atol=1e-6)


def test_a_registered_conversion_variant_anonymizes_as_the_in_process_one(models, tracking,
                                                                         tmp_path):
    torch.manual_seed(0)
    converter = FeatureConverter(replace(CONVERTER_MODELS["tiny"], feature_dim=32)).eval()
    save_converter(converter, tmp_path / CONVERTER_FILE)
    with mlflow.start_run(experiment_id=experiment_id()):
        uri = log_anonymizer("wavlm-conv", 0, ssl_dir=models["ssl"],
                             vocoder_dir=models["vocoder"], conversion=(tmp_path, "spk1"))
    values = models["values"]
    expected = ConversionAnonymizer(models["encoder"], LAYER, converter, models["sets"]["spk1"],
                                    None if values is None else values["spk1"],
                                    models["vocode"]).anonymize(speech_like(7), RATE,
                                                                np.random.default_rng(0))
    np.testing.assert_allclose(mlflow.pyfunc.load_model(uri).predict(speech_like(7)), expected,
                               atol=1e-5)


def test_stored_features_anonymize_exactly_as_the_encoder(models, tmp_path):
    sources = [speech_like(7), speech_like(8)]
    stored = store_features(models["encoder"], sources, LAYER, tmp_path / STORED_FEATURES)
    torch.manual_seed(0)
    save_converter(FeatureConverter(replace(CONVERTER_MODELS["tiny"], feature_dim=32)).eval(),
                   tmp_path / CONVERTER_FILE)
    for load in (partial(load_knnvc_anonymizer, models["ssl"] / SSL_FILE, models["vocoder"],
                         CONFIG),
                 partial(load_conversion_anonymizer, models["ssl"] / SSL_FILE,
                         models["vocoder"], tmp_path / CONVERTER_FILE, "spk1")):
        encoding, looking_up = load(), load(features_file=stored)
        assert set(looking_up.stored) == {wave_key(source) for source in sources}
        for source in sources:
            assert np.array_equal(
                looking_up.anonymize(source, RATE, np.random.default_rng(5)),
                encoding.anonymize(source, RATE, np.random.default_rng(5)))


def test_the_registered_encoder_gives_its_chosen_layer(models, tracking):
    with mlflow.start_run(experiment_id=experiment_id()):
        uri = log_ssl(models["ssl"], LAYER)
    loaded = mlflow.pyfunc.load_model(uri)
    assert loaded.metadata.metadata["layer"] == LAYER
    source = speech_like(7)
    np.testing.assert_allclose(loaded.predict(source),
                               features(models["encoder"], source, LAYER), atol=1e-5)
