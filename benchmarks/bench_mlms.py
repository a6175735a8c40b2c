"""The MLMS system's speed: WORLD feature extraction throughput of the cached parallel stage
against a serial loop, and the synthesis real-time factor (acoustic model + WORLD) at the tiny
and paper sizes.

    .venv/bin/python benchmarks/bench_mlms.py [--manifest data/manifests/mlms.parquet |
        --tiny-corpus] [--utterances 24] [--workers 2] [--repeats 3] [--sizes tiny paper]
        [--seconds 2 5] [--threads 1 2] [--cache benchmarks/.cache/mlms]
        [--out benchmarks/results/mlms.json]

The corpus is the mlms manifest of `dvc repro ingest@mlms` (`--manifest`), or with
`--tiny-corpus` the synthetic tiny MLMS corpus (seed 0), built and ingested once into
`--cache/tiny/` (complete once its `done.json` exists). `--utterances` of it, evenly spaced over
the manifest (every language, both splits), are read once first so every run reads them from the
page cache. The WORLD settings are params.yaml's `mlms.world`.

1. Feature extraction. "stage": `voxflow.mlms.features.extract_features` of the utterances with
   `--workers` processes into a fresh temporary folder (so nothing is reused): WORLD analysis in
   the pool, each array written under a temporary name and renamed, the index and rejects
   written. "serial": a plain loop in this process calling the stage's per-utterance function,
   `utterance_features` (reading, checks, `voxflow.mlms.world.analyze`), with no pool, no cache
   and no files. One serial call warms up first; then `--repeats` rounds, the order reversed
   every other round; medians. Speed-up = serial time / stage time.
2. Synthesis. The first round's feature folder and the linguistic stage run on it
   (`voxflow.mlms.data.extract_linguistic`: the spec of the whole manifest, the phone features
   and oracle durations of these utterances) give the train utterances' `acoustic_set`. Per
   `--sizes` preset (`voxflow.mlms.params.MODELS`): a `Predictor` of an `MLMSNet` with random
   weights (seed 0; speed does not depend on the weights) and the set's normalisers, so its
   outputs have the corpus's scale. Per `--seconds`: the train utterance closest in length,
   its phones repeated whole and cut so its durations add up to exactly that many frames.
   "acoustic": `voxflow.mlms.synthesis.generate_features` (frame features, the network under
   torch.no_grad, batch 1); "WORLD": `voxflow.mlms.world.synthesize` of those features with the
   post-filter. RTF = compute s / audio s, per part. The untrained network's V/UV output sits
   near the corpus mean, so nearly every frame comes out voiced; WORLD's cost depends on the
   voicing (it places pulses at 500 Hz where unvoiced), so the same utterance's analysed
   features, repeated and cut alike, are synthesised too, for reference. Per `--threads`
   (torch's intra-op threads): one warm-up of each workload, then `--repeats` rounds in
   alternating order; medians.

Prints two Markdown tables and writes the raw figures, every run included, to `--out`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from voxflow.features.cache import Rejected, Utterance
from voxflow.ingest import ingest
from voxflow.ingest.manifest import read_manifest
from voxflow.mlms.data import SequenceSet, acoustic_set, extract_linguistic
from voxflow.mlms.features import extract_features, utterance_features
from voxflow.mlms.models import MLMSNet
from voxflow.mlms.params import MODELS, mlms_params
from voxflow.mlms.synthesis import generate_features
from voxflow.mlms.training import Predictor
from voxflow.mlms.world import VUV, WorldConfig, synthesize
from voxflow.stage_io import load_section

HERE = Path(__file__).resolve().parent
PARAMS = HERE.parent / "params.yaml"
EXTRACTORS = ("serial", "stage")


def _tiny_corpus(cache: Path) -> Path:
    """The manifest of the synthetic tiny MLMS corpus, built and ingested on first use."""
    folder = cache / "tiny"
    manifest = folder / "manifests" / "mlms.parquet"
    if (folder / "done.json").is_file():
        return manifest
    from voxflow.synth.corpora import build_corpus

    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    root = build_corpus("mlms", folder / "corpora", size="tiny", seed=0)
    rows = ingest("mlms", root, manifest, **load_section("ingest", PARAMS)["mlms"]).num_rows
    (folder / "done.json").write_text(json.dumps(
        {"root": str(root), "manifest": str(manifest), "utterances": rows,
         "build_and_ingest_s": time.perf_counter() - start}, indent=2) + "\n")
    print(f"built and ingested the tiny MLMS corpus: {rows} utterances", flush=True)
    return manifest


def _time(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def _serial(utterances: list[Utterance], world: WorldConfig) -> int:
    """The stage's work on every utterance, one after the other here, with one BLAS thread as
    in the stage's workers; returns those kept."""
    kept = 0
    with threadpool_limits(limits=1, user_api="blas"):
        for utterance in utterances:
            try:
                utterance_features(utterance, world)
                kept += 1
            except Rejected:
                pass
    return kept


