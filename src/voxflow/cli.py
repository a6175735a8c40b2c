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
