"""Corpus ingestion: one module per corpus with one `prepare_*` entry point, one manifest schema.

`ingest(corpus, root, out, **options)` runs the corpus's `prepare_*` and writes the manifest and
its rejects table (see `voxflow.ingest.manifest`).
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

import pyarrow as pa

from voxflow.ingest.manifest import rejects_path, write_manifest

log = logging.getLogger(__name__)

INGESTERS = {
    "libritts": "voxflow.ingest.libritts:prepare_libritts",
    "grid": "voxflow.ingest.grid:prepare_grid",
    "asvspoof": "voxflow.ingest.asvspoof:prepare_asvspoof",
    "iemocap": "voxflow.ingest.iemocap:prepare_iemocap",
    "mlms": "voxflow.ingest.mlms:prepare_mlms",
    "noise": "voxflow.ingest.noise:prepare_noise",
}


def ingest(corpus: str, root: Path, out: Path, **options) -> pa.Table:
    """Ingest the corpus at `root` into the Parquet manifest `out`; returns the manifest table."""
    if corpus not in INGESTERS:
        raise ValueError(f"unknown corpus {corpus!r}: expected one of {', '.join(INGESTERS)}")
    module, function = INGESTERS[corpus].split(":")
    prepare = getattr(importlib.import_module(module), function)
    result = prepare(Path(root), **options)
    table = write_manifest(result, Path(out), Path(root), corpus, options)
    log.info("%s: %d utterances -> %s; %d rejected -> %s", corpus, table.num_rows, out,
             len(result.rejects), rejects_path(out))
    return table