def bench_extraction(table, root: Path, world: WorldConfig, workers: int, repeats: int,
                     tmp: Path) -> tuple[list[dict], Path]:
    """Runs of both extractors (see the module docstring) and the first stage run's folder."""
    utterances = [Utterance(row.utt_id, str(root / row.audio_path), {}, {})
                  for row in table.itertuples(index=False)]
    _serial(utterances[:1], world)                      # warm-up: imports, first WORLD calls
    runs = []
    for repeat in range(repeats):
        for extractor in EXTRACTORS if repeat % 2 == 0 else EXTRACTORS[::-1]:
            if extractor == "serial":
                seconds, kept = _time(lambda: _serial(utterances, world))
            else:
                out_dir = tmp / f"world-{repeat}"
                seconds, index = _time(lambda: extract_features(table, root, out_dir, world,
                                                                workers=workers))
                kept = len(index)
            runs.append({"extractor": extractor, "repeat": repeat, "seconds": seconds,
                         "utterances": kept, "load": os.getloadavg()[0]})
            print(f"repeat {repeat} {extractor:6s} {seconds:6.2f} s, {kept} utterances",
                  flush=True)
        if repeat:
            shutil.rmtree(tmp / f"world-{repeat}")
    return runs, tmp / "world-0"


def _sequence(data: SequenceSet, frames: int) -> dict:
    """The utterance of `data` closest in length, repeated whole and cut to `frames`:
    {"phones": (phones, D_phone) features, "durations": (phones,) adding up to `frames`,
    "language", "speaker", "analysed": (frames, 49) its WORLD features}."""
    i = int(np.argmin([abs(len(target) - frames) for target in data.targets]))
    copies = -(-frames // len(data.targets[i]))         # its durations add up to its frames
    phones, durations = np.tile(data.phones[i], (copies, 1)), np.tile(data.durations[i], copies)
    ends = np.cumsum(durations)
    last = int(np.searchsorted(ends, frames))           # the phone holding the last frame
    durations = durations[:last + 1].copy()
    durations[-1] -= ends[last] - frames
    return {"phones": phones[:last + 1], "durations": durations,
            "language": data.rows.at[i, "language"], "speaker": data.rows.at[i, "speaker"],
            "analysed": np.tile(data.targets[i], (copies, 1))[:frames]}


def bench_synthesis(data: SequenceSet, world: WorldConfig, sizes: list[str],
                    seconds: list[float], threads: list[int], repeats: int
                    ) -> tuple[list[dict], dict]:
    """Runs of (threads, size, seconds) synthesis workloads and each size's parameter count."""
    normalisers = data.normalisers()
    languages, speakers = sorted(set(data.rows["language"])), sorted(set(data.rows["speaker"]))
    models, parameters = {}, {}
    for size in sizes:
        torch.manual_seed(0)
        net = MLMSNet(data.inputs(0).shape[1], MODELS[size], languages, speakers)
        models[size] = Predictor(net, *normalisers).eval()
        parameters[size] = sum(p.numel() for p in net.parameters())
    inputs = {length: _sequence(data, round(length * 1000 / world.frame_period_ms))
              for length in seconds}

    def run(size: str, length: float) -> dict:
        x = inputs[length]
        acoustic_s, features = _time(lambda: generate_features(
            models[size], x["phones"], x["durations"], x["language"], x["speaker"]))
        world_s, waveform = _time(lambda: synthesize(features, world, postfilter=True))
        analysed_s, _ = _time(lambda: synthesize(x["analysed"], world, postfilter=True))
        return {"acoustic_s": acoustic_s, "world_s": world_s, "world_analysed_s": analysed_s,
                "frames": len(features), "audio_s": len(waveform) / world.sample_rate,
                "voiced_fraction": float(features[:, VUV].mean()),
                "analysed_voiced_fraction": float(x["analysed"][:, VUV].mean())}

    runs = []
    workloads = [(size, length) for size in sizes for length in seconds]
    for count in threads:
        torch.set_num_threads(count)
        for workload in workloads:
            run(*workload)                              # warm-up
        for repeat in range(repeats):
            for size, length in workloads if repeat % 2 == 0 else workloads[::-1]:
                result = run(size, length)
                runs.append({"threads": count, "size": size, "seconds": length,
                             "repeat": repeat, **result, "load": os.getloadavg()[0]})
                print(f"{count} thread(s) {size:5s} {length:g} s: acoustic "
                      f"{result['acoustic_s']:.3f} s, WORLD {result['world_s']:.3f} s",
                      flush=True)
    return runs, parameters


def summarise_extraction(runs: list[dict], audio_s: float) -> list[dict]:
    rows = []
    for extractor in EXTRACTORS:
        mine = [r for r in runs if r["extractor"] == extractor]
        seconds = statistics.median(r["seconds"] for r in mine)
        rows.append({"extractor": extractor, "median_s": seconds,
                     "min_s": min(r["seconds"] for r in mine),
                     "max_s": max(r["seconds"] for r in mine),
                     "utterances": mine[0]["utterances"],
                     "utterances_per_s": mine[0]["utterances"] / seconds,
                     "audio_s_per_s": audio_s / seconds})
    return rows


def summarise_synthesis(runs: list[dict], parameters: dict) -> list[dict]:
    rows = []
    for key in dict.fromkeys((r["threads"], r["size"], r["seconds"]) for r in runs):
        mine = [r for r in runs if (r["threads"], r["size"], r["seconds"]) == key]
        audio_s = mine[0]["audio_s"]
        acoustic_s = statistics.median(r["acoustic_s"] for r in mine)
        world_s = statistics.median(r["world_s"] for r in mine)
        total_s = statistics.median(r["acoustic_s"] + r["world_s"] for r in mine)
        analysed_s = statistics.median(r["world_analysed_s"] for r in mine)
        rows.append({"threads": key[0], "size": key[1], "parameters": parameters[key[1]],
                     "audio_s": audio_s, "frames": mine[0]["frames"],
                     "voiced_fraction": mine[0]["voiced_fraction"],
                     "analysed_voiced_fraction": mine[0]["analysed_voiced_fraction"],
                     "acoustic_s": acoustic_s, "world_s": world_s, "total_s": total_s,
                     "acoustic_rtf": acoustic_s / audio_s, "world_rtf": world_s / audio_s,
                     "rtf": total_s / audio_s, "world_analysed_rtf": analysed_s / audio_s})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    corpus = parser.add_mutually_exclusive_group()
    corpus.add_argument("--manifest", type=Path, default=Path("data/manifests/mlms.parquet"))
    corpus.add_argument("--tiny-corpus", action="store_true",
                        help="build (once, into --cache) and use the synthetic tiny corpus")
    parser.add_argument("--utterances", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 5.0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cache", type=Path, default=HERE / ".cache" / "mlms")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "mlms.json")
    args = parser.parse_args()
    os.environ.setdefault("VOXFLOW_PROGRESS", "0")      # no progress bars between the lines

    manifest = _tiny_corpus(args.cache) if args.tiny_corpus else args.manifest
    if not manifest.is_file():
        raise SystemExit(f"{manifest}: no such manifest; run `dvc repro ingest@mlms`, or pass "
                         "--tiny-corpus")
    arrow, root = read_manifest(manifest)
    full = arrow.to_pandas()
    if args.utterances < 1:
        raise SystemExit(f"--utterances must be at least 1, got {args.utterances}")
    table = full.iloc[np.linspace(0, len(full) - 1, min(args.utterances, len(full))).round()
                      .astype(int)].reset_index(drop=True)
    for path in table["audio_path"]:
        (root / path).read_bytes()                      # into the page cache
    audio_s = float(table["duration"].sum())
    world = mlms_params(load_section("mlms", PARAMS)).world
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="bench_mlms_") as tmp:
        tmp = Path(tmp)
        extraction_runs, world_dir = bench_extraction(table, root, world, args.workers,
                                                      args.repeats, tmp)
        extract_linguistic(manifest, world_dir, tmp / "linguistic", workers=args.workers)
        data = acoustic_set(world_dir, tmp / "linguistic", "train")
        if len(data) == 0:
            raise SystemExit(f"none of the {len(table)} utterances is a train utterance with "
                             "features: raise --utterances")
        synthesis_runs, parameters = bench_synthesis(data, world, args.sizes, args.seconds,
                                                     args.threads, args.repeats)

    extraction = summarise_extraction(extraction_runs, audio_s)
    synthesis = summarise_synthesis(synthesis_runs, parameters)
    record = {"date": date.today().isoformat(), "machine": platform.machine(),
              "platform": platform.platform(), "nproc": os.cpu_count(),
              "affinity": len(os.sched_getaffinity(0)), "python": platform.python_version(),
              "torch": torch.__version__, "manifest": str(manifest),
              "utterances": len(table), "audio_s": audio_s, "workers": args.workers,
              "repeats": args.repeats, "linguistic_train_utterances": len(data),
              "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
              "extraction": extraction, "synthesis": synthesis,
              "extraction_runs": extraction_runs, "synthesis_runs": synthesis_runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")

    serial = extraction[0]["median_s"]
    print(f"\n{manifest}: {len(table)} utterances, {audio_s:.1f} s of audio; {args.repeats} "
          f"repeats, medians; load average {load_before[0]:.2f} -> "
          f"{record['loadavg_after'][0]:.2f}\n")
    print("| extraction | utterances | time (s) | utterances/s | audio s/s | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in extraction:
        name = ("serial loop (`utterance_features`)" if row["extractor"] == "serial"
                else f"`extract_features`, {args.workers} workers")
        print(f"| {name} | {row['utterances']} | {row['median_s']:.2f} | "
              f"{row['utterances_per_s']:.2f} | {row['audio_s_per_s']:.1f} | "
              f"x{serial / row['median_s']:.2f} |")
    print("\n| threads | size (parameters) | audio (s) | acoustic (s) | WORLD (s) | "
          "acoustic RTF | WORLD RTF | RTF | voiced | WORLD RTF, analysed features (voiced) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in synthesis:
        print(f"| {row['threads']} | {row['size']} ({row['parameters'] / 1e6:.2f} M) | "
              f"{row['audio_s']:.2f} | {row['acoustic_s']:.3f} | {row['world_s']:.3f} | "
              f"{row['acoustic_rtf']:.3f} | {row['world_rtf']:.3f} | {row['rtf']:.3f} | "
              f"{row['voiced_fraction']:.2f} | {row['world_analysed_rtf']:.3f} "
              f"({row['analysed_voiced_fraction']:.2f}) |")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
