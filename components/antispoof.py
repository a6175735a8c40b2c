"""The spoofing-detection stages (`voxflow.antispoof.stages`) as KFP components; each takes
params.yaml's whole `antispoof` section as JSON text (`options_json`). The system components
write the system folder (`system.json`, model, `scores/dev.txt`, `scores/eval.txt`) as a Model
artifact; the evaluation and registry read them back from lists of such artifacts."""
from typing import List

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def antispoof_features(frontend: str, manifest: Input[Dataset], options_json: str,
                       features: Output[Artifact], metrics: Output[Metrics],
                       mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """Features of every utterance of the ASVspoof manifest with `frontend` (lfcc, cqcc):
    `features` is the folder of data/antispoof/features/<frontend>."""
    import json
    from pathlib import Path

    from voxflow.antispoof import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.features(frontend, Path(manifest.path), Path(features.path),
                             Path(metrics.path), json.loads(options_json))
    for name, value in values.items():
        metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def antispoof_ssl_features(manifest: Input[Dataset], ssl: Input[Model], options_json: str,
                           features: Output[Artifact], metrics: Output[Metrics],
                           mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """SSL features of every utterance of the ASVspoof manifest (preset voxflow: with `ssl`,
    the anon-ssl encoder's folder): `features` is the folder of data/antispoof/features/ssl."""
    import json
    from pathlib import Path

    from voxflow.antispoof import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.ssl_features(Path(manifest.path), Path(ssl.path), Path(features.path),
                                 Path(metrics.path), json.loads(options_json))
    for name, value in values.items():
        metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def antispoof_gmm(frontend: str, features: Input[Artifact], options_json: str,
                  model: Output[Model], mlflow_tracking_uri: str, parent_run_id: str,
                  kfp_run_id: str):
    """The <frontend>-GMM baseline: `model` is the folder of
    models/antispoof/baselines/<frontend>-gmm."""
    import json
    from pathlib import Path

    from voxflow.antispoof import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    stages.train_gmm(frontend, Path(features.path), Path(model.path), json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def antispoof_train(system: str, features: Input[Artifact], options_json: str,
                    model: Output[Model], mlflow_tracking_uri: str, parent_run_id: str,
                    kfp_run_id: str, pipeline_name: str = ""):
    """Train `system` (a key of params.yaml's antispoof.systems) on its front-end's features:
    `model` is the folder of models/antispoof/systems/<system>. Inside a dsl.ParallelFor the
    parent run id arrives empty and is found from `pipeline_name` (see `enter_kfp_task`)."""
    import json
    from pathlib import Path

    from voxflow.antispoof import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id, pipeline_name)
    stages.train(system, Path(features.path), Path(model.path), json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def antispoof_evaluate(gmm_lfcc: Input[Model], gmm_cqcc: Input[Model],
                       systems_lfcc: Input[List[Model]], systems_cqcc: Input[List[Model]],
                       systems_ssl: Input[List[Model]], corpus_root: Input[Artifact],
                       report: Output[Artifact], metrics: Output[Metrics],
                       mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """EER, min t-DCF (with the corpus's ASV scores, under `corpus_root`), per-attack EER, DET,
    t-SNE and report.md of the GMM baselines and the trained systems (collected from one
    ParallelFor per front-end): `report` is the folder of reports/antispoof."""
    import math
    from pathlib import Path

    from voxflow.antispoof import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    folders = [Path(gmm_lfcc.path), Path(gmm_cqcc.path)] + [
        Path(m.path) for m in list(systems_lfcc) + list(systems_cqcc) + list(systems_ssl)]
    values = stages.evaluate(folders, Path(corpus_root.path) / "ASVspoof2019_LA_asv_scores",
                             Path(report.path), Path(report.path) / "evaluation.json")
    for name, value in values.items():
        if math.isfinite(value):
            metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def antispoof_register(evaluation: Input[Artifact], systems_lfcc: Input[List[Model]],
                       systems_cqcc: Input[List[Model]], systems_ssl: Input[List[Model]],
                       options_json: str, decision: Output[Artifact], mlflow_tracking_uri: str,
                       parent_run_id: str, kfp_run_id: str) -> bool:
    """Register the best trained system (dev EER) @candidate; `evaluation` is
    antispoof_evaluate's report folder, `decision` the JSON that `promote` reads. Returns
    whether the gate passed, as the single output `Output` that kfp.local can evaluate in a
    dsl.If (see components/vocoder.py)."""
    import json
    from pathlib import Path

    from voxflow.antispoof import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    folders = [Path(m.path) for m in list(systems_lfcc) + list(systems_cqcc) +
               list(systems_ssl)]
    result = stages.register(Path(evaluation.path) / "evaluation.json", folders,
                             Path(decision.path), json.loads(options_json))
    return result["gate_passed"]
