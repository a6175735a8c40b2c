"""The AV-SE stages (`voxflow.avse.stages`) as KFP components; each takes params.yaml's whole
`avse` section as JSON text (`options_json`)."""
from typing import List

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def avse_mix(grid_manifest: Input[Dataset], noise_manifest: Input[Dataset], options_json: str,
             mixtures: Output[Dataset], metrics: Output[Metrics], mlflow_tracking_uri: str,
             parent_run_id: str, kfp_run_id: str):
    """The mixture table of GRID speech with noise or a competing talker: `mixtures` is a
    folder holding mixtures.parquet and its rejects (the corpora are found through the
    manifests' roots)."""
    import json
    from pathlib import Path

    from voxflow.avse import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.mix(Path(grid_manifest.path), Path(noise_manifest.path),
                        Path(mixtures.path) / "mixtures.parquet", Path(metrics.path),
                        json.loads(options_json))
    for name, value in values.items():
        metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def avse_crops(grid_manifest: Input[Dataset], options_json: str, crops: Output[Artifact],
               metrics: Output[Metrics], mlflow_tracking_uri: str, parent_run_id: str,
               kfp_run_id: str):
    """Mouth crops of every GRID video (dlib's 68 landmarks); metrics: the detection rate."""
    import json
    from pathlib import Path

    from voxflow.avse import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.crops(Path(grid_manifest.path), Path(crops.path), Path(metrics.path),
                          json.loads(options_json))
    for name, value in values.items():
        metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def avse_features(mixtures: Input[Dataset], options_json: str, features: Output[Artifact],
                  metrics: Output[Metrics], mlflow_tracking_uri: str, parent_run_id: str,
                  kfp_run_id: str):
    """Noisy and clean log-mels of every mixture of `avse_mix`'s table."""
    import json
    from pathlib import Path

    from voxflow.avse import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.features(Path(mixtures.path) / "mixtures.parquet", Path(features.path),
                             Path(metrics.path), json.loads(options_json))
    for name, value in values.items():
        metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def avse_train(system: str, features: Input[Artifact], crops: Input[Artifact],
               options_json: str, model: Output[Model], mlflow_tracking_uri: str,
               parent_run_id: str, kfp_run_id: str, pipeline_name: str = ""):
    """Train `system` (a key of params.yaml's avse.systems): `model` is the folder of
    models/avse/<system>. Inside a dsl.ParallelFor the parent run id arrives empty and is found
    from `pipeline_name` (see `enter_kfp_task`)."""
    import json
    from pathlib import Path

    from voxflow.avse import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id, pipeline_name)
    stages.train(system, Path(features.path), Path(crops.path), Path(model.path),
                 json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def avse_evaluate(mixtures: Input[Dataset], features: Input[Artifact], crops: Input[Artifact],
                  models: Input[List[Model]], options_json: str, report: Output[Artifact],
                  metrics: Output[Metrics], plots: Output[Artifact], mlflow_tracking_uri: str,
                  parent_run_id: str, kfp_run_id: str):
    """PESQ and STOI of every trained system (collected from the ParallelFor) and of the
    unprocessed mixtures on the test split: `report` is the folder of reports/avse, `plots` the
    summary CSV."""
    import json
    import math
    from pathlib import Path

    from voxflow.avse import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.evaluate(Path(mixtures.path) / "mixtures.parquet", Path(features.path),
                             Path(crops.path), [Path(m.path) for m in models],
                             Path(report.path), Path(metrics.path), Path(plots.path),
                             json.loads(options_json))
    for name, value in values.items():      # a protobuf Struct cannot hold NaN
        if math.isfinite(value):
            metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def avse_register(models: Input[List[Model]], evaluation: Input[Metrics], options_json: str,
                  decision: Output[Artifact], mlflow_tracking_uri: str, parent_run_id: str,
                  kfp_run_id: str) -> bool:
    """Register the champion system @candidate; `decision` is the JSON that `promote` reads.
    Returns whether the gate passed, as the single output `Output` that kfp.local can evaluate
    in a dsl.If (see components/vocoder.py)."""
    import json
    from pathlib import Path

    from voxflow.avse import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    result = stages.register([Path(m.path) for m in models], Path(evaluation.path),
                             Path(decision.path), json.loads(options_json))
    return result["gate_passed"]
