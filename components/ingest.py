"""The `ingest` stage as a KFP component."""
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def ingest(corpus: str, corpus_root: Input[Artifact], options_json: str, manifest: Output[Dataset],
           rejects: Output[Dataset], metrics: Output[Metrics], mlflow_tracking_uri: str,
           parent_run_id: str, kfp_run_id: str):
    """Ingest a corpus release folder into a Parquet manifest, its rejects and metrics.

    options_json: the corpus's params.yaml `ingest` section as JSON text (a KFP struct parameter
    would carry the integer seeds as floats)."""
    import json
    import os
    import shutil
    from pathlib import Path

    from voxflow import stages
    from voxflow.ingest.manifest import rejects_path
    from voxflow.tracking import KFP_RUN_ENV, PARENT_RUN_ENV

    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    os.environ[PARENT_RUN_ENV] = parent_run_id
    os.environ[KFP_RUN_ENV] = kfp_run_id
    values = stages.ingest(corpus, Path(corpus_root.path), Path(manifest.path),
                           Path(metrics.path), json.loads(options_json))
    # the stage writes the rejects beside the manifest; KFP keeps only declared outputs
    shutil.move(rejects_path(Path(manifest.path)), rejects.path)
    for name, value in values.items():
        metrics.log_metric(name, value)
