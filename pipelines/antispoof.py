"""The spoofing-detection DAG of dvc.yaml (the Siamese spoofing paper) as a Kubeflow pipeline.

`build(gpus)`: synth@asvspoof -> ingest@asvspoof -> antispoof-features per spectral front-end
(lfcc, cqcc) and antispoof-ssl-features, whose default encoder is the anonymization DAG's
(anon-corpus -> anon-ssl, run here with params.yaml's `anonymization` section) -> the LFCC-GMM
and CQCC-GMM baselines and, per front-end, a `dsl.ParallelFor` over params.yaml's
antispoof.systems of that front-end (Siamese and original networks) ->
antispoof-evaluate (which also reads the corpus's ASV scores) -> antispoof-register ->
antispoof-promote, the last only when the registry gate passed (`dsl.If`). Task display names
are the dvc.yaml stage names with `-` for the `@` of a foreach stage (`antispoof-features-lfcc`);
the trainings inside the ParallelFor loops are all `antispoof-train`, one per item. `gpus`:
GPUs per training task (0 for kfp.local).
"""

from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

from components.anonymization import anon_corpus, anon_ssl
from components.antispoof import (antispoof_evaluate, antispoof_features, antispoof_gmm,
                                  antispoof_register, antispoof_ssl_features, antispoof_train)
from components.registry import promote
from pipelines.common import (PARAMS, SYNTH_DEFAULTS, corpus_tasks, ingest_default, parent_run,
                              section_default, train_on)

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
if tuple(PARAMS["antispoof"]["gmm"]["frontends"]) != GMM_FRONTENDS:
    raise ValueError(f"the antispoof pipeline runs the GMMs on {', '.join(GMM_FRONTENDS)}")


def build(gpus: int = 1) -> GraphComponent:
    """The antispoof pipeline with `gpus` GPUs requested by each training task."""

    @dsl.pipeline(name="voxflow-antispoof",
                  description="Siamese spoofing detection on ASVspoof 2019 LA.")
    def antispoof_pipeline(
            synth_size: str = SYNTH_DEFAULTS["synth_size"],
            synth_seed: int = SYNTH_DEFAULTS["synth_seed"],
            synth_workers: int = SYNTH_DEFAULTS["synth_workers"],
            ingest_asvspoof: str = ingest_default("asvspoof"),
            antispoof_options: str = section_default("antispoof"),
            anonymization_options: str = section_default("anonymization"),
            mlflow_tracking_uri: str = ""):
        """antispoof_options: params.yaml's whole `antispoof` section as JSON text (the systems the
        ParallelFor loops train are fixed when the pipeline is compiled, from params.yaml, as
        dvc.yaml's foreach does); anonymization_options: the `anonymization` section, for the
        SSL encoder's corpus and pretraining; the others as in the corpora pipeline."""
        with parent_run(PIPELINE_RUN, mlflow_tracking_uri) as tracking:
            synth_task, ingest_task = corpus_tasks("asvspoof", synth_size, synth_seed,
                                                   synth_workers, ingest_asvspoof, tracking)

            features, gmm, trained = {}, {}, {}
            for frontend in GMM_FRONTENDS:
                features[frontend] = antispoof_features(
                    frontend=frontend, manifest=ingest_task.outputs["manifest"],
                    options_json=antispoof_options, **tracking)
                features[frontend].set_display_name(f"antispoof-features-{frontend}")
            corpus = anon_corpus(options_json=anonymization_options, **tracking)
            corpus.set_display_name("anon-corpus")
            ssl = train_on(anon_ssl(manifest=corpus.outputs["manifest"],
                                    options_json=anonymization_options, **tracking),
                           gpus, TRAINING_CPU, TRAINING_MEMORY)
            ssl.set_display_name("anon-ssl")
            features["ssl"] = antispoof_ssl_features(
                manifest=ingest_task.outputs["manifest"], ssl=ssl.outputs["model"],
                options_json=antispoof_options, **tracking)
            features["ssl"].set_display_name("antispoof-ssl-features")
            for frontend in GMM_FRONTENDS:
                gmm[frontend] = antispoof_gmm(frontend=frontend,
                                              features=features[frontend].outputs["features"],
                                              options_json=antispoof_options, **tracking)
                gmm[frontend].set_display_name(f"antispoof-gmm-{frontend}")
            for frontend in FRONTENDS:
                with dsl.ParallelFor(systems_of(frontend), name=f"systems-{frontend}") as system:
                    # the parent run is found by its tags inside a loop (see antispoof_train)
                    task = train_on(antispoof_train(system=system,
                                                    features=features[frontend].outputs["features"],
                                                    options_json=antispoof_options,
                                                    **{**tracking, "parent_run_id": ""},
                                                    pipeline_name=PIPELINE_RUN),
                                    gpus, TRAINING_CPU, TRAINING_MEMORY)
                    task.set_display_name("antispoof-train")
                trained[frontend] = task

            def collected(frontend: str) -> dsl.Collected:
                # one Collected per consumer: compiling rewrites a Collected for the task using it
                return dsl.Collected(trained[frontend].outputs["model"])

            evaluate = antispoof_evaluate(
                gmm_lfcc=gmm["lfcc"].outputs["model"], gmm_cqcc=gmm["cqcc"].outputs["model"],
                systems_lfcc=collected("lfcc"), systems_cqcc=collected("cqcc"),
                systems_ssl=collected("ssl"), corpus_root=synth_task.outputs["corpus_root"],
                **tracking)
            evaluate.set_display_name("antispoof-evaluate")
            register = antispoof_register(
                evaluation=evaluate.outputs["report"], systems_lfcc=collected("lfcc"),
                systems_cqcc=collected("cqcc"), systems_ssl=collected("ssl"),
                options_json=antispoof_options, **tracking)
            register.set_display_name("antispoof-register")
            # the registry gate: @champion moves only to a candidate whose eval EER is not worse
            with dsl.If(register.outputs["Output"] == True, name="champion-gate"):  # noqa: E712
                gate = promote(system="antispoof", decision=register.outputs["decision"],
                               **tracking)
                gate.set_display_name("antispoof-promote")

    return antispoof_pipeline


PIPELINES = {"antispoof": build}
