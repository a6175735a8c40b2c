"""The corpora DAG of dvc.yaml as a Kubeflow pipeline, and its variant for a real corpus.

`build(gpus, corpora)`: per corpus, synth -> ingest, as `synth@<corpus>` -> `ingest@<corpus>`
in dvc.yaml, with params.yaml's values as the parameters' defaults (`corpora` restricts it to
fewer corpora, for a quicker local run; it has no training, so `gpus` is unused).
`build_import(gpus)`: a release already in storage, brought in by `dsl.importer`, -> ingest.
In both, every stage's MLflow run nests under one parent run per pipeline run.
"""

from collections.abc import Sequence

from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

from components.corpora import ingest
from pipelines.common import SYNTH_DEFAULTS, corpus_tasks, ingest_default, parent_run
from voxflow.synth.corpora import CORPORA


def build(gpus: int = 0, corpora: Sequence[str] = CORPORA) -> GraphComponent:
    """The corpora pipeline of `corpora`."""

    @dsl.pipeline(name="voxflow-corpora",
                  description="Synthesize miniature corpora and ingest each into a manifest.")
    def corpora_pipeline(
            synth_size: str = SYNTH_DEFAULTS["synth_size"],
            synth_seed: int = SYNTH_DEFAULTS["synth_seed"],
            synth_workers: int = SYNTH_DEFAULTS["synth_workers"],
            ingest_libritts: str = ingest_default("libritts"),
            ingest_grid: str = ingest_default("grid"),
            ingest_asvspoof: str = ingest_default("asvspoof"),
            ingest_iemocap: str = ingest_default("iemocap"),
            ingest_mlms: str = ingest_default("mlms"),
            ingest_noise: str = ingest_default("noise"),
            mlflow_tracking_uri: str = ""):
        """ingest_<corpus>: that corpus's params.yaml `ingest` options as JSON text;
        mlflow_tracking_uri: the tracking server; empty: the tasks' MLFLOW_TRACKING_URI, else
        voxflow's default store in their working directory."""
        ingest_options = {"libritts": ingest_libritts, "grid": ingest_grid,
                          "asvspoof": ingest_asvspoof, "iemocap": ingest_iemocap,
                          "mlms": ingest_mlms, "noise": ingest_noise}
        with parent_run("kfp-corpora", mlflow_tracking_uri) as tracking:
            for corpus in corpora:
                corpus_tasks(corpus, synth_size, synth_seed, synth_workers,
                             ingest_options[corpus], tracking)

    return corpora_pipeline


def build_import(gpus: int = 0) -> GraphComponent:
    """The import variant (no training: `gpus` is unused)."""

    @dsl.pipeline(name="voxflow-import-corpus",
                  description="Ingest a corpus release already in storage into a manifest.")
    def import_corpus_pipeline(corpus: str, corpus_uri: str, ingest_options: str = "{}",
                               mlflow_tracking_uri: str = ""):
        """corpus: libritts, grid, asvspoof, iemocap, mlms or noise; corpus_uri: the release
        folder as unpacked (e.g. s3://bucket/LibriTTS); ingest_options: its params.yaml
        `ingest` options as JSON text."""
        with parent_run("kfp-import-corpus", mlflow_tracking_uri) as tracking:
            release = dsl.importer(artifact_uri=corpus_uri, artifact_class=dsl.Artifact,
                                   reimport=False)
            release.set_display_name("import-corpus")
            ingest(corpus=corpus, corpus_root=release.output, options_json=ingest_options,
                   **tracking)

    return import_corpus_pipeline


PIPELINES = {"corpora": build, "import-corpus": build_import}
