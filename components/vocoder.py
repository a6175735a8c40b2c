"""The vocoder stages as KFP components."""
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def vocoder_features(manifest: Input[Dataset], options_json: str, features: Output[Artifact],
                     metrics: Output[Metrics], mlflow_tracking_uri: str, parent_run_id: str,
                     kfp_run_id: str):
    """Log-mel features (and waveforms) of a LibriTTS manifest for the vocoder.

    options_json: params.yaml's `vocoder.features` section as JSON text."""
    import json
    import os
    from pathlib import Path

    from voxflow import stages
    from voxflow.tracking import KFP_RUN_ENV, PARENT_RUN_ENV

    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    os.environ[PARENT_RUN_ENV] = parent_run_id
    os.environ[KFP_RUN_ENV] = kfp_run_id
    values = stages.vocoder_features(Path(manifest.path), Path(features.path),
                                     Path(metrics.path), json.loads(options_json))
    for name, value in values.items():
        metrics.log_metric(name, value)
