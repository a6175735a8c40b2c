"""The `synth` stage as a KFP component."""
from kfp import dsl
from kfp.dsl import Artifact, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def synth(corpus: str, size: str, seed: int, workers: int, corpus_root: Output[Artifact],
          mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """Synthesize one miniature corpus; `corpus_root` is the release folder itself (e.g. LibriTTS/),
    like a real release brought in by `dsl.importer`."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from voxflow import stages
    from voxflow.tracking import KFP_RUN_ENV, PARENT_RUN_ENV

    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    os.environ[PARENT_RUN_ENV] = parent_run_id
    os.environ[KFP_RUN_ENV] = kfp_run_id
    # the builder writes <out_dir>/<release folder>; the artifact is that folder itself (copied,
    # not moved: the launcher may have created the artifact's folder already)
    with tempfile.TemporaryDirectory() as build_dir:
        root = stages.synth(corpus, Path(build_dir), size, seed, workers)
        shutil.copytree(root, corpus_root.path, dirs_exist_ok=True)
