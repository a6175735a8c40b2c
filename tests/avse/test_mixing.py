"""The mixture table: split rules, SNR on active speech, levels, reproducibility, rejects.

The corpora are written here: GRID-like 1 s sentences at 25 kHz (loud noise bursts inside three
word intervals, near-silence around them) and 16 kHz noise files, long ones for training and
short ones (looped) for test, each with its manifest."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from voxflow.avse.mixing import (MixingConfig, build_mixture_table, mix, mix_corpus,
                                 read_mixture_table)
from voxflow.ingest.manifest import Ingested, read_manifest, write_manifest

GRID_RATE, NOISE_RATE = 25000, 16000
WORDS = ((0.10, 0.35), (0.40, 0.70), (0.75, 0.95))      # seconds, of each 1 s sentence
SPEAKERS = {"train": ("s1", "s2"), "dev": ("s3", "s4"), "test": ("s5", "s6")}
NOISE_SECONDS = {"train": 2.0, "test": 0.6}              # test noises shorter than a sentence


def sentence(rng: np.random.Generator) -> np.ndarray:
    """1 s of loud bursts (peak 0.9, so that low SNRs need scaling down) inside WORDS."""
    audio = 1e-3 * rng.standard_normal(GRID_RATE)
    for start, end in WORDS:
        audio[round(start * GRID_RATE):round(end * GRID_RATE)] = rng.standard_normal(
            round(end * GRID_RATE) - round(start * GRID_RATE))
    return 0.9 * audio / np.abs(audio).max()


def write_corpus(folder: Path, speakers: dict = SPEAKERS, utterances: int = 2,
                 categories: tuple[str, ...] = ("car", "street")) -> tuple[Path, Path]:
    """Write a GRID-like and a noise corpus with their manifests under `folder`; returns the
    (GRID manifest, noise manifest) paths."""
    rng = np.random.default_rng(0)
    grid, noise = Ingested(), Ingested()
    for split, names in speakers.items():
        for speaker in names:
            for index in range(utterances):
                path = f"audio_25k/{speaker}/u{index}.wav"
                (folder / "GRID" / path).parent.mkdir(parents=True, exist_ok=True)
                sf.write(folder / "GRID" / path, sentence(rng), GRID_RATE)
                grid.rows.append({"utt_id": f"{speaker}_u{index}", "corpus": "grid",
                                  "split": split, "audio_path": path, "sample_rate": GRID_RATE,
                                  "num_samples": GRID_RATE, "duration": 1.0,
                                  "speaker": speaker, "words": [
                                      {"start": s, "end": e, "label": "w"} for s, e in WORDS]})
    for category in categories:
        for split, seconds in NOISE_SECONDS.items():
            for index in range({"train": 2, "test": 1}[split]):
                path = f"{category}/{category}_{split}_{index:03d}.wav"
                (folder / "noise" / path).parent.mkdir(parents=True, exist_ok=True)
                samples = round(seconds * NOISE_RATE)
                sf.write(folder / "noise" / path, 0.3 * rng.uniform(-1, 1, samples), NOISE_RATE)
                noise.rows.append({"utt_id": f"{category}/{category}_{split}_{index:03d}",
                                   "corpus": "noise", "split": split, "audio_path": path,
                                   "sample_rate": NOISE_RATE, "num_samples": samples,
                                   "duration": seconds, "category": category})
    manifests = folder / "grid.parquet", folder / "noise.parquet"
    write_manifest(grid, manifests[0], folder / "GRID", "grid")
    write_manifest(noise, manifests[1], folder / "noise", "noise")
    return manifests


class Mixed(NamedTuple):
    folder: Path
    grid: pd.DataFrame                  # the GRID manifest, indexed by utt_id
    noise: pd.DataFrame                 # the noise manifest, indexed by utt_id
    table: pd.DataFrame                 # the mixture table read back from disk
    summary: dict
    mixtures: list                      # the rebuilt Mixture of every row


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Mixed:
    folder = tmp_path_factory.mktemp("mixing")
    grid, noise = write_corpus(folder)
    summary = mix_corpus(grid, noise, folder / "mixtures.parquet", workers=1)
    table, roots = read_mixture_table(folder / "mixtures.parquet")
    return Mixed(folder, read_manifest(grid)[0].to_pandas().set_index("utt_id"),
                 read_manifest(noise)[0].to_pandas().set_index("utt_id"), table, summary,
                 [mix(row, roots) for row in table.to_dict("records")])


def test_realised_snr_over_the_words_equals_the_request(mixed):
    for row, mixture in zip(mixed.table.itertuples(), mixed.mixtures):
        active = np.zeros(row.num_samples, dtype=bool)
        for start, end in WORDS:
            active[round(start * row.sample_rate):round(end * row.sample_rate)] = True
        target = mixture.target[active].astype(np.float64)
        interferer = mixture.interferer[active].astype(np.float64)
        realised = 10 * np.log10(np.mean(target ** 2) / np.mean(interferer ** 2))
        assert abs(realised - row.snr_db) < 0.1, row.mixture_id


def test_mixture_is_the_sum_and_never_exceeds_the_peak(mixed):
    assert (mixed.table["scale"] < 1).any() and (mixed.table["scale"] == 1).any()
    for row, mixture in zip(mixed.table.itertuples(), mixed.mixtures):
        assert mixture.mixture.dtype == np.float32 and mixture.mixture.shape == (row.num_samples,)
        assert np.array_equal(mixture.target + mixture.interferer, mixture.mixture)
        # the float32 cast may round up by one part in 2**24
        assert np.abs(mixture.mixture).max() <= 0.99 * (1 + 2 ** -23), row.mixture_id


def test_test_speakers_and_test_noises_never_in_train_or_dev(mixed):
    training = mixed.table[mixed.table["split"] != "test"]
    speakers = set(training["target_speaker"]) | set(training["interferer_speaker"].dropna())
    assert speakers == set(SPEAKERS["train"] + SPEAKERS["dev"])
    noises = training[training["condition"] == "noise"]["interferer"]
    test_noises = mixed.table.query("split == 'test' and condition == 'noise'")["interferer"]
    assert set(mixed.noise.loc[noises, "split"]) == {"train"}
    assert set(mixed.noise.loc[test_noises, "split"]) == {"test"}


def test_competing_talker_is_another_speaker_of_the_same_split(mixed):
    speech = mixed.table[mixed.table["condition"] == "speech"]
    assert len(speech) and (speech["interferer_speaker"] != speech["target_speaker"]).all()
    interferers = mixed.grid.loc[speech["interferer"]]
    assert (interferers["split"].to_numpy() == speech["split"].to_numpy()).all()
    assert (interferers["speaker"].to_numpy() == speech["interferer_speaker"].to_numpy()).all()


def test_train_snrs_are_drawn_in_range_and_test_snrs_are_every_pair(mixed):
    training = mixed.table[mixed.table["split"] != "test"]
    assert training["snr_db"].between(-10, 10).all() and training["snr_db"].nunique() > 10
    assert len(training) == 8 * 2           # 8 train/dev sentences x 2 conditions
    test = mixed.table[mixed.table["split"] == "test"]
    utterances = mixed.grid.index[mixed.grid["split"] == "test"]
    assert sorted(zip(test["target"], test["snr_db"], test["condition"])) == sorted(
        (u, snr, c) for u in utterances for snr in (-5.0, 0.0) for c in ("noise", "speech"))


def test_a_short_noise_is_looped(mixed):
    row = mixed.table.query("split == 'test' and condition == 'noise'").index[0]
    period = round(NOISE_SECONDS["test"] * NOISE_RATE)
    interferer = mixed.mixtures[row].interferer
    assert len(interferer) > period
    assert np.array_equal(interferer[period:], interferer[:len(interferer) - period])


def test_same_inputs_give_the_same_bytes_whatever_the_workers(mixed):
    grid, noise = mixed.folder / "grid.parquet", mixed.folder / "noise.parquet"
    first, second = mixed.folder / "first.parquet", mixed.folder / "second.parquet"
    mix_corpus(grid, noise, first, workers=1)
    mix_corpus(grid, noise, second, workers=2)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() == (mixed.folder / "mixtures.parquet").read_bytes()


def test_another_seed_gives_another_table(mixed):
    grid, noise = mixed.folder / "grid.parquet", mixed.folder / "noise.parquet"
    mix_corpus(grid, noise, mixed.folder / "seed1.parquet", MixingConfig(seed=1), workers=1)
    other, _ = read_mixture_table(mixed.folder / "seed1.parquet")
    assert list(other["mixture_id"]) == list(mixed.table["mixture_id"])
    assert not np.allclose(other["snr_db"][other["split"] != "test"],
                           mixed.table["snr_db"][mixed.table["split"] != "test"])


def test_adding_an_utterance_leaves_the_other_noise_mixtures_unchanged(mixed):
    grid, _ = read_manifest(mixed.folder / "grid.parquet")
    noise, _ = read_manifest(mixed.folder / "noise.parquet")
    rows = grid.to_pylist()
    roots = read_mixture_table(mixed.folder / "mixtures.parquet")[1]
    fewer, _, _ = build_mixture_table(rows[1:], noise.to_pylist(), roots, workers=1)
    noise_rows = mixed.table[(mixed.table["condition"] == "noise")
                             & (mixed.table["target"] != rows[0]["utt_id"])]
    pd.testing.assert_frame_equal(fewer[fewer["condition"] == "noise"].reset_index(drop=True),
                                  noise_rows.reset_index(drop=True))


def test_a_corrupt_wav_is_rejected_and_the_rest_mixed(mixed, tmp_path, caplog):
    grid, noise = write_corpus(tmp_path)
    victim = tmp_path / "GRID" / "audio_25k" / "s1" / "u0.wav"
    victim.write_bytes(b"RIFF not really a wav")
    with caplog.at_level(logging.WARNING, logger="voxflow.avse.mixing"):
        summary = mix_corpus(grid, noise, tmp_path / "mixtures.parquet", workers=1)
    table, _ = read_mixture_table(tmp_path / "mixtures.parquet")
    rejects = pd.read_parquet(tmp_path / "mixtures.rejects.parquet")
    assert rejects["path"].tolist() == [str(victim)]
    assert "cannot read audio" in rejects["reason"][0] and str(victim) in caplog.text
    assert summary["rejected_files"] == 1
    # only the mixtures that need the victim, as target or competing talker, are missing
    clean = mixed.table
    expected = clean[(clean["target"] != "s1_u0") & (clean["interferer"] != "s1_u0")]
    assert len(expected) < len(clean) - 2
    assert table["mixture_id"].tolist() == expected["mixture_id"].tolist()


def test_a_split_with_one_speaker_has_no_speech_mixtures(tmp_path):
    grid, noise = write_corpus(tmp_path, speakers={"train": ("s1", "s2"), "dev": ("s3",),
                                                   "test": ("s5", "s6")})
    summary = mix_corpus(grid, noise, tmp_path / "mixtures.parquet", workers=1)
    assert summary["unmixable"] == {"dev/speech": "no speaker of split dev besides s3"}
    assert summary["mixtures"]["dev"] == {"noise": 2}
    assert summary["mixtures"]["train"] == {"noise": 4, "speech": 4}


@pytest.mark.parametrize("change, message", [
    ({"train_snr_db": (10.0, -10.0)}, "low 10.0 above high -10.0"),
    ({"conditions": ("babble",)}, "expected some of noise, speech"),
    ({"peak": 1.5}, r"expected a value in \(0, 1\]"),
])
def test_a_bad_config_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        MixingConfig(**change)
