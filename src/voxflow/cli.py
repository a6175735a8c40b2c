"""The `voxflow` command line: one subcommand per pipeline stage, thin over the library."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger("voxflow")


def _synth(args: argparse.Namespace) -> None:
    from voxflow.synth.corpora import CORPORA, build_corpus
    from voxflow.synth.corpora.common import check_size

    check_size(args.size)
    names = CORPORA if args.corpus == "all" else (args.corpus,)
    for name in names:
        start = time.perf_counter()
        root = build_corpus(name, args.out, size=args.size, seed=args.seed, workers=args.workers)
        log.info("%s (%s, seed %d) written to %s in %.1f s", name, args.size, args.seed, root,
                 time.perf_counter() - start)


def _ingest(args: argparse.Namespace) -> None:
    from voxflow.ingest import ingest

    options = {}
    if args.four_class:
        options["four_class"] = True
    if args.split_fractions:
        options["split_fractions"] = {k: float(v) for k, v in
                                      (item.split("=") for item in args.split_fractions.split(","))}
    if args.split_seed is not None:
        options["seed"] = args.split_seed
    ingest(args.corpus, args.root, args.out, **options)


def build_parser() -> argparse.ArgumentParser:
    from voxflow.synth.corpora import CORPORA
    from voxflow.synth.corpora.common import SIZES

    parser = argparse.ArgumentParser(prog="voxflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    synth = sub.add_parser("synth", help="synthesize miniature corpora in their native layouts")
    synth.add_argument("corpus", choices=(*CORPORA, "all"))
    synth.add_argument("--out", type=Path, required=True, help="folder that receives the corpora")
    synth.add_argument("--size", choices=SIZES, default="tiny")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    synth.set_defaults(func=_synth)

    from voxflow.ingest import INGESTERS

    ingest = sub.add_parser("ingest", help="read a corpus in its native layout into a manifest")
    ingest.add_argument("corpus", choices=INGESTERS)
    ingest.add_argument("root", type=Path, help="the corpus folder as released")
    ingest.add_argument("--out", type=Path, required=True, help="manifest FILE.parquet; "
                        "problem files go to FILE.rejects.parquet")
    ingest.add_argument("--four-class", action="store_true",
                        help="iemocap: keep neu, hap+exc, sad, ang")
    ingest.add_argument("--split-fractions", help="grid, mlms: e.g. train=0.8,dev=0.1,test=0.1")
    ingest.add_argument("--split-seed", type=int, help="grid, mlms: seed of the speaker split")
    ingest.set_defaults(func=_ingest)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        log.error("%s", err)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
