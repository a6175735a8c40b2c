"""The vocoder tests' shared fixture: log-mel features of the tiny LibriTTS."""
from __future__ import annotations

import pytest

from voxflow.ingest import ingest
from voxflow.vocoder.data import extract_features


@pytest.fixture(scope="session")
def features(tiny_corpus, tmp_path_factory):
    """The vocoder-features folder of the tiny LibriTTS (read only: tests train from it)."""
    work = tmp_path_factory.mktemp("vocoder-features")
    ingest("libritts", tiny_corpus("libritts"), work / "libritts.parquet")
    extract_features(work / "libritts.parquet", work / "features")
    return work / "features"
