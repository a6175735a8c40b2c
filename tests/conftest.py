"""Shared fixtures: the tiny corpora are built once per test session, each on first use."""
from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from voxflow.synth.corpora import build_corpus


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """`tiny_corpus("grid")` -> root of the tiny GRID corpus (seed 0), built on first request."""
    out = tmp_path_factory.mktemp("corpora")
    roots: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in roots:
            roots[name] = build_corpus(name, out, size="tiny", seed=0)
        return roots[name]

    return get


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A fresh MLflow SQLite store for one test; returns its URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("VOXFLOW_PARENT_RUN_ID", raising=False)
    mlflow.set_tracking_uri(uri)
    return uri
