"""`voxflow stage synth|ingest`: the corpora stages with params.yaml's sections."""
from __future__ import annotations

import argparse
from pathlib import Path

from voxflow.stage_io import load_section


def _synth(args: argparse.Namespace) -> None:
    from voxflow.corpora import stages

    stages.synth(args.corpus, args.out, load_section("synth", args.params))


def _ingest(args: argparse.Namespace) -> None:
    from voxflow.corpora import stages

    stages.ingest(args.corpus, args.root, args.out, args.metrics,
                  load_section("ingest", args.params))


def add_stages(stage) -> list[argparse.ArgumentParser]:
    from voxflow.ingest import INGESTERS
    from voxflow.synth.corpora import CORPORA

    synth = stage.add_parser("synth", help="synthesize one corpus")
    synth.add_argument("corpus", choices=CORPORA)
    synth.add_argument("--out", type=Path, required=True)
    synth.set_defaults(func=_synth)
    ingest = stage.add_parser("ingest", help="ingest one corpus into a manifest")
    ingest.add_argument("corpus", choices=INGESTERS)
    ingest.add_argument("root", type=Path)
    ingest.add_argument("--out", type=Path, required=True)
    ingest.add_argument("--metrics", type=Path, required=True, help="DVC metrics JSON")
    ingest.set_defaults(func=_ingest)
    return [synth, ingest]
