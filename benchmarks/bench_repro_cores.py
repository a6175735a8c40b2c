"""`voxflow repro --cores N` against one `dvc repro` (`--cores 1`), side by side: the same stages
forced to rerun in a checkout that holds every output, and whether each run leaves the same
output hashes in dvc.lock (the stages' torch threads are their params, so the models must not
change with the number of cores).

    .venv/bin/python benchmarks/bench_repro_cores.py --workdir CHECKOUT [--stages 'antispoof-*']
        [--cores 1 2] [--out benchmarks/results/repro_cores.json]

CHECKOUT is a clone where `make run` has run (it is rerun in place: its MLflow store gains the
runs, its registry new versions). The sides alternate in the order given; each is one
`voxflow repro --force --single-item --glob --cores N STAGES`, timed from outside.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from contextlib import chdir
from pathlib import Path

import yaml

from voxflow.repro import plan

REPO = Path(__file__).resolve().parents[1]


def _output_hashes(workdir: Path, stages: set[str]) -> dict[str, str]:
    locked = yaml.safe_load((workdir / "dvc.lock").read_text())["stages"]
    return {out["path"]: out.get("md5") for name, entry in locked.items() if name in stages
            for out in entry.get("outs", []) if not out["path"].endswith(".json")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--stages", nargs="+", default=["antispoof-*"])
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/repro_cores.json")
    args = parser.parse_args()
    voxflow = args.workdir / ".venv" / "bin" / "voxflow"
    with chdir(args.workdir):                 # the stages the patterns name
        names = set(plan(args.stages, single_item=True, glob=True).stages)
    results = {"stages": sorted(names), "runs": []}
    for cores in args.cores:
        start = time.perf_counter()
        subprocess.run([str(voxflow), "repro", "--force", "--single-item", "--glob", "--cores",
                        str(cores), *args.stages], cwd=args.workdir, check=True,
                       capture_output=True)
        seconds = time.perf_counter() - start
        results["runs"].append({"cores": cores, "seconds": round(seconds, 1),
                                "outputs": _output_hashes(args.workdir, names)})
        print(f"--cores {cores}: {seconds / 60:.1f} min for {len(names)} stages")
    first = results["runs"][0]
    for run in results["runs"][1:]:
        run["over_first"] = round(run["seconds"] / first["seconds"], 3)
        run["same_outputs"] = run["outputs"] == first["outputs"]
        print(f"--cores {run['cores']} over --cores {first['cores']}: {run['over_first']:.2f}, "
              f"same output hashes: {run['same_outputs']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"raw figures in {args.out}")


if __name__ == "__main__":
    main()
