"""kNN-VC anonymization speed on CPU: the real-time factor of `KnnVCAnonymizer.anonymize` split
into its parts at the tiny and paper sizes, and the matching time against the matching set's
size beside the reference kNN-VC implementation's matcher.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_anonymization.py [--sizes tiny paper]
        [--seconds 2 5] [--tiny-threads 1 2] [--paper-threads 1] [--repeats 3]
        [--pool-speakers 8] [--pool-frames 3000] [--dims 192 1024]
        [--set-frames 1000 10000 50000 100000] [--query-frames 250]
        [--out benchmarks/results/anonymization.json]

Every model has random weights (seed 0): speed does not depend on them.

1. Real-time factor. Per `--sizes` preset: `ssl.new_encoder(ssl.MODELS[size], seed=0)`; a
   `vocoder.Generator` of `vocoder.MODELS[size]` with the encoder's feature dim; a
   `knnvc.KnnVC(pool, KnnVCConfig())` whose pool holds `--pool-speakers` matching sets of
   `--pool-frames` frames each (default 8 x 3000 = 8 speakers x 1 minute at 50 Hz, synthetic
   clustered frames, see `clustered`); the encoder layer is kNN-VC's 6 at paper size (WavLM
   Large) and the last (4) at tiny size, where the probes choose it: the last costs most, an
   upper bound. The input is `--seconds` of a synthetic speech-like 16 kHz signal
   (`speech_like`). Parts: "SSL" = `ssl.features(encoder, wave, layer)`, "matching" =
   `KnnVC.convert(features, rng)` (one random target speaker), "vocoder" =
   `vocoder.vocode(generator, converted)`; "anonymize" = one whole
   `KnnVCAnonymizer.anonymize(wave, 16000, rng)` call timed on its own, a check of the sum of
   the parts. Per torch thread count (`--tiny-threads`, `--paper-threads`): one warm-up of each
   workload, then `--repeats` rounds with the order reversed every other round; medians.
   RTF = compute s / audio s.
2. Matching against the set's size. `knn_match(query (--query-frames, D), set (N, D), k=4)` for
   every D in `--dims` and N in `--set-frames`, one torch thread, against the reference kNN-VC
   implementation's approach (bshall/knn-vc `matcher.py`, written here from its description in
   `reference_match`: the whole query's cosine-distance matrix against the whole set from a
   Euclidean `cdist`, then `topk` and the mean). Synthetic clustered frames (`clustered`): a
   query frame's neighbours are close, as in real matching. One call of each warms up and gives
   the outputs, compared with `torch.allclose` and, frame by frame, with the same matching in
   float64 (exact neighbours); then `--repeats` rounds in alternating order; medians;
   ratio = voxflow's time / the reference's.

Prints two Markdown tables and writes the raw figures, every run included, to `--out`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from dataclasses import asdict
from functools import partial
from datetime import date
from pathlib import Path

import numpy as np
import torch

from voxflow.anonymization import ssl
from voxflow.anonymization.anonymizers import KnnVCAnonymizer
from voxflow.anonymization.audio import RATE
from voxflow.anonymization.knnvc import KnnVC, KnnVCConfig, knn_match
from voxflow.anonymization.vocoder import MODELS as VOCODER_MODELS, Generator, VocoderConfig, vocode

HERE = Path(__file__).resolve().parent
# the encoder layer matched and vocoded: kNN-VC's WavLM Large layer 6; at tiny size the probes
# choose one of the 4 layers, and the last (all layers run) bounds the cost from above
LAYERS = {"tiny": ssl.MODELS["tiny"].layers, "paper": 6}
CLUSTERS = 50               # "phones" of the synthetic frames
SPREAD = 0.5                # frame noise std around its cluster's N(0, I) centre: cosine ~0.8
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}    # float32 sums of the same 4 frames in any order
PARTS = ("ssl", "matching", "vocoder")


def _time(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """(seconds * RATE,) float32: 19 harmonics of an f0 gliding between 100 and 200 Hz under a
    4 Hz syllable envelope, plus a little noise (the parts' speed does not depend on it)."""
    t = np.arange(round(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(150 + 50 * np.sin(2 * np.pi * 0.7 * t)) / RATE
    voiced = sum(np.sin(h * phase) / h for h in range(1, 20))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t))
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return (0.1 * envelope * voiced + 0.005 * noise).astype(np.float32)


def clustered(centres: torch.Tensor, frames: int, generator: torch.Generator) -> torch.Tensor:
    """(frames, D) float32: each a random one of the (CLUSTERS, D) centres plus N(0, SPREAD^2)
    noise per dimension."""
    picks = torch.randint(len(centres), (frames,), generator=generator)
    return centres[picks] + SPREAD * torch.randn(frames, centres.shape[1], generator=generator)


def fast_cosine_dist(query: torch.Tensor, matching_set: torch.Tensor) -> torch.Tensor:
    """(T, D), (N, D) -> (T, N) cosine distances as the reference matcher computes them: the dot
    products from the Euclidean distances, q.m = (|q|^2 + |m|^2 - |q - m|^2) / 2."""
    query_norms, set_norms = query.norm(dim=1), matching_set.norm(dim=1)
    squared = torch.cdist(query[None], matching_set[None])[0] ** 2
    dot = (query_norms[:, None] ** 2 + set_norms[None] ** 2 - squared) / 2
    return 1 - dot / (query_norms[:, None] * set_norms[None])


def reference_match(query: torch.Tensor, matching_set: torch.Tensor, k: int) -> torch.Tensor:
    """(T, D), (N, D) -> (T, D): the reference kNN-VC matcher, the whole (T, N) distance matrix
    at once, each frame the mean of its k nearest."""
    nearest = fast_cosine_dist(query, matching_set).topk(k, dim=1, largest=False).indices
    return matching_set[nearest].mean(dim=1)


def build(size: str, speakers: int, frames: int) -> tuple[dict, dict]:
    """One size's models (module docstring, part 1) and their parameter counts."""
    encoder = ssl.new_encoder(ssl.MODELS[size], seed=0).eval()
    dim = encoder.config.dim
    torch.manual_seed(0)
    generator = Generator(VocoderConfig.from_dict(
        {**asdict(VOCODER_MODELS[size]), "feature_dim": dim})).eval()
    random = torch.Generator().manual_seed(0)
    centres = torch.randn(CLUSTERS, dim, generator=random)
    knnvc = KnnVC({f"speaker{i}": clustered(centres, frames, random) for i in range(speakers)},
                  KnnVCConfig())
    models = {"encoder": encoder, "layer": LAYERS[size], "knnvc": knnvc, "generator": generator,
              "anonymizer": KnnVCAnonymizer(encoder, LAYERS[size], knnvc,
                                            partial(vocode, generator))}
    parameters = {"encoder": sum(p.numel() for p in encoder.parameters()),
                  "vocoder": sum(p.numel() for p in generator.parameters())}
    return models, parameters


def bench_rtf(sizes: list[str], seconds: list[float], threads: dict[str, list[int]],
              repeats: int, speakers: int, frames: int) -> tuple[list[dict], dict, float]:
    """Runs of (threads, size, seconds), each size's parameter counts, and the peak resident
    memory (MB) once every model is built."""
    built = {size: build(size, speakers, frames) for size in sizes}
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    waves = {length: speech_like(length) for length in seconds}

    def run(size: str, length: float) -> dict:
        m, wave = built[size][0], waves[length]
        ssl_s, source = _time(lambda: ssl.features(m["encoder"], wave, m["layer"]))
        matching_s, converted = _time(lambda: m["knnvc"].convert(source,
                                                                  np.random.default_rng(0)))
        vocoder_s, audio = _time(lambda: vocode(m["generator"], converted))
        anonymize_s, _ = _time(lambda: m["anonymizer"].anonymize(wave, RATE,
                                                                 np.random.default_rng(0)))
        return {"ssl_s": ssl_s, "matching_s": matching_s, "vocoder_s": vocoder_s,
                "anonymize_s": anonymize_s, "audio_s": len(wave) / RATE,
                "frames": len(source), "output_s": len(audio) / RATE}

    runs = []
    for count in sorted({c for size in sizes for c in threads[size]}):
        torch.set_num_threads(count)
        workloads = [(size, length) for size in sizes if count in threads[size]
                     for length in seconds]
        for workload in workloads:
            run(*workload)                              # warm-up
        for repeat in range(repeats):
            for size, length in workloads if repeat % 2 == 0 else workloads[::-1]:
                result = run(size, length)
                runs.append({"threads": count, "size": size, "seconds": length,
                             "repeat": repeat, **result, "load": os.getloadavg()[0]})
                print(f"{count} thread(s) {size:5s} {length:g} s: SSL {result['ssl_s']:.3f} s, "
                      f"matching {result['matching_s']:.3f} s, vocoder "
                      f"{result['vocoder_s']:.3f} s, anonymize {result['anonymize_s']:.3f} s",
                      flush=True)
    return runs, {size: built[size][1] for size in sizes}, max_rss_mb


def bench_matching(dims: list[int], set_frames: list[int], query_frames: int, repeats: int
                   ) -> tuple[list[dict], list[dict]]:
    """Runs of both matchers per (D, N) at one torch thread, and each pair's output checks."""
    torch.set_num_threads(1)
    matchers = {"voxflow": lambda q, s: knn_match(q, s, k=4),
                "reference": lambda q, s: reference_match(q, s, k=4)}
    runs, checks = [], []
    for dim in dims:
        random = torch.Generator().manual_seed(dim)
        centres = torch.randn(CLUSTERS, dim, generator=random)
        query = clustered(centres, query_frames, random)
        full = clustered(centres, max(set_frames), random)
        for n in set_frames:
            matching_set = full[:n]
            outputs = {name: match(query, matching_set) for name, match in matchers.items()}
            exact = knn_match(query.double(), matching_set.double(), k=4).float()
            checks.append({
                "dim": dim, "set_frames": n,
                "allclose": torch.allclose(outputs["voxflow"], outputs["reference"], **TOLERANCE),
                "max_abs_difference": float((outputs["voxflow"] - outputs["reference"])
                                            .abs().max()),
                **{f"{name}_frames_off_exact": int((~torch.isclose(out, exact, **TOLERANCE))
                                                   .any(dim=1).sum())
                   for name, out in outputs.items()}})
            timed = {name: [] for name in matchers}
            for repeat in range(repeats):
                for name in matchers if repeat % 2 == 0 else list(matchers)[::-1]:
                    seconds, _ = _time(lambda: matchers[name](query, matching_set))
                    timed[name].append(seconds)
                    runs.append({"matcher": name, "dim": dim, "set_frames": n,
                                 "repeat": repeat, "seconds": seconds,
                                 "load": os.getloadavg()[0]})
            print(f"D {dim:4d} N {n:6d}: " + ", ".join(
                f"{name} {statistics.median(s) * 1e3:.1f} ms" for name, s in timed.items()),
                flush=True)
    return runs, checks


def summarise_rtf(runs: list[dict], parameters: dict) -> list[dict]:
    rows = []
    for key in dict.fromkeys((r["threads"], r["size"], r["seconds"]) for r in runs):
        mine = [r for r in runs if (r["threads"], r["size"], r["seconds"]) == key]
        audio_s = mine[0]["audio_s"]
        medians = {part: statistics.median(r[f"{part}_s"] for r in mine)
                   for part in (*PARTS, "anonymize")}
        parts_s = statistics.median(sum(r[f"{part}_s"] for part in PARTS) for r in mine)
        rows.append({"threads": key[0], "size": key[1], **{f"{k}_parameters": v for k, v in
                                                           parameters[key[1]].items()},
                     "audio_s": audio_s, "frames": mine[0]["frames"],
                     **{f"{part}_s": s for part, s in medians.items()},
                     **{f"{part}_rtf": s / audio_s for part, s in medians.items()},
                     "parts_s": parts_s, "parts_rtf": parts_s / audio_s})
    return rows


def summarise_matching(runs: list[dict], checks: list[dict]) -> list[dict]:
    rows = []
    for check in checks:
        medians = {name: statistics.median(
            r["seconds"] for r in runs if r["matcher"] == name and r["dim"] == check["dim"]
            and r["set_frames"] == check["set_frames"]) for name in ("voxflow", "reference")}
        rows.append({**check, "voxflow_s": medians["voxflow"],
                     "reference_s": medians["reference"],
                     "ratio": medians["voxflow"] / medians["reference"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=list(LAYERS), default=list(LAYERS))
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 5.0])
    parser.add_argument("--tiny-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--paper-threads", type=int, nargs="+", default=[1])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pool-speakers", type=int, default=8)
    parser.add_argument("--pool-frames", type=int, default=3000)
    parser.add_argument("--dims", type=int, nargs="+", default=[192, 1024])
    parser.add_argument("--set-frames", type=int, nargs="+",
                        default=[1000, 10_000, 50_000, 100_000])
    parser.add_argument("--query-frames", type=int, default=250)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "anonymization.json")
    args = parser.parse_args()
    if args.repeats < 1 or min(args.set_frames) < 4 or args.query_frames < 1:
        raise SystemExit("--repeats and --query-frames must be >= 1, --set-frames >= 4 (k)")
    threads = {"tiny": args.tiny_threads, "paper": args.paper_threads}
    load_before = os.getloadavg()

    start = time.perf_counter()
    rtf_runs, parameters, max_rss_mb = bench_rtf(args.sizes, args.seconds, threads,
                                                 args.repeats, args.pool_speakers,
                                                 args.pool_frames)
    matching_runs, checks = bench_matching(args.dims, args.set_frames, args.query_frames,
                                           args.repeats)
    rtf, matching = summarise_rtf(rtf_runs, parameters), summarise_matching(matching_runs,
                                                                             checks)
    record = {"date": date.today().isoformat(), "machine": platform.machine(),
              "platform": platform.platform(), "nproc": os.cpu_count(),
              "python": platform.python_version(), "torch": torch.__version__,
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "args": {
                  k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "layers": LAYERS, "max_rss_mb_models_built": max_rss_mb,
              "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
              "wall_s": time.perf_counter() - start, "rtf": rtf, "matching": matching,
              "rtf_runs": rtf_runs, "matching_runs": matching_runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")

    print(f"\n{args.repeats} repeats, medians; load average {load_before[0]:.2f} -> "
          f"{record['loadavg_after'][0]:.2f}; peak memory {max_rss_mb:.0f} MB with every model "
          f"built; {record['wall_s']:.0f} s\n")
    print("| threads | size (parameters SSL / vocoder) | audio (s) | SSL (s) | matching (s) | "
          "vocoder (s) | SSL RTF | matching RTF | vocoder RTF | RTF (parts) | RTF (anonymize) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rtf:
        print(f"| {row['threads']} | {row['size']} ({row['encoder_parameters'] / 1e6:.1f} M / "
              f"{row['vocoder_parameters'] / 1e6:.1f} M) | {row['audio_s']:.2f} | "
              f"{row['ssl_s']:.3f} | {row['matching_s']:.3f} | {row['vocoder_s']:.3f} | "
              f"{row['ssl_rtf']:.3f} | {row['matching_rtf']:.4f} | {row['vocoder_rtf']:.3f} | "
              f"{row['parts_rtf']:.3f} | {row['anonymize_rtf']:.3f} |")
    print("\n| D | N (set frames) | voxflow `knn_match` (ms) | reference (ms) | ratio | "
          "allclose | frames off exact (voxflow / reference) |")
    print("|---:|---:|---:|---:|---:|---|---:|")
    for row in matching:
        print(f"| {row['dim']} | {row['set_frames']} | {row['voxflow_s'] * 1e3:.1f} | "
              f"{row['reference_s'] * 1e3:.1f} | x{row['ratio']:.2f} | {row['allclose']} | "
              f"{row['voxflow_frames_off_exact']} / {row['reference_frames_off_exact']} |")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
