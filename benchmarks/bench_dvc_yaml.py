"""DVC's YAML with ruamel.yaml's C parser (ruamel.yaml.clib, in requirements.lock) against its
pure-Python parser, side by side. `dvc repro` reads dvc.lock (about 6400 lines) several times
per stage, and `make run` runs about 100 stages.

    .venv/bin/python benchmarks/bench_dvc_yaml.py [--repeats 10]
        [--out benchmarks/results/dvc_yaml.json]

Two measurements, each a fresh Python process per run, the two sides alternating so both see
the same load:
- `parse`: DVC's own `parse_yaml` of this checkout's dvc.lock, timed inside the process;
- `dvc status`: the whole command (wall time from the parent) in this checkout, read-only.
The pure side is the same installation with ruamel's `CParser` set to None before DVC runs,
which is how ruamel.yaml behaves where ruamel.yaml.clib is not installed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PURE = "import ruamel.yaml.main as m; assert m.CParser is not None; m.CParser = None; "
PARSE = ("import time; from dvc.utils.serialize._yaml import parse_yaml; "
         "text = open('dvc.lock').read(); start = time.perf_counter(); "
         "parse_yaml(text, 'dvc.lock'); print(time.perf_counter() - start)")
# its exit status says whether stages changed, which is not what is measured
STATUS = "from dvc.cli import main; main(['status', '--quiet'])"


def _run(code: str) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{code!r} failed:\n{result.stderr}")
    return elapsed, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/dvc_yaml.json")
    args = parser.parse_args()
    sides = {"pure": PURE, "clib": ""}
    runs = {task: {side: [] for side in sides} for task in ("parse", "dvc status")}
    for _ in range(args.repeats):
        for side, prefix in sides.items():
            runs["parse"][side].append(float(_run(prefix + PARSE)[1]))
            runs["dvc status"][side].append(_run(prefix + STATUS)[0])
    results = {"dvc_lock_lines": len((REPO / "dvc.lock").read_text().splitlines()),
               "repeats": args.repeats, "runs": runs, "summary": {}}
    for task, by_side in runs.items():
        median = {side: statistics.median(times) for side, times in by_side.items()}
        results["summary"][task] = {"median_s": median,
                                    "clib_over_pure": median["clib"] / median["pure"]}
        print(f"{task}: pure {median['pure']:.3f} s, clib {median['clib']:.3f} s (median of "
              f"{args.repeats}), ratio {median['clib'] / median['pure']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"raw figures in {args.out}")


if __name__ == "__main__":
    main()
