"""The MLMS DAG of dvc.yaml as a Kubeflow pipeline.

`build(gpus)`: synth@mlms -> ingest@mlms -> mlms-features -> mlms-linguistic -> mlms-train of
every system of params.yaml, and mlms-duration; mlms-train of the adaptation source ->
mlms-adapt; every model -> mlms-evaluate -> mlms-register -> mlms-promote, the last only when the
registry gate passed. `gpus` is the number of GPUs per training task (mlms-train, mlms-duration,
mlms-adapt; 0: none, for kfp.local, which cannot give a task one).

The adaptation source (params.yaml's mlms.adaptation.source) is trained by a task of its own,
`mlms-train-<source>`, and the other systems in a dsl.ParallelFor: a loop's outputs are only
available collected (`dsl.Collected`), so mlms-adapt, taking the collected models, would wait for
every system, where dvc.yaml's mlms-adapt waits for the source's training only. The evaluation
and the registration take the source's model, the collected others, the duration model and the
adapted ones. The source and the loop's items are fixed when the pipeline is built, as dvc.yaml's
foreach: `mlms_options` must keep them.
"""

from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

from components.mlms import (mlms_adapt, mlms_duration, mlms_evaluate, mlms_features,
                             mlms_linguistic, mlms_register, mlms_train)
from components.registry import promote
from pipelines.common import (PARAMS, SYNTH_DEFAULTS, corpus_tasks, ingest_default, parent_run,
                              section_default, synth_size_default, train_on)
from voxflow.mlms.params import mlms_params

MLMS_PARAMS = mlms_params(PARAMS["mlms"])     # checks the section, the adaptation source among it
SOURCE = MLMS_PARAMS.adaptation.source
OTHER_SYSTEMS = [system for system in MLMS_PARAMS.systems if system != SOURCE]   # the ParallelFor's
if not OTHER_SYSTEMS:
    raise ValueError(f"params.yaml mlms.systems: no system besides the adaptation source "
                     f"{SOURCE!r}; the mlms pipeline's ParallelFor needs one")
TRAINING_CPU, TRAINING_MEMORY = "4", "8Gi"
OTHER_CPU, OTHER_MEMORY = "2", "4Gi"      # WORLD analysis and synthesis, linguistic features
PIPELINE_RUN = "kfp-mlms"                 # the parent MLflow run's voxflow.pipeline tag


def build(gpus: int = 1) -> GraphComponent:
    """The MLMS pipeline with `gpus` GPUs requested by each training task."""

    @dsl.pipeline(name="voxflow-mlms",
                  description="Multi-language multi-speaker LSTM acoustic model (WORLD) and its "
                              "adaptation to held-out languages.")
    def mlms_pipeline(
            synth_size_mlms: str = synth_size_default("mlms"),
            synth_seed: int = SYNTH_DEFAULTS["synth_seed"],
            synth_workers: int = SYNTH_DEFAULTS["synth_workers"],
            ingest_mlms: str = ingest_default("mlms"),
            mlms_options: str = section_default("mlms"),
            mlflow_tracking_uri: str = ""):
        """mlms_options: params.yaml's whole `mlms` section as JSON text (the systems and the
        adaptation source are fixed when the pipeline is compiled, from params.yaml, as
        dvc.yaml's foreach does); the others as in the corpora pipeline."""
        with parent_run(PIPELINE_RUN, mlflow_tracking_uri) as tracking:
            _, corpus = corpus_tasks("mlms", synth_size_mlms, synth_seed, synth_workers,
                                     ingest_mlms, tracking)
            features = mlms_features(manifest=corpus.outputs["manifest"],
                                     options_json=mlms_options, **tracking)
            features.set_display_name("mlms-features")
            linguistic = mlms_linguistic(manifest=corpus.outputs["manifest"],
                                         world=features.outputs["world"],
                                         options_json=mlms_options, **tracking)
            linguistic.set_display_name("mlms-linguistic")
            data = {"world": features.outputs["world"],
                    "linguistic": linguistic.outputs["linguistic"]}
            source = train_on(mlms_train(system=SOURCE, **data, options_json=mlms_options,
                                         **tracking),
                              gpus, TRAINING_CPU, TRAINING_MEMORY)
            source.set_display_name(f"mlms-train-{SOURCE}")
            with dsl.ParallelFor(OTHER_SYSTEMS, name="systems") as system:
                # the parent run is found by its tags inside a loop (see mlms_train)
                trained = train_on(mlms_train(system=system, **data, options_json=mlms_options,
                                              **{**tracking, "parent_run_id": ""},
                                              pipeline_name=PIPELINE_RUN),
                                   gpus, TRAINING_CPU, TRAINING_MEMORY)
                trained.set_display_name("mlms-train")
            duration = train_on(mlms_duration(linguistic=linguistic.outputs["linguistic"],
                                              options_json=mlms_options, **tracking),
                                gpus, TRAINING_CPU, TRAINING_MEMORY)
            duration.set_display_name("mlms-duration")
            adapt = train_on(mlms_adapt(source=source.outputs["model"], **data,
                                        options_json=mlms_options, **tracking),
                             gpus, TRAINING_CPU, TRAINING_MEMORY)
            adapt.set_display_name("mlms-adapt")

            def models() -> dict:
                """Every model; a dsl.Collected serves one task only."""
                return {"source": source.outputs["model"],
                        "systems": dsl.Collected(trained.outputs["model"]),
                        "duration": duration.outputs["model"],
                        "adapted": adapt.outputs["adapted"]}

            evaluate = mlms_evaluate(**data, **models(), options_json=mlms_options, **tracking)
            evaluate.set_display_name("mlms-evaluate")
            for task in (features, linguistic, evaluate):
                task.set_cpu_request(OTHER_CPU).set_memory_request(OTHER_MEMORY)
            register = mlms_register(linguistic=linguistic.outputs["linguistic"], **models(),
                                     evaluation=evaluate.outputs["metrics"],
                                     options_json=mlms_options, **tracking)
            register.set_display_name("mlms-register")
            # the registry gate: @champion moves only to a candidate not worse than the champion
            with dsl.If(register.outputs["Output"] == True, name="champion-gate"):  # noqa: E712
                gate = promote(system="mlms", decision=register.outputs["decision"],
                               **tracking)
                gate.set_display_name("mlms-promote")

    return mlms_pipeline


PIPELINES = {"mlms": build}
