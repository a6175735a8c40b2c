"""The corpora stages (`voxflow.corpora.stages`) as KFP components."""
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def synth(corpus: str, size: str, seed: int, workers: int, corpus_root: Output[Artifact],
          mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """Synthesize one miniature corpus (size, seed, workers: params.yaml's `synth`);
    `corpus_root` is the release folder itself (e.g. LibriTTS/), like a real release brought
    in by `dsl.importer`."""
    import shutil
    import tempfile
    from pathlib import Path

    from voxflow.corpora import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    # the builder writes <out_dir>/<release folder>; the artifact is that folder itself (copied,
    # not moved: the launcher may have created the artifact's folder already)
    with tempfile.TemporaryDirectory() as build_dir:
        root = stages.synth(corpus, Path(build_dir),
                            {"size": size, "seed": seed, "workers": workers})
        shutil.copytree(root, corpus_root.path, dirs_exist_ok=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def ingest(corpus: str, corpus_root: Input[Artifact], options_json: str, manifest: Output[Dataset],
           rejects: Output[Dataset], metrics: Output[Metrics], mlflow_tracking_uri: str,
           parent_run_id: str, kfp_run_id: str):
    """Ingest a corpus release folder into a Parquet manifest, its rejects and metrics.

    options_json: the corpus's options of params.yaml's `ingest` section as JSON text."""
    import json
    import shutil
    from pathlib import Path

    from voxflow.corpora import stages
    from voxflow.ingest.manifest import rejects_path
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.ingest(corpus, Path(corpus_root.path), Path(manifest.path),
                           Path(metrics.path), {corpus: json.loads(options_json)})
    # the stage writes the rejects beside the manifest; KFP keeps only declared outputs
    shutil.move(rejects_path(Path(manifest.path)), rejects.path)
    for name, value in values.items():
        metrics.log_metric(name, value)
