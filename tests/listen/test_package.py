"""Reading the packages the exporters write, and refusing what is not one."""
from __future__ import annotations

import json
import shutil

import pytest
import soundfile as sf
import yaml

from voxflow.listen.package import AB, MUSHRA, read_package
from voxflow.listen.store import open_store


@pytest.fixture
def mushra_copy(mushra_package, tmp_path):
    return shutil.copytree(mushra_package, tmp_path / "package")


@pytest.fixture
def ab_copy(ab_package, tmp_path):
    return shutil.copytree(ab_package, tmp_path / "package")


def test_reads_the_mushra_export(mushra_package):
    package = read_package(mushra_package)
    assert (package.kind, package.test_id, len(package.trials)) == (MUSHRA, "vocoder", 3)
    trial = next(iter(package.trials.values()))
    assert set(trial.stimuli) == {"reference", "anchor35", "anchor70", "upw", "sdpw",
                                  "griffin-lim"}
    assert trial.stimuli["reference"] == trial.reference


def test_reads_the_ab_export(ab_package):
    package = read_package(ab_package)
    assert (package.kind, package.test_id, len(package.trials)) == (AB, "mlms-ab", 4)
    assert package.groups == ["en-us", "fr"]
    assert package.choices == {"1": "Sample 1", "2": "Sample 2", "neutral": "No preference"}


def test_a_folder_that_is_no_package_is_refused(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path}: neither an AB package"):
        read_package(tmp_path)


def test_a_file_outside_the_package_is_refused(mushra_copy):
    config_path = mushra_copy / "configs" / "vocoder.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["pages"][1][1]["stimuli"]["upw"] = "../../../etc/passwd"
    config_path.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="'../../../etc/passwd' is not a path inside"):
        read_package(mushra_copy)


def test_a_missing_audio_file_is_named(ab_copy):
    (ab_copy / "audio" / "trial2_1.wav").unlink()
    with pytest.raises(ValueError, match=r"trials.csv: line \d: .*trial2_1.wav: file not found"):
        read_package(ab_copy)


def test_ab_choices_must_be_the_analysis_answers(ab_copy):
    config = json.loads((ab_copy / "config.json").read_text())
    config["choices"] = {"A": "A", "B": "B"}
    (ab_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="choices must be exactly 1, 2, neutral"):
        read_package(ab_copy)


def test_a_database_refuses_a_package_whose_audio_changed(ab_copy, tmp_path):
    open_store(read_package(ab_copy), tmp_path / "listen.sqlite")
    audio, rate = sf.read(ab_copy / "audio" / "trial1_1.wav")
    sf.write(ab_copy / "audio" / "trial1_1.wav", audio[::-1], rate)
    with pytest.raises(ValueError, match="differs from it"):
        open_store(read_package(ab_copy), tmp_path / "listen.sqlite")


@pytest.mark.parametrize("trial_id", ["training", "a/b", ""])
def test_trial_ids_that_cannot_be_page_ids_are_refused(ab_copy, trial_id):
    trials = ab_copy / "trials.csv"
    lines = trials.read_text().splitlines()
    lines[1] = trial_id + lines[1][lines[1].index(","):]
    trials.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=f"trial id '{trial_id}': use letters"):
        read_package(ab_copy)
