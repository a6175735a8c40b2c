"""The spoofing-detection DAG of dvc.yaml (seed 004) as a Kubeflow pipeline.

`antispoof_pipeline`: synth@asvspoof -> ingest@asvspoof -> antispoof-features per front-end
(lfcc, cqcc, ssl) -> the LFCC-GMM and CQCC-GMM baselines and, per front-end, a `dsl.ParallelFor`
over params.yaml's antispoof.systems of that front-end (Siamese and original networks) ->
antispoof-evaluate (which also reads the corpus's ASV scores) -> antispoof-register ->
antispoof-promote, the last only when the registry gate passed (`dsl.If`). Task display names
are the dvc.yaml stage names with `-` for the `@` of a foreach stage (`antispoof-features-lfcc`);
the trainings inside the ParallelFor loops are all `antispoof-siamese`, one per item.
"""

import json

from kfp import dsl

from components.antispoof import (antispoof_evaluate, antispoof_features, antispoof_gmm,
                                  antispoof_promote, antispoof_register, antispoof_siamese)
from components.ingest import ingest
from components.synth import synth
from pipelines.corpora import PARAMS, parent_run

FRONTENDS = ("lfcc", "cqcc", "ssl")         # the components' fixed inputs, one per front-end
GMM_FRONTENDS = ("lfcc", "cqcc")
TRAINING_CPU, TRAINING_MEMORY = "2", "4Gi"
PIPELINE_RUN = "kfp-antispoof"              # the parent MLflow run's voxflow.pipeline tag


def systems_of(frontend: str, options: dict = PARAMS["antispoof"]) -> list[str]:
    """The keys of antispoof.systems trained on `frontend`, in params.yaml's order."""
    return [name for name, spec in options["systems"].items() if spec["frontend"] == frontend]


for _frontend in FRONTENDS:                 # an empty ParallelFor cannot be collected
    if not systems_of(_frontend):
        raise ValueError(f"params.yaml's antispoof.systems has no system on {_frontend}: the "
                         f"pipeline needs at least one per front-end ({', '.join(FRONTENDS)})")
if set(PARAMS["antispoof"]["frontends"]) != set(FRONTENDS):
    raise ValueError(f"the antispoof pipeline runs the front-ends {', '.join(FRONTENDS)}")


@dsl.pipeline(name="voxflow-antispoof",
              description="Siamese spoofing detection (seed 004) on ASVspoof 2019 LA.")
def antispoof_pipeline(
        synth_size: str = PARAMS["synth"]["size"],
        synth_seed: int = PARAMS["synth"]["seed"],
        synth_workers: int = PARAMS["synth"]["workers"],
        ingest_asvspoof: str = json.dumps(PARAMS["ingest"]["asvspoof"]),
        antispoof_options: str = json.dumps(PARAMS["antispoof"]),
        mlflow_tracking_uri: str = ""):
    """antispoof_options: params.yaml's whole `antispoof` section as JSON text (the systems the
    ParallelFor loops train are fixed when the pipeline is compiled, from params.yaml, as
    dvc.yaml lists them); the others as in `corpora_pipeline`."""
    with parent_run(PIPELINE_RUN, mlflow_tracking_uri) as tracking:
        synth_task = synth(corpus="asvspoof", size=synth_size, seed=synth_seed,
                           workers=synth_workers, **tracking)
        synth_task.set_display_name("synth-asvspoof")
        ingest_task = ingest(corpus="asvspoof", corpus_root=synth_task.outputs["corpus_root"],
                             options_json=ingest_asvspoof, **tracking)
        ingest_task.set_display_name("ingest-asvspoof")

        features, gmm, trained = {}, {}, {}
        for frontend in FRONTENDS:
            features[frontend] = antispoof_features(
                frontend=frontend, manifest=ingest_task.outputs["manifest"],
                options_json=antispoof_options, **tracking)
            features[frontend].set_display_name(f"antispoof-features-{frontend}")
        for frontend in GMM_FRONTENDS:
            gmm[frontend] = antispoof_gmm(frontend=frontend,
                                          features=features[frontend].outputs["features"],
                                          options_json=antispoof_options, **tracking)
            gmm[frontend].set_display_name(f"antispoof-gmm-{frontend}")
        for frontend in FRONTENDS:
            with dsl.ParallelFor(systems_of(frontend), name=f"systems-{frontend}") as name:
                # the parent run is found by its tags inside a loop (see antispoof_siamese)
                task = antispoof_siamese(name=name,
                                         features=features[frontend].outputs["features"],
                                         options_json=antispoof_options,
                                         **{**tracking, "parent_run_id": ""},
                                         pipeline_name=PIPELINE_RUN)
                task.set_display_name("antispoof-siamese")
                task.set_cpu_request(TRAINING_CPU).set_memory_request(TRAINING_MEMORY)
            trained[frontend] = task

        def collected(frontend: str) -> dsl.Collected:
            # one Collected per consumer: compiling rewrites a Collected for the task using it
            return dsl.Collected(trained[frontend].outputs["system"])

        evaluate = antispoof_evaluate(
            gmm_lfcc=gmm["lfcc"].outputs["system"], gmm_cqcc=gmm["cqcc"].outputs["system"],
            systems_lfcc=collected("lfcc"), systems_cqcc=collected("cqcc"),
            systems_ssl=collected("ssl"), corpus_root=synth_task.outputs["corpus_root"],
            options_json=antispoof_options, **tracking)
        evaluate.set_display_name("antispoof-evaluate")
        register = antispoof_register(
            evaluation=evaluate.outputs["report"], systems_lfcc=collected("lfcc"),
            systems_cqcc=collected("cqcc"), systems_ssl=collected("ssl"),
            options_json=antispoof_options, **tracking)
        register.set_display_name("antispoof-register")
        # the registry gate: @champion moves only to a candidate whose eval EER is not worse
        with dsl.If(register.outputs["Output"] == True, name="champion-gate"):  # noqa: E712
            promote = antispoof_promote(decision=register.outputs["decision"], **tracking)
            promote.set_display_name("antispoof-promote")
