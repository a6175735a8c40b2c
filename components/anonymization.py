"""The anonymization stages (`voxflow.anonymization.stages`) as KFP components; each takes
params.yaml's whole `anonymization` section as JSON text (`options_json`).

The report takes the rows' evaluations collected from their ParallelFor loops; each evaluation
folder names its row (evaluation.json), so their order and paths do not matter. The cascade
speaks with the MLMS pipeline's models: `voice` (models/mlms/<voice>), `duration`
(models/mlms/duration), `linguistic` (data/mlms/linguistic) and `world` (data/mlms/world, its
world.json).
"""
from typing import List

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_corpus(options_json: str, corpus_root: Output[Artifact], manifest: Output[Dataset],
                metrics: Output[Metrics], mlflow_tracking_uri: str, parent_run_id: str,
                kfp_run_id: str):
    """The synthetic LibriTTS of the anonymization DAG: `corpus_root` holds LibriTTS/ (the
    manifest's audio paths are relative to it), `manifest` its manifest."""
    import json
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.corpus(Path(corpus_root.path), Path(manifest.path), Path(metrics.path),
                           json.loads(options_json))
    for name, value in values.items():
        metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_ssl(manifest: Input[Dataset], options_json: str, model: Output[Model],
             mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """The SSL encoder pretrained on the LibriTTS training speakers: `model` is the folder of
    models/anonymization/ssl."""
    import json
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    stages.ssl(Path(manifest.path), Path(model.path), json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_probes(ssl: Input[Model], mlms_manifest: Input[Dataset], options_json: str,
                table: Output[Artifact], metrics: Output[Metrics], mlflow_tracking_uri: str,
                parent_run_id: str, kfp_run_id: str):
    """Linear probes of every layer: `table` the CSV, `metrics` the chosen layer and the best
    accuracies."""
    import json
    import math
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.probes(Path(ssl.path), Path(mlms_manifest.path), Path(table.path),
                           Path(metrics.path), json.loads(options_json))
    for name, value in values.items():
        if math.isfinite(value):
            metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_vocoder(ssl: Input[Model], probes: Input[Metrics], manifest: Input[Dataset],
                 options_json: str, model: Output[Model], mlflow_tracking_uri: str,
                 parent_run_id: str, kfp_run_id: str):
    """The target speakers' matching sets and the vocoder: `model` is the folder of
    models/anonymization/vocoder."""
    import json
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    stages.vocoder(Path(ssl.path), Path(probes.path), Path(manifest.path), Path(model.path),
                   json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_features(ssl: Input[Model], probes: Input[Metrics], manifest: Input[Dataset],
                  iemocap: Input[Dataset], options_json: str, features: Output[Dataset],
                  mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """The chosen layer's SSL features of every LibriTTS and IEMOCAP utterance: `features` is
    the folder of data/anonymization/features."""
    import json
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    stages.features(Path(ssl.path), Path(probes.path), Path(manifest.path), Path(iemocap.path),
                    Path(features.path), json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_evaluator(kind: str, manifest: Input[Dataset], options_json: str, model: Output[Model],
                   mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """One of the evaluation's models trained on original speech, `kind` asv (the ignorant
    attacker, on `manifest` = LibriTTS), emotion (on `manifest` = IEMOCAP) or asr (LibriTTS):
    `model` is the folder of models/anonymization/<kind>."""
    import json
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    stage = {"asv": stages.asv, "emotion": stages.emotion, "asr": stages.asr}[kind]
    stage(Path(manifest.path), Path(model.path), json.loads(options_json))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_system(system: str, manifest: Input[Dataset], iemocap: Input[Dataset],
                ssl: Input[Model], vocoder: Input[Model], features: Input[Dataset],
                asv: Input[Model],
                emotion: Input[Model], asr: Input[Model], options_json: str,
                anonymized: Output[Dataset], evaluation: Output[Artifact],
                metrics: Output[Metrics], mlflow_tracking_uri: str, parent_run_id: str,
                kfp_run_id: str, pipeline_name: str = ""):
    """One row of table 1: `anonymized` the folder of data/anonymization/anonymized/<system>,
    `evaluation` of data/anonymization/evaluation/<system>. Inside a dsl.ParallelFor the parent
    run id arrives empty and is found from `pipeline_name` (see `enter_kfp_task`)."""
    import json
    import math
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id, pipeline_name)
    values = stages.system(system, Path(manifest.path), Path(iemocap.path), Path(ssl.path),
                           Path(vocoder.path), Path(features.path), Path(asv.path),
                           Path(emotion.path), Path(asr.path), Path(anonymized.path),
                           Path(evaluation.path), Path(metrics.path), json.loads(options_json))
    for name, value in values.items():
        if math.isfinite(value):
            metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_cascade(manifest: Input[Dataset], iemocap: Input[Dataset], voice: Input[Model],
                 duration: Input[Model], linguistic: Input[Artifact], world: Input[Artifact],
                 asv: Input[Model], emotion: Input[Model], asr: Input[Model], options_json: str,
                 anonymized: Output[Dataset], evaluation: Output[Artifact],
                 metrics: Output[Metrics], mlflow_tracking_uri: str, parent_run_id: str,
                 kfp_run_id: str):
    """Table 1's ID 4, the cascaded ASR-TTS row: `anonymized` the folder of
    data/anonymization/anonymized/cascade, `evaluation` of data/anonymization/evaluation/cascade."""
    import json
    import math
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    values = stages.cascade(Path(manifest.path), Path(iemocap.path),
                            Path(voice.path) / "model.pt", Path(duration.path) / "model.pt",
                            Path(linguistic.path), Path(world.path) / "world.json",
                            Path(asv.path), Path(emotion.path), Path(asr.path),
                            Path(anonymized.path), Path(evaluation.path), Path(metrics.path),
                            json.loads(options_json))
    for name, value in values.items():
        if math.isfinite(value):
            metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_admixture(p: str, manifest: Input[Dataset], iemocap: Input[Dataset],
                   first: Input[Dataset], second: Input[Dataset],
                   second_evaluation: Input[Artifact], asv: Input[Model], emotion: Input[Model],
                   asr: Input[Model], options_json: str, anonymized: Output[Dataset],
                   evaluation: Output[Artifact], metrics: Output[Metrics],
                   mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str,
                   pipeline_name: str = ""):
    """The admixture row at `p` from the anonymized folders of `first` (the cascade) and
    `second` (kNN-VC), the informed attacker from `second_evaluation`. Inside a
    dsl.ParallelFor the parent run id arrives empty and is found from `pipeline_name`."""
    import json
    import math
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id, pipeline_name)
    values = stages.admixture(p, Path(manifest.path), Path(iemocap.path), Path(first.path),
                              Path(second.path), Path(second_evaluation.path), Path(asv.path),
                              Path(emotion.path), Path(asr.path), Path(anonymized.path),
                              Path(evaluation.path), Path(metrics.path), json.loads(options_json))
    for name, value in values.items():
        if math.isfinite(value):
            metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_conversion(variant: str, manifest: Input[Dataset], iemocap: Input[Dataset],
                    ssl: Input[Model], vocoder: Input[Model], features: Input[Dataset],
                    asv: Input[Model],
                    emotion: Input[Model], asr: Input[Model], options_json: str,
                    model: Output[Model], anonymized: Output[Dataset],
                    evaluation: Output[Artifact], metrics: Output[Metrics],
                    mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str,
                    pipeline_name: str = ""):
    """A WavLM-feature conversion row: `model` the folder of
    models/anonymization/conversion/<variant>. Inside a dsl.ParallelFor the parent run id
    arrives empty and is found from `pipeline_name`."""
    import json
    import math
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id, pipeline_name)
    values = stages.conversion(variant, Path(manifest.path), Path(iemocap.path), Path(ssl.path),
                               Path(vocoder.path), Path(features.path), Path(asv.path),
                               Path(emotion.path), Path(asr.path), Path(model.path),
                               Path(anonymized.path), Path(evaluation.path), Path(metrics.path),
                               json.loads(options_json))
    for name, value in values.items():
        if math.isfinite(value):
            metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_report(systems: Input[List[Artifact]], second: Input[Artifact], cascade: Input[Artifact],
                admixtures: Input[List[Artifact]], conversions: Input[List[Artifact]],
                options_json: str, report: Output[Artifact], metrics: Output[Metrics],
                mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """Table 1, the privacy/utility figure and figure 4 from every row's evaluation (the
    ParallelFor loops' and the single tasks'): `report` is the folder of reports/anonymization."""
    import json
    import math
    import os
    import tempfile
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    folder = Path(tempfile.mkdtemp())       # one folder of links, as data/anonymization/evaluation
    evaluations = [*systems, second, cascade, *admixtures, *conversions]
    for index, evaluation in enumerate(evaluations):
        os.symlink(evaluation.path, folder / str(index))
    values = stages.report(folder, Path(report.path), Path(metrics.path),
                           json.loads(options_json))
    for name, value in values.items():
        if math.isfinite(value):
            metrics.log_metric(name, value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def anon_register(ssl: Input[Model], vocoder: Input[Model], asr: Input[Model],
                  voice: Input[Model], duration: Input[Model], linguistic: Input[Artifact],
                  world: Input[Artifact], conversions: Input[List[Model]],
                  report: Input[Metrics], options_json: str, registered: Output[Artifact],
                  mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """voxflow-ssl and every anonymizer @candidate: `registered` the JSON of their versions.
    `conversions`: the converters collected from their loop (each names its variant)."""
    import json
    import os
    import tempfile
    from pathlib import Path

    from voxflow.anonymization import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    folder = Path(tempfile.mkdtemp())   # one folder of links, as models/anonymization/conversion
    for index, converter in enumerate(conversions):
        os.symlink(converter.path, folder / str(index))
    stages.register(Path(ssl.path), Path(vocoder.path), Path(asr.path),
                    Path(voice.path) / "model.pt", Path(duration.path) / "model.pt",
                    Path(linguistic.path), Path(world.path) / "world.json", folder,
                    Path(report.path), Path(registered.path), json.loads(options_json))
