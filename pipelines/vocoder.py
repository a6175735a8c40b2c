"""The vocoder DAG of dvc.yaml as a Kubeflow pipeline.

`vocoder_pipeline`: synth@libritts -> ingest@libritts -> vocoder-features -> the teachers of
upw and sdpw -> their students -> vocoder-evaluate -> vocoder-register -> vocoder-promote, the
last only when the registry gate passed. Task display names are the dvc.yaml stage names, with
`-` for the `@` of a foreach stage, which KFP does not allow (`vocoder-teacher-upw`).
`build_vocoder_pipeline(gpus)` makes it with that many GPUs per training task (0: none, for
kfp.local, which cannot give a task one).
"""

import json

from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

from components.ingest import ingest
from components.synth import synth
from components.vocoder import (vocoder_evaluate, vocoder_features, vocoder_promote,
                                vocoder_register, vocoder_student, vocoder_teacher)
from pipelines.corpora import PARAMS, parent_run

SYSTEMS = ("upw", "sdpw")           # the keys of params.yaml's vocoder.systems, as in dvc.yaml
# requests of the training tasks: the segment sampler holds every training frame's log-mel in
# float64 for the statistics, several GB for train-clean-100; cores feed the batches
TRAINING_CPU, TRAINING_MEMORY = "4", "16Gi"
OTHER_CPU, OTHER_MEMORY = "2", "8Gi"  # features, evaluation (CPU only)


def _train_on(task: dsl.PipelineTask, gpus: int) -> dsl.PipelineTask:
    """`task` with the resources of a training stage: `gpus` NVIDIA GPUs when gpus > 0."""
    task.set_cpu_request(TRAINING_CPU).set_memory_request(TRAINING_MEMORY)
    if gpus > 0:
        task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(gpus)
    return task


def build_vocoder_pipeline(gpus: int = 1) -> GraphComponent:
    """The vocoder pipeline with `gpus` GPUs requested by each of the four training tasks."""

    @dsl.pipeline(name="voxflow-vocoder",
                  description="Train, distill, evaluate and register the LibriTTS vocoders.")
    def vocoder_pipeline(
            synth_size: str = PARAMS["synth"]["size"],
            synth_seed: int = PARAMS["synth"]["seed"],
            synth_workers: int = PARAMS["synth"]["workers"],
            ingest_libritts: str = json.dumps(PARAMS["ingest"]["libritts"]),
            vocoder_options: str = json.dumps(PARAMS["vocoder"]),
            mlflow_tracking_uri: str = ""):
        """vocoder_options: params.yaml's whole `vocoder` section as JSON text (a struct
        parameter would carry the integer steps and seeds as floats); the others as in
        `corpora_pipeline`."""
        with parent_run("kfp-vocoder", mlflow_tracking_uri) as tracking:
            synth_task = synth(corpus="libritts", size=synth_size, seed=synth_seed,
                               workers=synth_workers, **tracking)
            synth_task.set_display_name("synth-libritts")
            ingest_task = ingest(corpus="libritts", corpus_root=synth_task.outputs["corpus_root"],
                                 options_json=ingest_libritts, **tracking)
            ingest_task.set_display_name("ingest-libritts")
            features = vocoder_features(manifest=ingest_task.outputs["manifest"],
                                        options_json=vocoder_options, options_key="features",
                                        **tracking)
            features.set_display_name("vocoder-features")
            features.set_cpu_request(OTHER_CPU).set_memory_request(OTHER_MEMORY)

            teachers, students = {}, {}
            for system in SYSTEMS:
                teachers[system] = _train_on(vocoder_teacher(
                    system=system, features=features.outputs["features"],
                    options_json=vocoder_options, **tracking), gpus)
                teachers[system].set_display_name(f"vocoder-teacher-{system}")
            for system in SYSTEMS:
                students[system] = _train_on(vocoder_student(
                    system=system, features=features.outputs["features"],
                    teacher=teachers[system].outputs["teacher"], options_json=vocoder_options,
                    **tracking), gpus)
                students[system].set_display_name(f"vocoder-student-{system}")

            evaluate = vocoder_evaluate(
                features=features.outputs["features"], teacher=teachers["upw"].outputs["teacher"],
                student=students["upw"].outputs["student"],
                sdpw=students["sdpw"].outputs["student"], options_json=vocoder_options,
                **tracking)
            evaluate.set_display_name("vocoder-evaluate")
            evaluate.set_cpu_request(OTHER_CPU).set_memory_request(OTHER_MEMORY)
            register = vocoder_register(student=students["upw"].outputs["student"],
                                        evaluation=evaluate.outputs["metrics"],
                                        options_json=vocoder_options, **tracking)
            register.set_display_name("vocoder-register")
            # the registry gate: @champion moves only to a candidate not worse than the champion
            # (`==` on the channel builds the KFP condition; `is True` would be plain Python)
            with dsl.If(register.outputs["Output"] == True, name="champion-gate"):  # noqa: E712
                promote = vocoder_promote(decision=register.outputs["decision"], **tracking)
                promote.set_display_name("vocoder-promote")

    return vocoder_pipeline


vocoder_pipeline = build_vocoder_pipeline()
