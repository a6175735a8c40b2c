"""Throughput of the mouth-crop stage (`voxflow.avse.crops.extract_crops`) in videos/s, with 1
and with 2 worker processes.

    .venv/bin/python benchmarks/bench_avse_crops.py [--size tiny] [--repeats 3]
        [--workers 1 2] [--cache benchmarks/.cache/avse_crops]
        [--out benchmarks/results/avse_crops.json]

The synthetic GRID of `--size` (seed 0) is built and ingested once into `--cache/<size>/` and
reused afterwards (complete once its `done.json` exists); its videos are read once before the
runs, so every run reads them from the page cache. Each run is a fresh subprocess of this file
(`--child`), with VOXFLOW_PROGRESS=0 and one OpenMP/BLAS thread, that calls `extract_crops`
into a fresh folder and times the call alone: reading and decoding the videos, face detection
and landmarks, cropping, writing the .npy files and the index, and in every worker process the
one-off loading of the 100 MB landmark model. Within each repeat the worker counts run back to
back, in alternating order, so they see the same machine load; medians over the repeats.
Prints a Markdown table and writes the raw figures to `--out`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD_ENV = {"VOXFLOW_PROGRESS": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
             "OPENBLAS_NUM_THREADS": "1"}


def _child(manifest: str, out_dir: str, workers: str) -> None:
    from voxflow.avse.crops import crop_metrics, extract_crops

    start = time.perf_counter()
    index = extract_crops(Path(manifest), Path(out_dir), workers=int(workers))
    seconds = time.perf_counter() - start
    metrics = crop_metrics(Path(out_dir))
    print(json.dumps({"seconds": seconds, "videos": len(index), "frames": metrics["frames"],
                      "rejected": metrics["rejected"],
                      "detection_rate": metrics["detection_rate"]}))


def _corpus(cache: Path, size: str) -> dict:
    """{"root", "manifest", "videos", "build_and_ingest_s"} of the synthetic GRID, built and
    ingested on first use."""
    folder = cache / size
    done = folder / "done.json"
    if done.is_file():
        return json.loads(done.read_text())
    from voxflow.ingest import ingest
    from voxflow.synth.corpora import build_corpus

    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    root = build_corpus("grid", folder / "corpora", size=size, seed=0)
    manifest = folder / "manifests" / "grid.parquet"
    videos = ingest("grid", root, manifest).num_rows
    info = {"root": str(root), "manifest": str(manifest), "videos": videos,
            "build_and_ingest_s": time.perf_counter() - start}
    done.write_text(json.dumps(info, indent=2) + "\n")
    print(f"built and ingested GRID ({size}): {videos} videos", flush=True)
    return info


def _run(manifest: str, out_dir: Path, workers: int) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", manifest,
                           str(out_dir), str(workers)], env={**os.environ, **CHILD_ENV},
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"extract_crops with {workers} worker(s) failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "workers": workers, "wall_s": wall, "loadavg": os.getloadavg()[0]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cache", type=Path, default=HERE / ".cache" / "avse_crops")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "avse_crops.json")
    args = parser.parse_args()

    corpus = _corpus(args.cache, args.size)
    for video in sorted(Path(corpus["root"]).glob("s*/*.mpg")):
        video.read_bytes()
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench_avse_crops_") as tmp:
        for repeat in range(args.repeats):
            order = args.workers if repeat % 2 == 0 else args.workers[::-1]
            for workers in order:
                out_dir = Path(tmp) / f"crops-{workers}-{repeat}"
                result = _run(corpus["manifest"], out_dir, workers)
                shutil.rmtree(out_dir)
                runs.append({"repeat": repeat, **result})
                print(f"repeat {repeat}, {workers} worker(s): {result['seconds']:.2f} s, "
                      f"{result['videos'] / result['seconds']:.2f} videos/s", flush=True)

    summary = []
    for workers in args.workers:
        mine = [r for r in runs if r["workers"] == workers]
        seconds = statistics.median(r["seconds"] for r in mine)
        summary.append({"workers": workers, "median_s": seconds,
                        "min_s": min(r["seconds"] for r in mine),
                        "max_s": max(r["seconds"] for r in mine),
                        "videos": mine[0]["videos"], "frames": mine[0]["frames"],
                        "videos_per_s": mine[0]["videos"] / seconds,
                        "frames_per_s": mine[0]["frames"] / seconds,
                        "detection_rate": mine[0]["detection_rate"]})
    record = {"date": date.today().isoformat(), "machine": platform.machine(),
              "platform": platform.platform(), "nproc": os.cpu_count(),
              "affinity": len(os.sched_getaffinity(0)), "python": platform.python_version(),
              "size": args.size, "seed": 0, "repeats": args.repeats, "corpus": corpus,
              "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
              "summary": summary, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")

    base = summary[0]["median_s"]
    print(f"\nGRID {args.size} (seed 0), {corpus['videos']} videos, {args.repeats} repeats, "
          f"medians; load average {load_before[0]:.2f} -> {record['loadavg_after'][0]:.2f}\n")
    print("| workers | videos | time (s) | videos/s | frames/s | speed-up | detection rate |")
    print("|---|---|---|---|---|---|---|")
    for row in summary:
        print(f"| {row['workers']} | {row['videos']} | {row['median_s']:.2f} | "
              f"{row['videos_per_s']:.2f} | {row['frames_per_s']:.0f} | "
              f"x{base / row['median_s']:.2f} | {row['detection_rate']:.3f} |")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
