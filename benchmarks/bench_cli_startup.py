"""Start-up time of a `voxflow stage ...` command line, this checkout's `src/` against a baseline's,
side by side. Every stage of dvc.yaml is one such process, so its start-up is paid about 80
times by `make run` and 60 times by the DAG test.

    .venv/bin/python benchmarks/bench_cli_startup.py [--baseline 886d056] [--repeats 15]
        [--out benchmarks/results/cli_startup.json]

The baseline's `src/` is extracted with `git archive <rev> src | tar -x` into a temporary
folder; "current" is this checkout's `src/`. Each run is a fresh `python -c` with
PYTHONPATH=<that side's src> (checked: the child's voxflow is that side's) parsing
`voxflow stage <stage> --help` through `voxflow.cli.main`: the parser of every system's stages is
built, nothing runs. Runs alternate baseline, current, so both see the same load; wall time from
the parent, medians and minimums over the repeats.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# a light stage (reads a few tables) and a training stage: what their command lines cost to start
STAGES = ("anon-report", "vocoder-teacher")
CHILD = ("import os, sys, voxflow.cli as cli; "
         "assert cli.__file__.startswith(os.environ['PYTHONPATH']), cli.__file__; "
         "sys.stdout = open(os.devnull, 'w'); cli.main(['stage', sys.argv[1], '--help'])")


def _baseline_src(rev: str, folder: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def _seconds(src: Path, stage: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CHILD, stage], env=env, capture_output=True,
                            text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{src}: `voxflow stage {stage} --help` failed:\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="886d056")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/cli_startup.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"baseline": _baseline_src(args.baseline, Path(tmp)), "current": REPO / "src"}
        runs = {stage: {side: [] for side in sides} for stage in STAGES}
        for _ in range(args.repeats):
            for stage in STAGES:
                for side, src in sides.items():
                    runs[stage][side].append(_seconds(src, stage))
    results = {"baseline": args.baseline, "repeats": args.repeats, "runs": runs, "summary": {}}
    for stage, by_side in runs.items():
        median = {side: statistics.median(times) for side, times in by_side.items()}
        results["summary"][stage] = {
            "median_s": median, "min_s": {side: min(t) for side, t in by_side.items()},
            "current_over_baseline": median["current"] / median["baseline"]}
        print(f"voxflow stage {stage} --help: baseline {median['baseline']:.2f} s, current "
              f"{median['current']:.2f} s (median of {args.repeats}), ratio "
              f"{median['current'] / median['baseline']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"raw figures in {args.out}")


if __name__ == "__main__":
    main()
