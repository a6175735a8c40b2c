"""Training steps of the models whose CPU time had a defect, side by side with the code before:
the CTC recognizer (anon-asr) on `CPUFloat32LSTM.padded_outputs` against packed sequences, the
SSL pretrainer (anon-ssl) with its contiguous channel LayerNorms against torchaudio's, and the
MLMS acoustic model (mlms-rand) with its recurrent output layer's drive unbound once against
sliced per frame.

    .venv/bin/python benchmarks/bench_training_steps.py [--steps 20] [--rounds 3]
        [--threads 2] [--out benchmarks/results/training_steps.json]

Run from a checkout whose corpora and MLMS features exist (`dvc repro anon-corpus
mlms-linguistic`): it reads the DAG's LibriTTS and MLMS features with `params.yaml`'s presets. Each
model trains `--steps` Adam steps on the DAG's own batches (seeded) on `--threads` torch
threads, the baseline and the current code alternating `--rounds` times after one warm-up step
each; the median step time of each, and their ratio, printed as a Markdown table and written to
`--out`.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torchaudio.models.wav2vec2.components import LayerNorm as ChannelLayerNorm

from voxflow.anonymization import asr, ssl
from voxflow.anonymization.data import libritts_role, manifest_table, read_waves
from voxflow.anonymization.params import anonymization_params
from voxflow.mlms import models as mlms_models
from voxflow.mlms.data import acoustic_set
from voxflow.mlms.params import mlms_params
from voxflow.mlms.training import _new_predictor, _training_languages, sequence_loss
from voxflow.stage_io import load_section
from voxflow.training.precision import CPUFloat32LSTM


def packed_outputs(lstm: CPUFloat32LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The baseline: what the recognizer and the AV-SE bottleneck ran before (packed)."""
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    return pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]


@contextmanager
def lstm_baseline():
    current = CPUFloat32LSTM.padded_outputs
    CPUFloat32LSTM.padded_outputs = packed_outputs
    try:
        yield
    finally:
        CPUFloat32LSTM.padded_outputs = current


def step_seconds(model: torch.nn.Module, loss_of, sample, steps: int) -> float:
    """Median seconds of `steps` Adam steps after one warm-up step."""
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)
    generator = torch.Generator().manual_seed(0)
    times = []
    for step in range(steps + 1):
        batch = sample(generator)
        start = time.perf_counter()
        loss = loss_of(model, batch)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def recognizer_case():
    params = anonymization_params(load_section("anonymization"))
    table, waves = read_waves(libritts_role(manifest_table(
        Path("data/anonymization/libritts.parquet")), "train"), "ASR data")
    texts = table["text"].tolist()
    tokenizer = asr.Tokenizer.from_texts(texts, params.asr_model.tokens)
    sample = asr.ctc_batches(asr.fbank_features(waves), [tokenizer.encode(t) for t in texts],
                             params.asr_training.batch_size)

    def model(baseline: bool):
        torch.manual_seed(0)
        return asr.CTCRecognizer(params.asr_model, tokenizer), asr.ctc_loss, sample, (
            lstm_baseline() if baseline else _nothing())
    return model


def ssl_case():
    params = anonymization_params(load_section("anonymization"))
    _, waves = read_waves(libritts_role(manifest_table(
        Path("data/anonymization/libritts.parquet")), "train"), "SSL data")
    training = params.ssl_training
    units = ssl.fit_units([ssl.mfcc39(w) for w in waves], training.units[0],
                          training.kmeans_frames, params.seed)
    sample = ssl.crop_sampler(waves, units, training)

    def model(baseline: bool):
        torch.manual_seed(0)
        encoder = ssl.SSLEncoder(params.ssl_model)
        if baseline:                        # torchaudio's own channel LayerNorms
            ssl.set_channel_norms(encoder.model, ChannelLayerNorm)
        return (ssl.HuBERTPretrainer(encoder, training.units[0], training.projection_dim,
                                     training.temperature),
                ssl.UnitPredictionLoss(training.unmasked_weight), sample, _nothing())
    return model


def sliced_recurrent_outputs(layers, h: torch.Tensor) -> torch.Tensor:
    """The baseline: the MLMS recurrent output layer as it was, its drive sliced per frame."""
    with torch.autocast(h.device.type, enabled=False):
        weights = torch.stack([layer.forward_weights.weight for layer in layers])
        biases = torch.stack([layer.forward_weights.bias for layer in layers])
        recurrent_t = torch.stack([layer.recurrent for layer in layers]).transpose(1, 2)
        drive = torch.baddbmm(biases[:, None], h.float(), weights.transpose(1, 2))
        y = drive.new_zeros(drive.shape[0], 1, drive.shape[2])
        outputs = []
        for t in range(drive.shape[1]):
            y = drive[:, t:t + 1] + torch.bmm(y, recurrent_t)
            outputs.append(y)
        return torch.cat(outputs, dim=1)


@contextmanager
def recurrent_output_baseline():
    current = mlms_models.recurrent_outputs
    mlms_models.recurrent_outputs = sliced_recurrent_outputs
    try:
        yield
    finally:
        mlms_models.recurrent_outputs = current


def mlms_case():
    params = mlms_params(load_section("mlms"))
    train_set = acoustic_set(Path("data/mlms/world"), Path("data/mlms/linguistic"), "train")
    languages = _training_languages(train_set, set(params.held_out_languages))
    train_set = train_set.where(language=languages)
    normalisers = train_set.normalisers()
    sample = train_set.sampler(params.training.batch_size, params.training.segment_frames)

    def model(baseline: bool):
        predictor = _new_predictor(train_set, normalisers, params.model_config, languages,
                                   params.system("mlms-rand").codes, params.seed)
        return (predictor, sequence_loss, sample,
                recurrent_output_baseline() if baseline else _nothing())
    return model


@contextmanager
def _nothing():
    yield


CASES = {"anon-asr (CTC BiLSTM)": recognizer_case, "anon-ssl (WavLM conv blocks)": ssl_case,
         "mlms-rand (recurrent output layer)": mlms_case}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/training_steps.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for name, case in CASES.items():
        build = case()
        times = {"baseline": [], "current": []}
        for _ in range(args.rounds):
            for kind in times:
                model, loss_of, sample, patch = build(kind == "baseline")
                with patch:
                    times[kind].append(step_seconds(model.train(), loss_of, sample, args.steps))
        baseline, current = (statistics.median(times[kind]) for kind in times)
        rows.append({"model": name, "baseline_s": baseline, "current_s": current,
                     "ratio": current / baseline, "rounds": times})
    print("| training step | before (s) | now (s) | ratio |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {row['baseline_s']:.3f} | {row['current_s']:.3f} | "
              f"{row['ratio']:.2f} |")
    result = {"date": date.today().isoformat(), "machine": platform.processor() or
              platform.machine(), "threads": args.threads, "steps": args.steps,
              "rounds": args.rounds, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
