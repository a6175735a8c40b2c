"""The corpora DAG of dvc.yaml as a Kubeflow pipeline, and its variant for a real corpus.

`corpora_pipeline`: per corpus, synth -> ingest, as `synth@<corpus>` -> `ingest@<corpus>` in
dvc.yaml (task display names `synth-<corpus>`, `ingest-<corpus>`), then the LibriTTS manifest ->
`vocoder-features`, with params.yaml's values as the parameters' defaults;
`build_corpora_pipeline` makes it for fewer corpora.
`import_corpus_pipeline`: a release already in storage, brought in by `dsl.importer`, -> ingest.
In both, every stage's MLflow run nests under one parent run per pipeline run.
"""

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

from components.ingest import ingest
from components.synth import synth
from components.tracking import end_parent_run, start_parent_run
from components.vocoder import vocoder_features
from voxflow.stages import load_params
from voxflow.synth.corpora import CORPORA

PARAMS = load_params(Path(__file__).parents[1] / "params.yaml")


@contextmanager
def parent_run(pipeline_name: str, mlflow_tracking_uri: str) -> Iterator[dict]:
    """Tasks created in the block are tracked under one parent MLflow run, which an exit handler
    ends FINISHED or FAILED; yields the tracking arguments that every stage component takes."""
    run = {"pipeline_name": pipeline_name, "mlflow_tracking_uri": mlflow_tracking_uri,
           "kfp_run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER}
    with dsl.ExitHandler(end_parent_run(**run), name="stages"):
        start = start_parent_run(**run)
        yield {"mlflow_tracking_uri": mlflow_tracking_uri, "parent_run_id": start.output,
               "kfp_run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER}


def build_corpora_pipeline(corpora: Sequence[str] = CORPORA) -> GraphComponent:
    """The corpora pipeline, restricted to `corpora` for a quicker local run."""

    @dsl.pipeline(name="voxflow-corpora",
                  description="Synthesize miniature corpora and ingest each into a manifest.")
    def corpora_pipeline(
            synth_size: str = PARAMS["synth"]["size"],
            synth_seed: int = PARAMS["synth"]["seed"],
            synth_workers: int = PARAMS["synth"]["workers"],
            ingest_libritts: str = json.dumps(PARAMS["ingest"]["libritts"]),
            ingest_grid: str = json.dumps(PARAMS["ingest"]["grid"]),
            ingest_asvspoof: str = json.dumps(PARAMS["ingest"]["asvspoof"]),
            ingest_iemocap: str = json.dumps(PARAMS["ingest"]["iemocap"]),
            ingest_mlms: str = json.dumps(PARAMS["ingest"]["mlms"]),
            ingest_noise: str = json.dumps(PARAMS["ingest"]["noise"]),
            vocoder_features_options: str = json.dumps(PARAMS["vocoder"]["features"]),
            mlflow_tracking_uri: str = ""):
        """ingest_<corpus>: that corpus's params.yaml `ingest` section as JSON text;
        mlflow_tracking_uri: the tracking server; empty: the tasks' MLFLOW_TRACKING_URI, else
        voxflow's default store in their working directory."""
        ingest_options = {"libritts": ingest_libritts, "grid": ingest_grid,
                          "asvspoof": ingest_asvspoof, "iemocap": ingest_iemocap,
                          "mlms": ingest_mlms, "noise": ingest_noise}
        with parent_run("kfp-corpora", mlflow_tracking_uri) as tracking:
            for corpus in corpora:
                synth_task = synth(corpus=corpus, size=synth_size, seed=synth_seed,
                                   workers=synth_workers, **tracking)
                synth_task.set_display_name(f"synth-{corpus}")
                ingest_task = ingest(corpus=corpus, corpus_root=synth_task.outputs["corpus_root"],
                                     options_json=ingest_options[corpus], **tracking)
                ingest_task.set_display_name(f"ingest-{corpus}")
                if corpus == "libritts":
                    features_task = vocoder_features(
                        manifest=ingest_task.outputs["manifest"],
                        options_json=vocoder_features_options, **tracking)
                    features_task.set_display_name("vocoder-features")

    return corpora_pipeline


corpora_pipeline = build_corpora_pipeline()


@dsl.pipeline(name="voxflow-import-corpus",
              description="Ingest a corpus release already in storage into a manifest.")
def import_corpus_pipeline(corpus: str, corpus_uri: str, ingest_options: str = "{}",
                           mlflow_tracking_uri: str = ""):
    """corpus: libritts, grid, asvspoof, iemocap, mlms or noise; corpus_uri: the release folder
    as unpacked (e.g. s3://bucket/LibriTTS); ingest_options: its params.yaml `ingest` section
    as JSON text."""
    with parent_run("kfp-import-corpus", mlflow_tracking_uri) as tracking:
        release = dsl.importer(artifact_uri=corpus_uri, artifact_class=dsl.Artifact,
                               reimport=False)
        release.set_display_name("import-corpus")
        ingest(corpus=corpus, corpus_root=release.output, options_json=ingest_options, **tracking)
