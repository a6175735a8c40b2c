"""The DAG's kNN-VC row anonymizing its sources with their SSL features encoded in the row, as
before anon-features, against looked up in anon-features's stored ones: time, side by side, and
that the audio is the same.

    .venv/bin/python benchmarks/bench_stored_features.py [--threads 2] [--limit 0]
        [--out benchmarks/results/stored_features.json]

Run from a checkout whose anonymization DAG has run (`dvc repro anon-features anon-vocoder`): it
reads the trained encoder and matching sets from `models/anonymization/`, the stored features
from `data/anonymization/features/` and the DAG's sources (the LibriTTS of
`data/anonymization/libritts.parquet` and the IEMOCAP of `data/manifests/iemocap.parquet`, all
of them or the first `--limit`), read into memory first. `params.yaml`'s row `knnvc` anonymizes
every source with the same per-utterance random states as the stage, `--threads` torch
threads, three times: encoding, looking up, encoding again (the two encoding runs give the
spread), each after one warm-up utterance; then checks that the two give the same samples.
Prints a Markdown table; writes the figures to `--out`.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from voxflow.anonymization.anonymizers import utterance_rng
from voxflow.anonymization.audio import RATE
from voxflow.anonymization.data import manifest_table, read_waves
from voxflow.anonymization.params import anonymization_params
from voxflow.anonymization.ssl import STORED_FEATURES, load_stored_features
from voxflow.anonymization.stages import anonymizer
from voxflow.stage_io import load_section

MODELS = Path("models/anonymization")
MANIFESTS = (Path("data/anonymization/libritts.parquet"), Path("data/manifests/iemocap.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="the first N sources (0: all)")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/stored_features.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    params = anonymization_params(load_section("anonymization"))
    model = anonymizer(params, "knnvc", MODELS / "ssl", MODELS / "vocoder")
    stored = load_stored_features(Path("data/anonymization/features") / STORED_FEATURES,
                                  model.layer)
    tables, waves = zip(*(read_waves(manifest_table(path), "sources") for path in MANIFESTS))
    ids = [utt for table in tables for utt in table["utt_id"]]
    speakers = [speaker for table in tables for speaker in table["speaker"]]
    waves = [wave for part in waves for wave in part]
    if args.limit:
        ids, speakers, waves = ids[:args.limit], speakers[:args.limit], waves[:args.limit]
    seconds = sum(len(wave) for wave in waves) / RATE

    def run(features: dict | None) -> tuple[float, list[np.ndarray]]:
        model.stored = features
        model.anonymize(waves[0], RATE, utterance_rng(params.seed, ids[0]))     # warm-up
        start = time.perf_counter()
        outputs = [model.anonymize(wave, RATE, utterance_rng(params.seed, utt), speaker=speaker)
                   for wave, utt, speaker in zip(waves, ids, speakers)]
        return time.perf_counter() - start, outputs

    rows = []
    for name, features in (("encoded", None), ("stored", stored), ("encoded (again)", None)):
        elapsed, outputs = run(features)
        rows.append({"features": name, "seconds": elapsed, "rtf": elapsed / seconds,
                     "outputs": outputs})
    same = all(np.array_equal(a, b) for a, b in zip(rows[0]["outputs"], rows[1]["outputs"]))
    for row in rows:
        del row["outputs"]

    print(f"{len(waves)} utterances, {seconds:.0f} s of audio, {args.threads} threads; "
          f"stored and encoded give the same audio: {same}\n")
    print("| SSL features | anonymize (s) | RTF | time / encoded (first run) |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['features']} | {row['seconds']:.1f} | {row['rtf']:.4f} | "
              f"{row['seconds'] / rows[0]['seconds']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": str(date.today()), "machine": platform.processor()
                                    or platform.machine(), "threads": args.threads,
                                    "utterances": len(waves), "audio_seconds": seconds,
                                    "same_audio": same, "rows": rows}, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
