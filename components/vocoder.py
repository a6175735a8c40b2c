"""The vocoder stages as KFP components.

The training, evaluation and registry components take params.yaml's whole `vocoder` section as
JSON text (`options_json`), as their stage functions take the whole section. Each repeats the
three lines that pass the tracking arguments on through the environment: a lightweight
component carries only its own function's source, so a helper would have to live in voxflow.
"""
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def vocoder_features(manifest: Input[Dataset], options_json: str, features: Output[Artifact],
                     metrics: Output[Metrics], mlflow_tracking_uri: str, parent_run_id: str,
                     kfp_run_id: str, options_key: str = ""):
    """Log-mel features (and waveforms) of a LibriTTS manifest for the vocoder.

    options_json: params.yaml's `vocoder.features` section as JSON text or, with options_key
    "features", the whole `vocoder` section (the vocoder pipeline's one `vocoder_options`)."""
    import json
    import os
    from pathlib import Path

    from voxflow import stages
    from voxflow.tracking import KFP_RUN_ENV, PARENT_RUN_ENV

    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    os.environ[PARENT_RUN_ENV] = parent_run_id
    os.environ[KFP_RUN_ENV] = kfp_run_id
    options = json.loads(options_json)
    if options_key:
        options = options[options_key]
    values = stages.vocoder_features(Path(manifest.path), Path(features.path),
                                     Path(metrics.path), options)
    for name, value in values.items():
        metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def vocoder_teacher(system: str, features: Input[Artifact], options_json: str,
                    teacher: Output[Model], mlflow_tracking_uri: str, parent_run_id: str,
                    kfp_run_id: str):
    """Train the WaveNet teacher of `system` (upw, sdpw): `teacher` is a folder holding
    teacher.pt and the training checkpoints, as models/vocoder/<system>/teacher in dvc.yaml."""
    import json
    import os
    from pathlib import Path

    from voxflow import stages
    from voxflow.tracking import KFP_RUN_ENV, PARENT_RUN_ENV

    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    os.environ[PARENT_RUN_ENV] = parent_run_id
    os.environ[KFP_RUN_ENV] = kfp_run_id
    stages.train_vocoder_teacher(system, Path(features.path), Path(teacher.path),
                                 json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def vocoder_student(system: str, features: Input[Artifact], teacher: Input[Model],
                    options_json: str, student: Output[Model], mlflow_tracking_uri: str,
                    parent_run_id: str, kfp_run_id: str):
    """Distill the Parallel WaveNet student of `system` from its teacher (the folder of
    `vocoder_teacher`): `student` is a folder holding student.pt and the checkpoints."""
    import json
    import os
    from pathlib import Path

    from voxflow import stages
    from voxflow.tracking import KFP_RUN_ENV, PARENT_RUN_ENV

    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    os.environ[PARENT_RUN_ENV] = parent_run_id
    os.environ[KFP_RUN_ENV] = kfp_run_id
    stages.distill_vocoder_student(system, Path(features.path), Path(teacher.path) / "teacher.pt",
                                   Path(student.path), json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def vocoder_evaluate(features: Input[Artifact], teacher: Input[Model], student: Input[Model],
                     sdpw: Input[Model], options_json: str, report: Output[Artifact],
                     metrics: Output[Metrics], plots: Output[Artifact], mlflow_tracking_uri: str,
                     parent_run_id: str, kfp_run_id: str):
    """Analysis-synthesis of the test split by the UPW teacher and student (`teacher`,
    `student`), the SDPW student (`sdpw`) and Griffin-Lim: `report` is the folder of
    reports/vocoder (audio, tables, MUSHRA package), `plots` the systems' CSV."""
    import json
    import math
    import os
    from pathlib import Path

    from voxflow import stages
    from voxflow.tracking import KFP_RUN_ENV, PARENT_RUN_ENV

    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    os.environ[PARENT_RUN_ENV] = parent_run_id
    os.environ[KFP_RUN_ENV] = kfp_run_id
    values = stages.evaluate_vocoder(Path(features.path), Path(teacher.path) / "teacher.pt",
                                     Path(student.path) / "student.pt",
                                     Path(sdpw.path) / "student.pt", Path(report.path),
                                     Path(metrics.path), Path(plots.path),
                                     json.loads(options_json))
    # KFP keeps the logged metrics in a protobuf Struct, which cannot hold NaN (e.g. f0_rmse when
    # a vocoder produced no voiced frame): those stay in the metrics file only
    for name, value in values.items():
        if math.isfinite(value):
            metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def vocoder_register(student: Input[Model], evaluation: Input[Metrics], options_json: str,
                     decision: Output[Artifact], mlflow_tracking_uri: str, parent_run_id: str,
                     kfp_run_id: str) -> bool:
    """Register the UPW student @candidate; `decision` is the JSON that `vocoder_promote`
    reads (the version among it). Returns whether the candidate is not worse than the champion:
    the single output `Output`, which kfp.local can evaluate in a dsl.If (it does not resolve
    a named output of a NamedTuple there)."""
    import json
    import os
    from pathlib import Path

    from voxflow import stages
    from voxflow.tracking import KFP_RUN_ENV, PARENT_RUN_ENV

    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    os.environ[PARENT_RUN_ENV] = parent_run_id
    os.environ[KFP_RUN_ENV] = kfp_run_id
    result = stages.register_vocoder(Path(student.path) / "student.pt", Path(evaluation.path),
                                     Path(decision.path), json.loads(options_json))
    return result["gate_passed"]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def vocoder_promote(decision: Input[Artifact], outcome: Output[Artifact],
                    mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """Move @champion to the candidate of `decision` (`vocoder_register`'s) when its gate
    metric is not worse; `outcome` is the decision JSON with `promoted`."""
    import os
    from pathlib import Path

    from voxflow import stages
    from voxflow.tracking import KFP_RUN_ENV, PARENT_RUN_ENV

    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    os.environ[PARENT_RUN_ENV] = parent_run_id
    os.environ[KFP_RUN_ENV] = kfp_run_id
    stages.promote_vocoder(Path(decision.path), Path(outcome.path))
