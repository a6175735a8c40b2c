"""The anonymization DAG of dvc.yaml as a Kubeflow pipeline.

`build(gpus)`: anon-corpus -> anon-ssl -> anon-probes -> anon-vocoder; synth@mlms -> ingest@mlms
for the probes' phone alignments; synth@iemocap -> ingest@iemocap; the evaluation's models
trained on original speech (anon-asv, anon-emotion, anon-asr); then per system of params.yaml
(a ParallelFor) anon-system: its anonymization and evaluation; anon-report -> anon-register.
`gpus` is the number of GPUs per training task (0: none, for kfp.local, which cannot give a
task one).

The report collects the evaluations. The systems are fixed when the pipeline is built, as
dvc.yaml's foreach.
"""

from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

from components.anonymization import (anon_corpus, anon_evaluator, anon_probes, anon_register,
                                      anon_report, anon_ssl, anon_system, anon_vocoder)
from pipelines.common import (PARAMS, SYNTH_DEFAULTS, corpus_tasks, ingest_default, parent_run,
                              section_default, synth_size_default, train_on)

SYSTEMS = list(PARAMS["anonymization"]["systems"])
TRAINING_CPU, TRAINING_MEMORY = "4", "8Gi"
PIPELINE_RUN = "kfp-anonymization"        # the parent MLflow run's voxflow.pipeline tag


def build(gpus: int = 1) -> GraphComponent:
    """The anonymization pipeline with `gpus` GPUs requested by each training task."""

    @dsl.pipeline(name="voxflow-anonymization",
                  description="Voice anonymization (kNN-VC) with the VoicePrivacy 2024 "
                              "evaluation: ASV attackers, emotion and speech recognition.")
    def anonymization_pipeline(
            synth_size_mlms: str = synth_size_default("mlms"),
            synth_size_iemocap: str = synth_size_default("iemocap"),
            synth_seed: int = SYNTH_DEFAULTS["synth_seed"],
            synth_workers: int = SYNTH_DEFAULTS["synth_workers"],
            ingest_mlms: str = ingest_default("mlms"),
            ingest_iemocap: str = ingest_default("iemocap"),
            anonymization_options: str = section_default("anonymization"),
            mlflow_tracking_uri: str = ""):
        """anonymization_options: params.yaml's whole `anonymization` section as JSON text
        (the systems of the ParallelFor are fixed when the pipeline is compiled); the others as
        in the corpora pipeline."""
        options = {"options_json": anonymization_options}
        with parent_run(PIPELINE_RUN, mlflow_tracking_uri) as tracking:
            _, mlms = corpus_tasks("mlms", synth_size_mlms, synth_seed, synth_workers,
                                   ingest_mlms, tracking)
            _, iemocap = corpus_tasks("iemocap", synth_size_iemocap, synth_seed, synth_workers,
                                      ingest_iemocap, tracking)
            corpus = anon_corpus(**options, **tracking)
            corpus.set_display_name("anon-corpus")
            libritts = corpus.outputs["manifest"]
            ssl = train_on(anon_ssl(manifest=libritts, **options, **tracking), gpus,
                           TRAINING_CPU, TRAINING_MEMORY)
            ssl.set_display_name("anon-ssl")
            probes = anon_probes(ssl=ssl.outputs["model"], mlms_manifest=mlms.outputs["manifest"],
                                 **options, **tracking)
            probes.set_display_name("anon-probes")
            vocoder = train_on(anon_vocoder(ssl=ssl.outputs["model"],
                                            probes=probes.outputs["metrics"], manifest=libritts,
                                            **options, **tracking),
                               gpus, TRAINING_CPU, TRAINING_MEMORY)
            vocoder.set_display_name("anon-vocoder")
            evaluators = {}
            for kind, manifest in (("asv", libritts), ("emotion", iemocap.outputs["manifest"]),
                                   ("asr", libritts)):
                evaluators[kind] = train_on(anon_evaluator(kind=kind, manifest=manifest,
                                                           **options, **tracking),
                                            gpus, TRAINING_CPU, TRAINING_MEMORY)
                evaluators[kind].set_display_name(f"anon-{kind}")
            with dsl.ParallelFor(SYSTEMS, name="systems") as system:
                # the parent run is found by its tags inside a loop (see anon_system)
                evaluated = train_on(anon_system(
                    system=system, manifest=libritts, iemocap=iemocap.outputs["manifest"],
                    ssl=ssl.outputs["model"], vocoder=vocoder.outputs["model"],
                    **{kind: task.outputs["model"] for kind, task in evaluators.items()},
                    **options, **{**tracking, "parent_run_id": ""}, pipeline_name=PIPELINE_RUN),
                    gpus, TRAINING_CPU, TRAINING_MEMORY)
                evaluated.set_display_name("anon-system")
            report = anon_report(evaluations=dsl.Collected(evaluated.outputs["evaluation"]),
                                 **options, **tracking)
            report.set_display_name("anon-report")
            register = anon_register(ssl=ssl.outputs["model"], vocoder=vocoder.outputs["model"],
                                     report=report.outputs["metrics"], **options, **tracking)
            register.set_display_name("anon-register")

    return anonymization_pipeline


PIPELINES = {"anonymization": build}
