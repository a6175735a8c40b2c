"""The MLMS stages (`voxflow.mlms.stages`) as KFP components; each takes params.yaml's whole
`mlms` section as JSON text (`options_json`).

The evaluation and the registration take every trained model as separate artifacts (the
adaptation source's, the other systems' collected from their ParallelFor, the duration model's
and the adapted ones) where the stage functions take the one folder of models/mlms: they link
each artifact's files into a temporary folder, where `voxflow.mlms.training.find_models` finds
the models by the names saved in them, whatever the layout.
"""
from typing import List

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def mlms_features(manifest: Input[Dataset], options_json: str, world: Output[Artifact],
                  metrics: Output[Metrics], mlflow_tracking_uri: str, parent_run_id: str,
                  kfp_run_id: str):
    """WORLD features of every utterance of the mlms manifest: `world` is the folder of
    data/mlms/world; metrics: counts and the analysis-synthesis bound."""
    import json
    import math
    from pathlib import Path

    from voxflow.mlms import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.features(Path(manifest.path), Path(world.path), Path(metrics.path),
                             json.loads(options_json))
    for name, value in values.items():      # a protobuf Struct cannot hold NaN
        if math.isfinite(value):
            metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def mlms_linguistic(manifest: Input[Dataset], world: Input[Artifact], options_json: str,
                    linguistic: Output[Artifact], metrics: Output[Metrics],
                    mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """Phone-level linguistic features, oracle durations, the phone inventory and the lexicon:
    `linguistic` is the folder of data/mlms/linguistic."""
    import json
    from pathlib import Path

    from voxflow.mlms import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.linguistic(Path(manifest.path), Path(world.path), Path(linguistic.path),
                               Path(metrics.path), json.loads(options_json))
    for name, value in values.items():
        metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def mlms_train(system: str, world: Input[Artifact], linguistic: Input[Artifact],
               options_json: str, model: Output[Model], mlflow_tracking_uri: str,
               parent_run_id: str, kfp_run_id: str, pipeline_name: str = ""):
    """Train `system` (a key of params.yaml's mlms.systems): `model` is the folder of
    models/mlms/<system> (one model.pt, or one per speaker for the baselines). Inside a
    dsl.ParallelFor the parent run id arrives empty and is found from `pipeline_name` (see
    `enter_kfp_task`)."""
    import json
    from pathlib import Path

    from voxflow.mlms import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id, pipeline_name)
    stages.train(system, Path(world.path), Path(linguistic.path), Path(model.path),
                 json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def mlms_duration(linguistic: Input[Artifact], options_json: str, model: Output[Model],
                  mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """Train the duration model: `model` is the folder of models/mlms/duration."""
    import json
    from pathlib import Path

    from voxflow.mlms import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    stages.duration(Path(linguistic.path), Path(model.path), json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def mlms_adapt(source: Input[Model], world: Input[Artifact], linguistic: Input[Artifact],
               options_json: str, adapted: Output[Model], mlflow_tracking_uri: str,
               parent_run_id: str, kfp_run_id: str):
    """Every adaptation setup of the source system's model (`source`, the mlms-train folder of
    mlms.adaptation.source) to every held-out language: `adapted` is the folder of
    models/mlms/adapted."""
    import json
    from pathlib import Path

    from voxflow.mlms import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    stages.adapt(Path(source.path), Path(world.path), Path(linguistic.path),
                 Path(adapted.path), json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def mlms_evaluate(world: Input[Artifact], linguistic: Input[Artifact], source: Input[Model],
                  systems: Input[List[Model]], duration: Input[Model], adapted: Input[Model],
                  options_json: str, report: Output[Artifact], metrics: Output[Metrics],
                  plots: Output[Artifact], mlflow_tracking_uri: str, parent_run_id: str,
                  kfp_run_id: str):
    """Figures 2 and 3 of the paper, the synthesis distortions against the analysis-synthesis
    bound and the AB package from every model (the adaptation source's, the other systems'
    collected from the ParallelFor, the duration model, the adapted ones): `report` is the folder
    of reports/mlms, `plots` the dev MSE summary CSV."""
    import json
    import math
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from voxflow.mlms import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    models = Path(tempfile.mkdtemp())       # one folder of links, as models/mlms
    for index, folder in enumerate([source, *systems, duration, adapted]):
        shutil.copytree(folder.path, models / str(index), copy_function=os.symlink)
    values = stages.evaluate(Path(world.path), Path(linguistic.path), models, Path(report.path),
                             Path(metrics.path), Path(plots.path), json.loads(options_json))
    for name, value in values.items():      # a protobuf Struct cannot hold NaN
        if math.isfinite(value):
            metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def mlms_register(linguistic: Input[Artifact], source: Input[Model], systems: Input[List[Model]],
                  duration: Input[Model], adapted: Input[Model], evaluation: Input[Metrics],
                  options_json: str, decision: Output[Artifact], mlflow_tracking_uri: str,
                  parent_run_id: str, kfp_run_id: str) -> bool:
    """Register the voice of mlms.evaluation.synthesis_system (with the duration model) as
    @candidate; `decision` is the JSON that `promote` reads. Takes every model, as the
    evaluation. Returns whether the gate passed, as the single output `Output` that kfp.local can
    evaluate in a dsl.If (see components/vocoder.py)."""
    import json
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from voxflow.mlms import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    models = Path(tempfile.mkdtemp())       # one folder of links, as models/mlms
    for index, folder in enumerate([source, *systems, duration, adapted]):
        shutil.copytree(folder.path, models / str(index), copy_function=os.symlink)
    result = stages.register(models, Path(linguistic.path), Path(evaluation.path),
                             Path(decision.path), json.loads(options_json))
    return result["gate_passed"]
