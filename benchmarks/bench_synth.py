"""Generation time, size and throughput of the synthetic corpora, per corpus and size.

    python benchmarks/bench_synth.py [--sizes tiny small] [--workers N]

Each corpus is built into a fresh temporary folder. For the first size, the whole set is also
built serially (1 worker) side by side with the parallel build, so the speed-up is a ratio of two
runs on the same machine at the same time of day rather than an absolute number.
Prints a Markdown table and writes benchmarks/results/synth.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import soundfile as sf

from voxflow.synth.corpora import CORPORA, build_corpus
from voxflow.parallel import default_workers

AUDIO_SUFFIXES = {".wav", ".flac"}


def _measure(name: str, size: str, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = build_corpus(name, Path(tmp), size=size, seed=0, workers=workers)
        seconds = time.perf_counter() - start
        files = [p for p in root.rglob("*") if p.is_file()]
        audio = [p for p in files if p.suffix in AUDIO_SUFFIXES]
        return {"corpus": name, "size": size, "workers": workers, "seconds": seconds,
                "files": len(files), "audio_files": len(audio),
                "audio_hours": sum(sf.info(p).duration for p in audio) / 3600,
                "megabytes": sum(p.stat().st_size for p in files) / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args()
    os.environ["VOXFLOW_PROGRESS"] = "0"
    rows = []
    for size in args.sizes:
        for name in CORPORA:
            rows.append(_measure(name, size, args.workers))
            print(json.dumps(rows[-1]), flush=True)
    serial = [_measure(name, args.sizes[0], 1) for name in CORPORA]
    out = Path(__file__).parent / "results" / "synth.json"
    out.parent.mkdir(exist_ok=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    out.write_text(json.dumps({"machine": machine, "rows": rows, "serial": serial}, indent=1))

    print(f"\n| corpus | size | files | audio (min) | MB | time (s), {args.workers} workers |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['corpus']} | {r['size']} | {r['files']} | {r['audio_hours'] * 60:.1f} "
              f"| {r['megabytes']:.1f} | {r['seconds']:.1f} |")
    for size in args.sizes:
        total = [r for r in rows if r["size"] == size]
        print(f"| **all six** | {size} | {sum(r['files'] for r in total)} | "
              f"{sum(r['audio_hours'] for r in total) * 60:.1f} | "
              f"{sum(r['megabytes'] for r in total):.1f} | {sum(r['seconds'] for r in total):.1f} |")
    parallel = sum(r["seconds"] for r in rows if r["size"] == args.sizes[0])
    serial_s = sum(r["seconds"] for r in serial)
    print(f"\n{args.sizes[0]}, all six: 1 worker {serial_s:.1f} s, {args.workers} workers "
          f"{parallel:.1f} s, speed-up x{serial_s / parallel:.2f}")


if __name__ == "__main__":
    main()
