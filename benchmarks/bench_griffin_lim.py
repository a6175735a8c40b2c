"""Griffin-Lim iterations in the DAG's kNN-VC (`anonymization.vocoder: mel-griffin-lim`): time
and content against the iteration count, side by side on the same utterances.

    .venv/bin/python benchmarks/bench_griffin_lim.py [--iterations 32 16 8] [--per-speaker 3]
        [--threads 2] [--out benchmarks/results/griffin_lim.json]

Run from a checkout whose anonymization DAG has run (`dvc repro anon-asr anon-vocoder`): it
reads the trained encoder, matching sets and recognizer from `models/anonymization/` and the
DAG's LibriTTS (`data/anonymization/libritts.parquet`). The utterances: the first
`--per-speaker` of every dev-clean and test-clean reader. For each iteration count, in the
order given, after one warm-up utterance, `params.yaml`'s kNN-VC row `knnvc` anonymizes every
utterance (the same per-utterance random states, so only the vocoder's iterations differ) with
`--threads` torch threads, as the DAG's stage does; then the DAG's recognizer transcribes the outputs: corpus
CER and WER (`voxflow.evaluation`, jiwer). The originals' CER and WER come first. Prints a
Markdown table; writes the figures to `--out`.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import torch

from voxflow.anonymization.anonymizers import utterance_rng
from voxflow.anonymization.asr import load_asr, wer
from voxflow.anonymization.audio import RATE, load_audio
from voxflow.anonymization.params import anonymization_params
from voxflow.anonymization.stages import anonymizer
from voxflow.anonymization.vocoder import MelGriffinLim
from voxflow.ingest.manifest import read_manifest
from voxflow.stage_io import load_section

MODELS = Path("models/anonymization")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, nargs="+", default=[32, 16, 8])
    parser.add_argument("--per-speaker", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/griffin_lim.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    params = anonymization_params(load_section("anonymization"))
    model = anonymizer(params, "knnvc", MODELS / "ssl", MODELS / "vocoder")
    recognizer = load_asr(MODELS / "asr" / "asr.pt")
    table, root = read_manifest(Path("data/anonymization/libritts.parquet"))
    table = table.to_pandas()
    table = table[table["split"].isin(["dev-clean", "test-clean"])]
    table = table.groupby("speaker", sort=True).head(args.per_speaker)
    waves = [load_audio(Path(root) / path, RATE) for path in table["audio_path"]]
    seconds = sum(len(wave) for wave in waves) / RATE
    texts, ids = list(table["text"]), list(table["utt_id"])

    def content(outputs) -> dict:
        metrics = wer(recognizer, outputs, texts, ids).metrics
        return {"cer": 100 * metrics["cer"], "wer": 100 * metrics["wer"]}

    rows = [{"system": "original", "iterations": None, "seconds": None, **content(waves)}]
    for iterations in args.iterations:
        model.vocoder = MelGriffinLim(iterations)
        model.anonymize(waves[0], RATE, utterance_rng(params.seed, ids[0]))     # warm-up
        start = time.perf_counter()
        outputs = [model.anonymize(wave, RATE, utterance_rng(params.seed, utt_id),
                                   speaker=speaker)
                   for wave, utt_id, speaker in zip(waves, ids, table["speaker"])]
        elapsed = time.perf_counter() - start
        rows.append({"system": "knnvc", "iterations": iterations, "seconds": elapsed,
                     "rtf": elapsed / seconds, **content(outputs)})

    baseline = next(row for row in rows if row["iterations"] == args.iterations[0])
    print(f"{len(waves)} utterances, {seconds:.0f} s of audio, {args.threads} threads\n")
    print(f"| system | Griffin-Lim iterations | anonymize (s) | RTF | time / "
          f"{args.iterations[0]} iterations' | CER (%) | WER (%) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        timed = ((f"{row['seconds']:.1f}", f"{row['rtf']:.3f}",
                  f"{row['seconds'] / baseline['seconds']:.2f}")
                 if row["seconds"] is not None else ("-", "-", "-"))
        print(f"| {row['system']} | {row['iterations'] or '-'} | {' | '.join(timed)} | "
              f"{row['cer']:.1f} | {row['wer']:.1f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": str(date.today()), "machine": platform.processor()
                                    or platform.machine(), "threads": args.threads,
                                    "utterances": len(waves), "audio_seconds": seconds,
                                    "rows": rows}, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
