"""Helpers of the listening-test tests (tests/listen/) and benchmark (bench_listen.py): test
packages made by the real exporters from tiny synthetic WAVs, a simulated listener's scores, a
registered model version to log to, and the header that carries a token."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from voxflow.evaluation.mushra import export_test
from voxflow.evaluation.preference import export_ab_test

RATE = 16000
VOCODER_SYSTEMS = ("upw", "sdpw", "griffin-lim")
# a simulated listener's scores: the hidden reference on top, the systems, the anchors below
SCORES = {"reference": 100, "upw": 70, "sdpw": 55, "griffin-lim": 40, "anchor70": 30,
          "anchor35": 15}


def write_sound(path: Path, frequency: float, noise: float = 0.0, seconds: float = 0.5,
                seed: int = 0) -> Path:
    """A tone with harmonics (content up to 8 kHz, for the anchors to cut) plus white noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    audio = sum(np.sin(2 * np.pi * k * frequency * t) / k for k in range(1, 8))
    audio = 0.1 * audio + noise * np.random.default_rng(seed).standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, RATE)
    return path


def make_mushra_package(folder: Path, items=("item1", "item2", "item3"),
                        systems=VOCODER_SYSTEMS, test_id: str = "vocoder") -> Path:
    """A MUSHRA package of `export_test`, reference plus `systems` (noisier copies) per item."""
    rows = []
    for i, item in enumerate(items):
        for k, system in enumerate(("reference", *systems)):
            path = write_sound(folder / "wav" / item / f"{system}.wav", 200 + 40 * i,
                               noise=0.02 * k, seed=k)
            rows.append({"item": item, "system": system, "path": str(path),
                         "voice": "female" if i % 2 else "male"})
    export_test(pd.DataFrame(rows), folder / "package", test_id)
    return folder / "package"


def make_ab_package(folder: Path, groups=("en-us", "fr"), items_per_group: int = 2,
                    systems=("baselines", "mlms-rand"), test_id: str = "mlms-ab") -> Path:
    """An AB package of `export_ab_test` (its served folder; the key lies beside it)."""
    rows = []
    for g, group in enumerate(groups):
        for i in range(items_per_group):
            item = f"{group}_{i}"
            paths = [write_sound(folder / "wav" / system / f"{item}.wav", 180 + 30 * g + 10 * i,
                                 noise=0.01 * k, seed=k) for k, system in enumerate(systems)]
            rows.append({"item": item, "group": group, "system_a": systems[0],
                         "path_a": str(paths[0]), "system_b": systems[1],
                         "path_b": str(paths[1])})
    export_ab_test(pd.DataFrame(rows), folder / "package", test_id)
    return folder / "package" / test_id


def register_version(name: str):
    """A new registered version of model `name` (created if need be) with a run of its own, in
    the current MLflow store; its ModelVersion."""
    import mlflow

    from voxflow.tracking import experiment_id

    with mlflow.start_run(experiment_id=experiment_id()) as run:
        mlflow.log_param("under_test", name)
    client = mlflow.MlflowClient()
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    return client.create_model_version(name, f"runs:/{run.info.run_id}/model",
                                       run_id=run.info.run_id)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
