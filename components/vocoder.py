"""The vocoder stages (`voxflow.vocoder.stages`) as KFP components; each takes params.yaml's
whole `vocoder` section as JSON text (`options_json`)."""
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def vocoder_features(manifest: Input[Dataset], options_json: str, features: Output[Artifact],
                     metrics: Output[Metrics], mlflow_tracking_uri: str, parent_run_id: str,
                     kfp_run_id: str):
    """Log-mel features (and waveforms) of a LibriTTS manifest for the vocoder."""
    import json
    from pathlib import Path

    from voxflow.tracking import enter_kfp_task
    from voxflow.vocoder import stages

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.features(Path(manifest.path), Path(features.path), Path(metrics.path),
                             json.loads(options_json))
    for name, value in values.items():
        metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def vocoder_teacher(system: str, features: Input[Artifact], options_json: str,
                    teacher: Output[Model], mlflow_tracking_uri: str, parent_run_id: str,
                    kfp_run_id: str):
    """Train the WaveNet teacher of `system` (upw, sdpw): `teacher` is a folder holding
    teacher.pt and the training checkpoints, as models/vocoder/<system>/teacher in dvc.yaml."""
    import json
    from pathlib import Path

    from voxflow.tracking import enter_kfp_task
    from voxflow.vocoder import stages

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    stages.train_teacher(system, Path(features.path), Path(teacher.path),
                         json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def vocoder_student(system: str, features: Input[Artifact], teacher: Input[Model],
                    options_json: str, student: Output[Model], mlflow_tracking_uri: str,
                    parent_run_id: str, kfp_run_id: str):
    """Distill the Parallel WaveNet student of `system` from its teacher (the folder of
    `vocoder_teacher`): `student` is a folder holding student.pt and the checkpoints."""
    import json
    from pathlib import Path

    from voxflow.tracking import enter_kfp_task
    from voxflow.vocoder import stages

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    stages.train_student(system, Path(features.path), Path(teacher.path) / "teacher.pt",
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
    from pathlib import Path

    from voxflow.tracking import enter_kfp_task
    from voxflow.vocoder import stages

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.evaluate(Path(features.path), Path(teacher.path) / "teacher.pt",
                             Path(student.path) / "student.pt", Path(sdpw.path) / "student.pt",
                             Path(report.path), Path(metrics.path), Path(plots.path),
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
    """Register the UPW student @candidate; `decision` is the JSON that `promote` reads (the
    version among it). Returns whether the candidate is not worse than the champion: the
    single output `Output`, which kfp.local can evaluate in a dsl.If (it does not resolve a
    named output of a NamedTuple there)."""
    import json
    from pathlib import Path

    from voxflow.tracking import enter_kfp_task
    from voxflow.vocoder import stages

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    result = stages.register(Path(student.path) / "student.pt", Path(evaluation.path),
                             Path(decision.path), json.loads(options_json))
    return result["gate_passed"]
