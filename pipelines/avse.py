"""The AV-SE DAG of dvc.yaml as a Kubeflow pipeline.

`build(gpus)`: synth@grid, synth@noise -> their ingests -> avse-mix -> avse-features and
avse-crops -> avse-train of every system of params.yaml (a ParallelFor) -> avse-evaluate ->
avse-register -> avse-promote, the last only when the registry gate passed. `gpus` is the
number of GPUs per training task (0: none, for kfp.local, which cannot give a task one).
"""

from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

from components.avse import (avse_crops, avse_evaluate, avse_features, avse_mix,
                             avse_register, avse_train)
from components.registry import promote
from pipelines.common import (PARAMS, SYNTH_DEFAULTS, corpus_tasks, ingest_default, parent_run,
                              section_default, synth_size_default, train_on)

SYSTEMS = list(PARAMS["avse"]["systems"])
TRAINING_CPU, TRAINING_MEMORY = "4", "8Gi"
OTHER_CPU, OTHER_MEMORY = "2", "4Gi"      # mixing, crops (dlib on the CPU), evaluation
PIPELINE_RUN = "kfp-avse"                 # the parent MLflow run's voxflow.pipeline tag


def build(gpus: int = 1) -> GraphComponent:
    """The AV-SE pipeline with `gpus` GPUs requested by each training task."""

    @dsl.pipeline(name="voxflow-avse",
                  description="Audio-visual speech enhancement (MHCA-AVCRN) on GRID + noise.")
    def avse_pipeline(
            synth_size_grid: str = synth_size_default("grid"),
            synth_size_noise: str = synth_size_default("noise"),
            synth_seed: int = SYNTH_DEFAULTS["synth_seed"],
            synth_workers: int = SYNTH_DEFAULTS["synth_workers"],
            ingest_grid: str = ingest_default("grid"),
            ingest_noise: str = ingest_default("noise"),
            avse_options: str = section_default("avse"),
            mlflow_tracking_uri: str = ""):
        """avse_options: params.yaml's whole `avse` section as JSON text (the systems the
        ParallelFor trains are fixed when the pipeline is compiled, from params.yaml, as
        dvc.yaml's foreach does); the others as in the corpora pipeline."""
        with parent_run(PIPELINE_RUN, mlflow_tracking_uri) as tracking:
            _, grid = corpus_tasks("grid", synth_size_grid, synth_seed, synth_workers,
                                   ingest_grid, tracking)
            _, noise = corpus_tasks("noise", synth_size_noise, synth_seed, synth_workers,
                                    ingest_noise, tracking)
            mix = avse_mix(grid_manifest=grid.outputs["manifest"],
                           noise_manifest=noise.outputs["manifest"], options_json=avse_options,
                           **tracking)
            mix.set_display_name("avse-mix")
            crops = avse_crops(grid_manifest=grid.outputs["manifest"], options_json=avse_options,
                               **tracking)
            crops.set_display_name("avse-crops")
            features = avse_features(mixtures=mix.outputs["mixtures"], options_json=avse_options,
                                     **tracking)
            features.set_display_name("avse-features")
            for task in (mix, crops, features):
                task.set_cpu_request(OTHER_CPU).set_memory_request(OTHER_MEMORY)
            with dsl.ParallelFor(SYSTEMS, name="systems") as system:
                # the parent run is found by its tags inside a loop (see avse_train)
                trained = train_on(avse_train(system=system,
                                              features=features.outputs["features"],
                                              crops=crops.outputs["crops"],
                                              options_json=avse_options,
                                              **{**tracking, "parent_run_id": ""},
                                              pipeline_name=PIPELINE_RUN),
                                   gpus, TRAINING_CPU, TRAINING_MEMORY)
                trained.set_display_name("avse-train")
            evaluate = avse_evaluate(mixtures=mix.outputs["mixtures"],
                                     features=features.outputs["features"],
                                     crops=crops.outputs["crops"],
                                     models=dsl.Collected(trained.outputs["model"]),
                                     options_json=avse_options, **tracking)
            evaluate.set_display_name("avse-evaluate")
            evaluate.set_cpu_request(OTHER_CPU).set_memory_request(OTHER_MEMORY)
            register = avse_register(models=dsl.Collected(trained.outputs["model"]),
                                     evaluation=evaluate.outputs["metrics"],
                                     options_json=avse_options, **tracking)
            register.set_display_name("avse-register")
            # the registry gate: @champion moves only to a candidate not worse than the champion
            with dsl.If(register.outputs["Output"] == True, name="champion-gate"):  # noqa: E712
                gate = promote(system="avse", decision=register.outputs["decision"],
                               **tracking)
                gate.set_display_name("avse-promote")

    return avse_pipeline


PIPELINES = {"avse": build}
