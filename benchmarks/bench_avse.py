"""Enhancement real-time factor of MHCA-AVCRN against its audio-only CRN baseline, at tiny and
paper sizes, on CPU (and CUDA when there is one).

    python benchmarks/bench_avse.py [--sizes tiny paper] [--seconds 3] [--repeats 5]
        [--device auto|cpu|cuda ...] [--threads N] [--out benchmarks/results/avse.json]

One enhancement = what the registered model does per utterance: the noisy log-mel, the network
(`Enhancer.enhance`) and the return to a waveform (`MelGainResynthesis`), batch 1, under
torch.inference_mode, on `--seconds` of 16 kHz noise and random crops (randomly initialised
models, seed 0: speed does not depend on the weights or the input). RTF = compute s / audio s;
ratio = MHCA-AVCRN's time over the CRN's, measured side by side. Each workload runs once to
warm up, then `--repeats` rounds with the order reversed every other round; medians. Writes
`--out` (every run) and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from voxflow.avse.data import Statistics
from voxflow.avse.models import AVSEConfig
from voxflow.avse.training import Enhancer
from voxflow.avse.waveform import MelGainResynthesis
from voxflow.features.logmel import LogMel, LogMelConfig

FEATURES = LogMelConfig(sample_rate=16000, n_mels=80, f_min=0.0, f_max=8000.0, hop_length=160,
                        win_length=640, n_fft=640)
VARIANTS = {"mhca-avcrn": "mhca", "crn": "audio_only"}


def workload(size: str, variant: str, seconds: float, device: torch.device):
    """A function running one enhancement, and the model's parameter count."""
    torch.manual_seed(0)
    statistics_ = Statistics(np.zeros(80, np.float32), np.ones(80, np.float32), 0.5, 0.2)
    model = Enhancer(getattr(AVSEConfig, size)(variant), statistics_).eval().to(device)
    log_mel, resynthesis = LogMel(FEATURES).to(device), MelGainResynthesis(FEATURES).to(device)
    frames = int(seconds * 25)
    noisy = 0.1 * torch.randn(1, frames * 640, device=device)
    video = torch.rand(1, frames, 80, 80, device=device)

    def run():
        with torch.inference_mode():
            out = resynthesis(noisy, model.enhance(log_mel(noisy), video))
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    return run, sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "paper"])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", nargs="+", default=["auto"])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/avse.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cuda" if torch.cuda.is_available() else "cpu" if d == "auto" else d
               for d in args.device]
    runs, rows = [], []
    for device in map(torch.device, devices):
        for size in args.sizes:
            loads = {name: workload(size, variant, args.seconds, device)
                     for name, variant in VARIANTS.items()}
            times = {name: [] for name in loads}
            for run, _ in loads.values():
                run()                                   # warm-up
            for round_ in range(args.repeats):
                order = list(loads) if round_ % 2 == 0 else list(loads)[::-1]
                for name in order:
                    start = time.perf_counter()
                    loads[name][0]()
                    times[name].append(time.perf_counter() - start)
                    runs.append({"device": device.type, "size": size, "system": name,
                                 "seconds": times[name][-1], "load": os.getloadavg()[0]})
            median = {name: statistics.median(t) for name, t in times.items()}
            rows.append({"device": device.type, "size": size,
                         **{f"{name} params": loads[name][1] for name in loads},
                         **{f"{name} RTF": median[name] / args.seconds for name in loads},
                         "ratio": median["mhca-avcrn"] / median["crn"]})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": date.today().isoformat(), "machine":
                                    platform.processor() or platform.machine(),
                                    "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                                    "seconds": args.seconds, "rows": rows, "runs": runs},
                                   indent=2) + "\n")
    print("| device | size (params MHCA-AVCRN / CRN) | MHCA-AVCRN RTF | CRN RTF | ratio |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['device']} | {row['size']} ({row['mhca-avcrn params'] / 1e6:.2f} M / "
              f"{row['crn params'] / 1e6:.2f} M) | {row['mhca-avcrn RTF']:.3f} | "
              f"{row['crn RTF']:.3f} | x{row['ratio']:.2f} |")


if __name__ == "__main__":
    main()
