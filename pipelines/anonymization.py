"""The anonymization DAG of dvc.yaml as a Kubeflow pipeline.

`build(gpus)`: anon-corpus -> anon-ssl -> anon-probes -> anon-vocoder and anon-features (the
sources' SSL features, once for the rows); synth@mlms -> ingest@mlms
for the probes' phone alignments and the cascade's voice (mlms-features -> mlms-linguistic ->
mlms-train of `cascade.voice`, mlms-duration); synth@iemocap -> ingest@iemocap; the
evaluation's models trained on original speech (anon-asv, anon-emotion, anon-asr); then the
rows of table 1: per kNN-VC system of params.yaml (a ParallelFor) anon-system, the admixture's
`second` system on its own (the admixtures read it), anon-cascade, per p anon-admixture and per
variant anon-conversion (ParallelFor loops); anon-report -> anon-register. `gpus` is the
number of GPUs per training task (0: none, for kfp.local, which cannot give a task one).

The report collects the evaluations. The systems, p values and variants are fixed when the
pipeline is built, as dvc.yaml's foreach.
"""

from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

from components.anonymization import (anon_admixture, anon_cascade, anon_conversion,
                                      anon_corpus, anon_evaluator, anon_features, anon_probes,
                                      anon_register, anon_report, anon_ssl, anon_system,
                                      anon_vocoder)
from components.mlms import mlms_duration, mlms_features, mlms_linguistic, mlms_train
from pipelines.common import (PARAMS, SYNTH_DEFAULTS, corpus_tasks, ingest_default, parent_run,
                              section_default, synth_size_default, train_on)

SECTION = PARAMS["anonymization"]
SECOND = SECTION["admixture"]["second"]       # kNN-VC: its own task, the admixtures read it
SYSTEMS = [system for system in SECTION["systems"] if system != SECOND]
SHARES = [str(p) for p in SECTION["admixture"]["p"]]
VARIANTS = list(SECTION["conversion"]["variants"])
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
            mlms_options: str = section_default("mlms"),
            mlflow_tracking_uri: str = ""):
        """anonymization_options: params.yaml's whole `anonymization` section as JSON text
        (the systems, p values and variants of the ParallelFor loops are fixed when the
        pipeline is compiled); mlms_options: the `mlms` section, for the cascade's voice; the
        others as in the corpora pipeline."""
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
            features = anon_features(ssl=ssl.outputs["model"], probes=probes.outputs["metrics"],
                                     manifest=libritts, iemocap=iemocap.outputs["manifest"],
                                     **options, **tracking)
            features.set_display_name("anon-features")
            evaluators = {}
            for kind, manifest in (("asv", libritts), ("emotion", iemocap.outputs["manifest"]),
                                   ("asr", libritts)):
                evaluators[kind] = train_on(anon_evaluator(kind=kind, manifest=manifest,
                                                           **options, **tracking),
                                            gpus, TRAINING_CPU, TRAINING_MEMORY)
                evaluators[kind].set_display_name(f"anon-{kind}")
            voice = _voice(mlms, mlms_options, gpus, tracking)
            inputs = {"manifest": libritts, "iemocap": iemocap.outputs["manifest"],
                      **{kind: task.outputs["model"] for kind, task in evaluators.items()}}
            vocoding = {"ssl": ssl.outputs["model"], "vocoder": vocoder.outputs["model"]}
            encoded = {**vocoding, "features": features.outputs["features"]}
            in_loop = {**options, **tracking, "parent_run_id": "", "pipeline_name": PIPELINE_RUN}
            with dsl.ParallelFor(SYSTEMS, name="systems") as system:
                # the parent run is found by its tags inside a loop (see anon_system)
                evaluated = train_on(anon_system(system=system, **inputs, **encoded,
                                                 **in_loop), gpus, TRAINING_CPU, TRAINING_MEMORY)
                evaluated.set_display_name("anon-system")
            second = train_on(anon_system(system=SECOND, **inputs, **encoded, **options,
                                          **tracking), gpus, TRAINING_CPU, TRAINING_MEMORY)
            second.set_display_name(f"anon-system-{SECOND}")
            cascade = train_on(anon_cascade(**inputs, **voice, **options, **tracking),
                               gpus, TRAINING_CPU, TRAINING_MEMORY)
            cascade.set_display_name("anon-cascade")
            with dsl.ParallelFor(SHARES, name="admixtures") as share:
                admixed = train_on(anon_admixture(
                    p=share, **inputs, first=cascade.outputs["anonymized"],
                    second=second.outputs["anonymized"],
                    second_evaluation=second.outputs["evaluation"], **in_loop),
                    gpus, TRAINING_CPU, TRAINING_MEMORY)
                admixed.set_display_name("anon-admixture")
            with dsl.ParallelFor(VARIANTS, name="conversions") as variant:
                converted = train_on(anon_conversion(variant=variant, **inputs, **encoded,
                                                     **in_loop), gpus, TRAINING_CPU,
                                     TRAINING_MEMORY)
                converted.set_display_name("anon-conversion")
            report = anon_report(systems=dsl.Collected(evaluated.outputs["evaluation"]),
                                 second=second.outputs["evaluation"],
                                 cascade=cascade.outputs["evaluation"],
                                 admixtures=dsl.Collected(admixed.outputs["evaluation"]),
                                 conversions=dsl.Collected(converted.outputs["evaluation"]),
                                 **options, **tracking)
            report.set_display_name("anon-report")
            register = anon_register(**vocoding, asr=evaluators["asr"].outputs["model"], **voice,
                                     conversions=dsl.Collected(converted.outputs["model"]),
                                     report=report.outputs["metrics"], **options, **tracking)
            register.set_display_name("anon-register")

    return anonymization_pipeline


def _voice(mlms, mlms_options, gpus: int, tracking: dict) -> dict:
    """The cascade's voice from the MLMS corpus task `mlms`: the MLMS pipeline's features,
    linguistic folder, the acoustic model `cascade.voice` and the duration model, as the
    anon_cascade and anon_register inputs."""
    features = mlms_features(manifest=mlms.outputs["manifest"], options_json=mlms_options,
                             **tracking)
    features.set_display_name("mlms-features")
    linguistic = mlms_linguistic(manifest=mlms.outputs["manifest"],
                                 world=features.outputs["world"], options_json=mlms_options,
                                 **tracking)
    linguistic.set_display_name("mlms-linguistic")
    data = {"world": features.outputs["world"], "linguistic": linguistic.outputs["linguistic"]}
    acoustic = train_on(mlms_train(system=SECTION["cascade"]["voice"], **data,
                                   options_json=mlms_options, **tracking),
                        gpus, TRAINING_CPU, TRAINING_MEMORY)
    acoustic.set_display_name(f"mlms-train-{SECTION['cascade']['voice']}")
    duration = train_on(mlms_duration(linguistic=data["linguistic"], options_json=mlms_options,
                                      **tracking), gpus, TRAINING_CPU, TRAINING_MEMORY)
    duration.set_display_name("mlms-duration")
    return {**data, "voice": acoustic.outputs["model"], "duration": duration.outputs["model"]}


PIPELINES = {"anonymization": build}
