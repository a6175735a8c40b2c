"""The corpora stages: `synth@<corpus>` and `ingest@<corpus>` of dvc.yaml."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from voxflow.corpora.params import ingest_options, synth_params
from voxflow.stage_io import write_metrics
from voxflow.tracking import stage_run

log = logging.getLogger(__name__)


def synth(corpus: str, out_dir: Path, section: dict) -> Path:
    """Synthesize one miniature corpus into `out_dir/<release folder>` with params.yaml's `synth`
    section; returns that folder."""
    import mlflow

    from voxflow.synth.corpora import build_corpus

    params = synth_params(section)
    size = params.size_of(corpus)
    with stage_run(f"synth@{corpus}", {"corpus": corpus, "size": size, "seed": params.seed}):
        start = time.perf_counter()
        root = build_corpus(corpus, Path(out_dir), size=size, seed=params.seed,
                            workers=params.workers or None)
        files = [p for p in root.rglob("*") if p.is_file()]
        mlflow.log_metrics({"files": len(files), "seconds": time.perf_counter() - start,
                            "megabytes": sum(p.stat().st_size for p in files) / 2**20})
    log.info("synth@%s: %s", corpus, root)
    return root


def ingest(corpus: str, root: Path, out: Path, metrics_path: Path, section: dict) -> dict:
    """Ingest a corpus into the manifest `out` (+ rejects) with its options in params.yaml's
    `ingest` section; metrics to `metrics_path`."""
    import mlflow
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from voxflow.ingest import ingest as ingest_corpus
    from voxflow.ingest.manifest import rejects_path

    options = ingest_options(section, corpus)
    with stage_run(f"ingest@{corpus}", {"corpus": corpus, **options}, inputs=[Path(root)]):
        table = ingest_corpus(corpus, Path(root), Path(out), **options)
        rejects = rejects_path(Path(out))
        metrics = {"utterances": table.num_rows,
                   "rejected": pq.read_metadata(rejects).num_rows,
                   "audio_hours": float(pc.sum(table.column("duration")).as_py() or 0) / 3600,
                   "speakers": len(set(table.column("speaker").drop_null().to_pylist()))}
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(rejects))
        write_metrics(Path(metrics_path), metrics)
    return metrics
