"""The README's main job on a fresh copy: `voxflow repro` runs every stage of dvc.yaml once,
each a tracked run under one parent; a second `voxflow repro` finds nothing to do.

The copy trains few systems with few steps (FEW_STEPS, FEW_SYSTEMS over params.yaml): this test
checks the DAG's wiring,
the tests of each system check that its models learn, and `make run` trains at full length."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml
from dvc.repo import Repo
from dvc.stage import PipelineStage

REPO = Path(__file__).parents[2]

# every training and the slowest evaluations shortened, the GRID and MLMS corpora at their tiny
# sizes (the small GRID's 160 videos cost the AV-SE stages 4 minutes): each DAG end to end in a
# few minutes; one torch thread per stage, as `make test`'s two workers share two cores
FEW_STEPS = {
    "synth": {"sizes": {"grid": "tiny", "mlms": "tiny"}},
    "vocoder": {"threads": 1,
                "teacher": {"steps": 10, "validate_every": 10, "checkpoint_every": 10,
                            "validation_utterances": 1, "validation_seconds": 0.1},
                "student": {"steps": 10, "checkpoint_every": 10},
                "evaluation": {"utterances": 2, "max_seconds": 0.5, "seen_speaker_utterances": 1}},
    "antispoof": {"gmm": {"max_iter": 5},
                  "training": {"epochs": 1, "classifier_epochs": 1}},
    "avse": {"threads": 1,
             "mixing": {"mixtures_per_utterance": 1},
             "training": {"steps": 4, "batch_size": 4, "segment_seconds": 0.4,
                          "validate_every": 4, "checkpoint_every": 4}},
    "mlms": {part: {"steps": 4, "validate_every": 4, "checkpoint_every": 4}
             for part in ("training", "adaptation_training", "duration_training")}
            | {"evaluation": {"utterances": 1, "bound_utterances": 2,
                              "preference_utterances": 1}},
    "anonymization": {part: {"steps": 4, "checkpoint_every": 4, "log_every": 2}
                      for part in ("ssl_training", "vocoder_training", "asv_training",
                                   "emotion_training", "asr_training", "conversion_training")}
                     | {"threads": 1, "evaluation": {"resamples": 20, "probe_utterances": 4},
                        "corpus": {"size": "vpc-tiny", "seed": 0}, "admixture": {"p": [0.5]}},
}
# a foreach stage's loop over a few of its systems, one of each kind, instead of all of them
# (each stage is a process start of ~10 s)
FEW_SYSTEMS = {
    "antispoof": ["ssl-lcnn", "ssl-lcnn-original", "lfcc-senet34", "cqcc-senet34"],
    "avse": ["mhca-avcrn", "crn"],
    "mlms": ["mlms-rand", "baselines"],
    "anonymization": ["origin", "knnvc"],
}


def _merged(params: dict, overrides: dict) -> dict:
    for key, value in overrides.items():
        params[key] = (_merged(params.get(key) or {}, value) if isinstance(value, dict)
                       else value)
    return params


# the conversion variant with every addition (each variant is a training and a row)
FEW_VARIANTS = ["wavlm-conv-adv-discrete"]


def _few_steps_and_systems(params: dict) -> dict:
    params = _merged(params, FEW_STEPS)
    for section, keep in FEW_SYSTEMS.items():
        systems = params[section]["systems"]
        params[section]["systems"] = {name: systems[name] for name in keep}
    variants = params["anonymization"]["conversion"]["variants"]
    params["anonymization"]["conversion"]["variants"] = {name: variants[name]
                                                         for name in FEW_VARIANTS}
    return params


@pytest.mark.slow(minutes=15)
def test_dvc_repro_builds_the_dag_once(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    for path in ("dvc.yaml", "params.yaml", "src"):      # the working tree under test
        (shutil.copytree if (REPO / path).is_dir() else shutil.copy)(
            REPO / path, clone / path, **({"dirs_exist_ok": True} if (REPO / path).is_dir() else {}))
    (clone / "dvc.lock").unlink(missing_ok=True)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    (clone / "params.yaml").write_text(yaml.safe_dump(_few_steps_and_systems(params)))
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",
                                                             "VOXFLOW_PARENT_RUN_ID")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["VOXFLOW_PROGRESS"] = "0"
    voxflow = [sys.executable, "-m", "voxflow.cli", "repro"]

    first = subprocess.run(voxflow, cwd=clone, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    for corpus in ("libritts", "grid", "asvspoof", "iemocap", "mlms", "noise"):
        assert (clone / "data" / "manifests" / f"{corpus}.parquet").is_file()
        assert json.loads((clone / "metrics" / "ingest" / f"{corpus}.json").read_text())["utterances"] > 0
    features = json.loads((clone / "metrics" / "vocoder" / "features.json").read_text())
    assert features["utterances"] > 100 and features["rejected"] == 0
    evaluation = json.loads((clone / "metrics" / "vocoder" / "evaluation.json").read_text())
    systems = ("upw", "upw-ref", "sdpw", "griffin-lim", "teacher")
    assert {f"{system}/{metric}" for system in systems for metric in ("pesq_wb", "mcd")} <= \
        set(evaluation)
    assert (clone / "reports" / "vocoder" / "summary.md").is_file()
    assert (clone / "reports" / "vocoder" / "mushra" / "configs" / "vocoder.yaml").is_file()
    champion = json.loads((clone / "metrics" / "vocoder" / "champion.json").read_text())
    assert champion["gate_passed"] and champion["promoted"]    # the first candidate: no champion

    second = subprocess.run(voxflow, cwd=clone, env=env, capture_output=True, text=True)
    assert second.returncode == 0 and "Running stage" not in second.stdout, second.stdout

    mlflow.set_tracking_uri(f"sqlite:///{clone / 'mlflow' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["voxflow"], output_format="list")
    parents = [r for r in runs if r.info.run_name == "dvc-repro"]
    children = [r for r in runs if "voxflow.stage" in r.data.tags]
    with Repo(str(clone)) as repo:            # every stage of dvc.yaml, as DVC counts them
        stages = {s.name for s in repo.index.graph.nodes if isinstance(s, PipelineStage)}
    assert len(parents) == 2 and {c.info.run_name for c in children} == stages
    assert len(children) == len(stages)        # each ran once
    assert {c.data.tags["mlflow.parentRunId"] for c in children} <= {p.info.run_id for p in parents}
    ingest_grid = next(c for c in children if c.info.run_name == "ingest@grid")
    lock_md5 = json.loads(ingest_grid.data.tags["voxflow.data_version"])["data/corpora/GRID"]
    assert lock_md5.endswith(".dir")          # taken from dvc.lock, recorded by synth@grid
    # every model a register stage recorded is in the clone's own store, @candidate
    recorded = {}
    for record in (clone / "metrics").glob("*/candidate.json"):
        decision = json.loads(record.read_text())
        recorded[decision["model_name"]] = decision["version"]
    recorded |= json.loads((clone / "metrics" / "anonymization" / "registered.json").read_text())[
        "versions"]
    assert {"voxflow-upw-vocoder", "voxflow-antispoof", "voxflow-avse", "voxflow-mlms",
            "voxflow-ssl", "voxflow-anonymizer-knnvc"} <= set(recorded)
    client = mlflow.MlflowClient()
    assert {name: str(client.get_model_version_by_alias(name, "candidate").version)
            for name in recorded} == recorded
