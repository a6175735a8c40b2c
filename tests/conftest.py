"""Shared fixtures: the tiny corpora, built once per test session, each on first use, and a fresh
MLflow store (per test, or per module for a module-scoped scenario)."""
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


def _use_store(folder: Path, patch: pytest.MonkeyPatch) -> str:
    """MLflow in a SQLite store under `folder`, for this process and its subprocesses (no parent
    run, no progress bars); returns its URI."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    patch.setenv("MLFLOW_TRACKING_URI", uri)
    patch.delenv("VOXFLOW_PARENT_RUN_ID", raising=False)
    patch.setenv("VOXFLOW_PROGRESS", "0")
    mlflow.set_tracking_uri(uri)
    return uri


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A fresh MLflow store for one test; returns its URI."""
    return _use_store(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def module_tracking(tmp_path_factory):
    """A fresh MLflow store shared by the tests of one module; returns its URI."""
    with pytest.MonkeyPatch.context() as patch:
        yield _use_store(tmp_path_factory.mktemp("mlflow"), patch)
