"""The corpora system: synthesize the embedded default (`voxflow.synth`) and ingest every corpus
into a manifest (`voxflow.ingest`), the stages that every other system's DAG starts from."""
