"""The vocoder DAG of dvc.yaml as a Kubeflow pipeline.

`build(gpus)`: synth@libritts -> ingest@libritts -> vocoder-features -> the teachers of
upw and sdpw -> their students -> vocoder-evaluate -> vocoder-register -> vocoder-promote, the
last only when the registry gate passed (`vocoder-teacher-upw` for `vocoder-teacher@upw`).
`gpus` is the number of GPUs per training task (0: none, for kfp.local, which
cannot give a task one).
"""

from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

from components.registry import promote
from components.vocoder import (vocoder_evaluate, vocoder_features, vocoder_register,
                                vocoder_student, vocoder_teacher)
from pipelines.common import (PARAMS, SYNTH_DEFAULTS, corpus_tasks, ingest_default, parent_run,
                              section_default, train_on)

SYSTEMS = tuple(PARAMS["vocoder"]["systems"])   # the evaluation reads upw and sdpw
# requests of the training tasks: the segment sampler holds every training frame's log-mel in
# float64 for the statistics, several GB for train-clean-100; cores feed the batches
TRAINING_CPU, TRAINING_MEMORY = "4", "16Gi"
OTHER_CPU, OTHER_MEMORY = "2", "8Gi"  # features, evaluation (CPU only)


def build(gpus: int = 1) -> GraphComponent:
    """The vocoder pipeline with `gpus` GPUs requested by each of the four training tasks."""

    @dsl.pipeline(name="voxflow-vocoder",
                  description="Train, distill, evaluate and register the LibriTTS vocoders.")
    def vocoder_pipeline(
            synth_size: str = SYNTH_DEFAULTS["synth_size"],
            synth_seed: int = SYNTH_DEFAULTS["synth_seed"],
            synth_workers: int = SYNTH_DEFAULTS["synth_workers"],
            ingest_libritts: str = ingest_default("libritts"),
            vocoder_options: str = section_default("vocoder"),
            mlflow_tracking_uri: str = ""):
        """vocoder_options: params.yaml's whole `vocoder` section as JSON text; the others as
        in the corpora pipeline."""
        with parent_run("kfp-vocoder", mlflow_tracking_uri) as tracking:
            _, ingest_task = corpus_tasks("libritts", synth_size, synth_seed, synth_workers,
                                          ingest_libritts, tracking)
            features = vocoder_features(manifest=ingest_task.outputs["manifest"],
                                        options_json=vocoder_options, **tracking)
            features.set_display_name("vocoder-features")
            features.set_cpu_request(OTHER_CPU).set_memory_request(OTHER_MEMORY)

            teachers, students = {}, {}
            for system in SYSTEMS:
                teachers[system] = train_on(vocoder_teacher(
                    system=system, features=features.outputs["features"],
                    options_json=vocoder_options, **tracking), gpus, TRAINING_CPU,
                    TRAINING_MEMORY)
                teachers[system].set_display_name(f"vocoder-teacher-{system}")
            for system in SYSTEMS:
                students[system] = train_on(vocoder_student(
                    system=system, features=features.outputs["features"],
                    teacher=teachers[system].outputs["teacher"], options_json=vocoder_options,
                    **tracking), gpus, TRAINING_CPU, TRAINING_MEMORY)
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
                gate = promote(system="vocoder", decision=register.outputs["decision"],
                               **tracking)
                gate.set_display_name("vocoder-promote")

    return vocoder_pipeline


PIPELINES = {"vocoder": build}
