"""Spoofing detection (the Siamese spoofing paper) on the CPU: feature-extraction throughput per
front-end and training steps per second per backbone.

    python benchmarks/bench_antispoof.py [--manifest data/manifests/asvspoof.parquet]
        [--utterances 40] [--backbones lcnn resnet18 senet18 senet34 senet50]
        [--presets tiny] [--steps 5] [--threads 1] [--out benchmarks/results/antispoof.json]

- features: `voxflow.antispoof.features.make_extractor(frontend, params)` (params.yaml's
  `antispoof.frontends`) on the first `--utterances` utterances of the manifest, in this one
  process (the stage runs them in parallel processes: multiply by the workers), audio decoded
  beforehand and not timed; after one warm-up call (the CQT kernel and the SSL model are built
  once per process). Reported: utterances/s and seconds of audio per second (x real time).
- training: one Siamese step as `antispoof-siamese` runs it, on random features of the
  front-end's shape (batch 64, params.yaml's `frames` x dims): the backbone's embeddings, 50
  random pairs, the contrastive loss, backward, Adam; after 2 warm-up steps, the median of
  `--steps` timed steps. The speed does not depend on the values.
Every figure is wall time with `--threads` torch threads (default 1: on a shared 2-core machine
more threads are much slower, see the README). Prints a Markdown table, writes `--out`.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from voxflow.antispoof.losses import contrastive_loss
from voxflow.antispoof.models import BackboneConfig, build_backbone
from voxflow.antispoof.sampling import sample_pairs
from voxflow.antispoof.features import make_extractor
from voxflow.ingest.manifest import read_manifest
from voxflow.stage_io import load_params

REPO = Path(__file__).resolve().parents[1]


def bench_features(manifest: Path, count: int, params: dict) -> list[dict]:
    table, root = read_manifest(manifest)
    paths = table.column("audio_path").to_pylist()[:count]
    audio = [sf.read(root / p, dtype="float32")[0] for p in paths]
    seconds = sum(len(a) for a in audio) / 16000
    rows = []
    for frontend, options in params["frontends"].items():
        extract = make_extractor(frontend, options or {})
        extract(audio[0])                                         # warm-up
        start = time.perf_counter()
        dims = {extract(a).shape[1] for a in audio}
        elapsed = time.perf_counter() - start
        rows.append({"frontend": frontend, "utterances": len(audio), "audio_s": seconds,
                     "wall_s": elapsed, "utt_per_s": len(audio) / elapsed,
                     "x_real_time": seconds / elapsed, "dims": sorted(dims)[0]})
    return rows


def bench_training(backbones: list[str], presets: list[str], steps: int, params: dict
                   ) -> list[dict]:
    rows = []
    shapes = {"lfcc": (params["frames"]["lfcc"], 60), "ssl": (params["frames"]["ssl"], 32)}
    for preset in presets:
        config = BackboneConfig.tiny() if preset == "tiny" else BackboneConfig.paper()
        for frontend, (frames, dims) in shapes.items():
            for name in backbones:
                torch.manual_seed(0)
                model = build_backbone(name, config)
                optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
                x = torch.randn(64, frames, dims)
                y = torch.tensor([0, 1] * 32)
                g = torch.Generator().manual_seed(0)
                times = []
                for i in range(steps + 2):
                    start = time.perf_counter()
                    pairs = sample_pairs(y, 50, g)
                    e = model(x)
                    loss = contrastive_loss(e[pairs.first], e[pairs.second], pairs.label)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    if i >= 2:
                        times.append(time.perf_counter() - start)
                median = statistics.median(times)
                rows.append({"preset": preset, "frontend": frontend, "input": f"{frames}x{dims}",
                             "backbone": name, "step_s": median, "steps_per_s": 1 / median,
                             "parameters": sum(p.numel() for p in model.parameters())})
                print(f"  {preset} {name} {frontend}: {1 / median:.2f} steps/s", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=REPO / "data/manifests/asvspoof.parquet")
    parser.add_argument("--utterances", type=int, default=40)
    parser.add_argument("--backbones", nargs="+",
                        default=["lcnn", "resnet18", "senet18", "senet34", "senet50"])
    parser.add_argument("--presets", nargs="+", default=["tiny"], choices=["tiny", "paper"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/antispoof.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(REPO / "params.yaml")["antispoof"]
    features = bench_features(args.manifest, args.utterances, params)
    training = bench_training(args.backbones, args.presets, args.steps, params)
    result = {"date": date.today().isoformat(), "machine": platform.machine(),
              "python": platform.python_version(), "torch": torch.__version__,
              "threads": args.threads, "features": features, "training": training}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| front-end | dims | utterances | utt/s | x real time |\n|---|---|---|---|---|")
    for r in features:
        print(f"| {r['frontend']} | {r['dims']} | {r['utterances']} | {r['utt_per_s']:.1f} | "
              f"{r['x_real_time']:.0f} |")
    print("\n| preset | backbone | input (frames x dims) | parameters | steps/s | s/step |\n"
          "|---|---|---|---|---|---|")
    for r in training:
        print(f"| {r['preset']} | {r['backbone']} | {r['input']} ({r['frontend']}) | "
              f"{r['parameters']:,} | {r['steps_per_s']:.2f} | {r['step_s']:.3f} |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
