"""Throughput of batch PESQ/STOI (`evaluate_pairs`): one worker against all cores.

    python benchmarks/bench_quality.py [--pairs 64] [--seconds 3] [--repeats 3] [--workers N]

Builds `--pairs` (reference, degraded) pairs of synthetic 16 kHz speech in a temporary folder,
the degraded side with white noise at 0 to 30 dB SNR, then times `evaluate_pairs` with all four
metrics (pesq_wb, pesq_nb, stoi, estoi) with workers=1 (the serial loop, in this process) and
with `--workers` processes (default: all cores), side by side, in alternating order, and
reports medians. Each timed call includes reading the files and, in parallel, starting the pool.
Writes benchmarks/results/quality.json and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from voxflow.evaluation.quality import METRICS, evaluate_pairs
from voxflow.parallel import default_workers
from voxflow.synth import ENGLISH, sample_speaker, synthesize

RATE = 16000


def _build_pairs(folder: Path, n: int, seconds: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        speaker = sample_speaker(rng, f"spk{i}", "FM"[i % 2])
        clean = synthesize(ENGLISH.sample_sentence(rng, 6), speaker, ENGLISH, seed=i,
                           sample_rate=RATE, total_duration=seconds).audio.astype(np.float64)
        noise = rng.standard_normal(len(clean))
        snr_db = rng.uniform(0, 30)
        noisy = clean + noise * np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2)
                                        / 10 ** (snr_db / 10))
        reference, degraded = folder / f"{i:03d}_clean.wav", folder / f"{i:03d}_noisy.wav"
        sf.write(reference, clean, RATE)
        sf.write(degraded, noisy / max(1.0, np.abs(noisy).max()), RATE)  # no clipping
        rows.append((f"{i:03d}", str(reference), str(degraded)))
    return pd.DataFrame(rows, columns=["id", "reference", "degraded"])


def _machine() -> str:
    with open("/proc/meminfo") as meminfo:
        kib = int(meminfo.readline().split()[1])
    return (f"{platform.machine()}, {os.cpu_count()} cores, {kib / 2**20:.0f} GiB, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args()
    os.environ["VOXFLOW_PROGRESS"] = "0"
    contenders = {"serial (1 worker)": 1, f"parallel ({args.workers} workers)": args.workers}
    runs = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        pairs = _build_pairs(Path(tmp), args.pairs, args.seconds)
        audio_s = sum(sf.info(p).duration for p in pairs["reference"])
        tables = {}
        for round_ in range(args.repeats):
            order = list(contenders) if round_ % 2 == 0 else list(contenders)[::-1]
            for name in order:
                load = os.getloadavg()[0]
                start = time.perf_counter()
                report = evaluate_pairs(pairs, workers=contenders[name])
                runs[name].append({"seconds": time.perf_counter() - start,
                                   "loadavg_1min_before": load})
                tables[name] = report.tables["pesq_stoi"]
                print(json.dumps({"round": round_, "contender": name, **runs[name][-1]}),
                      flush=True)
    serial, parallel = (tables[name] for name in contenders)
    identical = serial.drop(columns=["reference", "degraded"]).equals(
        parallel.drop(columns=["reference", "degraded"]))
    medians = {name: statistics.median(r["seconds"] for r in runs[name]) for name in runs}
    rows = [{"contender": name, "workers": contenders[name], "median_seconds": medians[name],
             "pairs_per_second": args.pairs / medians[name],
             "audio_seconds_per_second": audio_s / medians[name], "runs": runs[name]}
            for name in contenders]
    ratio = rows[0]["median_seconds"] / rows[1]["median_seconds"]
    out = Path(__file__).parent / "results" / "quality.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "date": date.today().isoformat(), "machine": _machine(),
        "command": " ".join(["python benchmarks/bench_quality.py", *sys.argv[1:]]),
        "pairs": args.pairs, "audio_seconds": audio_s, "sample_rate": RATE,
        "metrics": list(METRICS), "repeats": args.repeats,
        "timing": "median over repeats of evaluate_pairs(pairs, workers=...), alternating order",
        "tables_identical": identical, "failed_pairs": int((serial["error"] != "").sum()),
        "rows": rows, "speedup": ratio}, indent=1) + "\n")

    print(f"\n| pairs | audio (s) | metrics | 1 worker: pairs/s | {args.workers} workers: "
          "pairs/s | speed-up |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.pairs} | {audio_s:.0f} | {', '.join(METRICS)} | "
          f"{rows[0]['pairs_per_second']:.1f} | {rows[1]['pairs_per_second']:.1f} | "
          f"x{ratio:.2f} |")
    if not identical:
        print("warning: the serial and parallel tables differ", file=sys.stderr)


if __name__ == "__main__":
    main()
