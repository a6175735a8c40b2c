"""Analysis-synthesis evaluation of vocoders on held-out utterances (the UPW paper section 3).

Every system re-synthesizes the test utterances from their log-mel; the waveforms are written
beside the natural recordings and scored with voxflow's metrics (PESQ wide-band, STOI, MCD,
F0 RMSE, V/UV error). Two test sets: the evaluation split's speakers, unseen in training, and
held-out utterances of the speaker-dependent systems' own speakers (SDPW against UPW on SDPW's
voice, the paper's comparison). The summary is one row per test set and one column group per
system, the shape of the UPW paper's table 5 with objective metrics in place of MUSHRA scores;
the unseen-speaker waveforms feed a MUSHRA package (`voxflow.evaluation.mushra.export_test`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from voxflow.evaluation.mushra import REFERENCE, export_test
from voxflow.evaluation.quality import evaluate_pairs
from voxflow.evaluation.report import Report
from voxflow.evaluation.spectral import evaluate_spectral
from voxflow.parallel import progress_disabled
from voxflow.vocoder.params import VocoderParams
from voxflow.wav import write_float_wav

log = logging.getLogger(__name__)

# (mel (batch, frames, n_mels), reference waveform (batch, samples)) -> waveforms (batch, samples)
Vocoder = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SUMMARY_METRICS = ("pesq_wb", "stoi", "mcd", "f0_rmse", "vuv_error")


def synthesize_test_set(features_dir: Path, split: str, vocoders: dict[str, Vocoder],
                        out_dir: Path, sample_rate: int, hop_length: int,
                        max_utterances: int | None = None, max_seconds: float | None = None,
                        utt_ids: list[str] | None = None) -> pd.DataFrame:
    """Write out_dir/reference/<utt>.wav and out_dir/<system>/<utt>.wav for the first
    `max_utterances` utterances of `split` (of `utt_ids` only, if given), each cut to its first
    `max_seconds`; returns the pairs (system, id, reference, degraded).

    Utterances of the same length after the cut are vocoded as one batch: the autoregressive
    teacher costs the same per generated step whatever the batch, so a test set cut to a common
    length takes the time of one utterance. Nothing is padded: each utterance is conditioned on
    its own frames only (a stochastic vocoder's noise draws depend on the batch's makeup)."""
    features_dir, out_dir = Path(features_dir), Path(out_dir)
    index = pd.read_parquet(features_dir / "index.parquet")
    index = index[index["split"] == split]
    if utt_ids is not None:
        index = index[index["utt_id"].isin(utt_ids)]
    index = index.sort_values("utt_id").head(max_utterances)
    if index.empty:
        raise ValueError(f"{features_dir}: no utterance in split {split!r}")
    frames = index["frames"] if max_seconds is None else index["frames"].clip(
        upper=max(1, int(max_seconds * sample_rate / hop_length)))
    index = index.assign(cut=frames)
    paths = {}
    quiet = progress_disabled()
    groups = list(index.groupby("cut", sort=True))
    with tqdm(total=len(index) * len(vocoders), desc="analysis-synthesis", unit="utt",
              leave=False, disable=quiet) as progress:
        for cut, group in groups:
            mel = torch.from_numpy(np.stack([np.load(features_dir / p)[:cut]
                                             for p in group["mel_path"]]))
            wav = torch.from_numpy(np.stack([np.load(features_dir / p)[:cut * hop_length]
                                             for p in group["wav_path"]]))
            for utt_id, audio in zip(group["utt_id"], wav):
                paths["reference", utt_id] = _write(out_dir / "reference" / f"{utt_id}.wav",
                                                    audio, sample_rate)
            for system, vocoder in vocoders.items():
                with torch.inference_mode():
                    audio = vocoder(mel, wav).float()
                for utt_id, waveform in zip(group["utt_id"], audio):
                    paths[system, utt_id] = _write(out_dir / system / f"{utt_id}.wav", waveform,
                                                   sample_rate)
                progress.update(len(group))
    log.info("analysis-synthesis of %d %s utterances by %s written to %s", len(index), split,
             ", ".join(vocoders), out_dir)
    return pd.DataFrame([(system, utt_id, paths["reference", utt_id], paths[system, utt_id])
                         for system in vocoders for utt_id in index["utt_id"]],
                        columns=["system", "id", "reference", "degraded"])


def _write(path: Path, audio: torch.Tensor, sample_rate: int) -> str:
    # float keeps out-of-range samples as they are: clipping would hide a defect
    return str(write_float_wav(path, audio.numpy(), sample_rate))


def score_systems(pairs: pd.DataFrame, test_set: str, workers: int | None = None) -> Report:
    """PESQ/STOI and MCD/F0 of every system's pairs -> Report: tables "utterances" (one row per
    system and utterance) and "summary" (table-5 shape: test set x system metrics, mean and
    95% CI), metrics `<system>/<metric>`."""
    per_system, summary, metrics = [], {"test_set": test_set, "utterances": 0}, {}
    for system, group in pairs.groupby("system", sort=False):
        quality = evaluate_pairs(group, metrics=("pesq_wb", "stoi"), workers=workers)
        spectral = evaluate_spectral(group, workers=workers)
        table = quality.tables["pesq_stoi"].merge(
            spectral.tables["spectral"].drop(columns=["reference", "degraded"]), on="id",
            suffixes=("", "_spectral"))
        per_system.append(table.assign(system=system, test_set=test_set))
        both = {**quality.metrics, **spectral.metrics}
        summary["utterances"] = len(group)
        for name in SUMMARY_METRICS:
            summary[f"{system} {name}"] = both[f"{name}_mean"]
            summary[f"{system} {name} ci95"] = both[f"{name}_ci95"]
            metrics[f"{system}/{name}"] = both[f"{name}_mean"]
    return Report(metrics=metrics, tables={"utterances": pd.concat(per_system, ignore_index=True),
                                           "summary": pd.DataFrame([summary])})


def markdown_summary(summary: pd.DataFrame, systems: list[str]) -> str:
    """The summary as Markdown tables, one per test set: one row per system it has, mean +-
    95% CI per metric."""
    lines = []
    for _, row in summary.iterrows():
        lines += [f"Analysis-synthesis on {row['test_set']} ({row['utterances']} utterances)",
                  "", "| system | " + " | ".join(SUMMARY_METRICS) + " |",
                  "|---|" + "---|" * len(SUMMARY_METRICS)]
        for system in systems:
            if f"{system} {SUMMARY_METRICS[0]}" not in row or pd.isna(
                    row[f"{system} {SUMMARY_METRICS[0]}"]):
                continue
            cells = [f"{row[f'{system} {m}']:.3f} ± {row[f'{system} {m} ci95']:.3f}"
                     for m in SUMMARY_METRICS]
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def systems_table(summary: pd.DataFrame, systems: list[str]) -> pd.DataFrame:
    """The unseen-speaker summary in long form (system, metric, value, ci95): the DVC plot of
    the systems."""
    row = summary.iloc[0]
    return pd.DataFrame([(system, metric, row[f"{system} {metric}"],
                          row[f"{system} {metric} ci95"])
                         for system in systems for metric in SUMMARY_METRICS],
                        columns=["system", "metric", "value", "ci95"])


def mushra_stimuli(pairs: pd.DataFrame) -> pd.DataFrame:
    """The analysis-synthesis pairs as a MUSHRA stimuli table: one item per utterance, the
    natural recording as its reference and one condition per system."""
    references = pairs.drop_duplicates("id").assign(system=REFERENCE, path=lambda t: t.reference)
    systems = pairs.assign(path=pairs["degraded"])
    return pd.concat([references, systems], ignore_index=True).rename(columns={"id": "item"})[
        ["item", "system", "path"]]


def write_report(report: Report, pairs: pd.DataFrame, systems: list[str], out_dir: Path,
                 seed: int) -> None:
    """Everything the evaluation keeps in out_dir: the report's tables (utterances.csv,
    summary.csv), summary.md (the table-5-shaped Markdown) and mushra/, a webMUSHRA test of the
    same stimuli."""
    report.write(out_dir)
    summary = report.tables["summary"]
    (out_dir / "summary.md").write_text(markdown_summary(summary, systems))
    export_test(mushra_stimuli(pairs), out_dir / "mushra", "vocoder", seed=seed)


def evaluate_vocoders(params: VocoderParams, features_dir: Path, teacher_path: Path,
                      student_path: Path, sdpw_path: Path | None, out_dir: Path
                      ) -> tuple[Report, list[str]]:
    """Analysis-synthesis of params.yaml's evaluation split by the UPW student (e = 0 and
    encoding the reference), the SDPW student (if given), Griffin-Lim and the UPW teacher (if
    `evaluation.teacher`), and of the held-out utterances of SDPW's speaker by all but the
    teacher, scored (metrics `<system>/<metric>` and `seen-speaker/<system>/<metric>`) and
    written into out_dir (see `write_report`); returns the report and the systems in table
    order. Every random draw is seeded from `params.seed`."""
    from voxflow.features.logmel import GriffinLimVocoder
    from voxflow.vocoder.training import load_student, load_teacher, seen_speaker_utterances

    evaluation, mel_config, seed = params.evaluation, params.features, params.seed
    teacher, student = load_teacher(Path(teacher_path)), load_student(Path(student_path))

    def noise() -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    torch.manual_seed(seed)         # Griffin-Lim starts from random phases (torchaudio's rand_init)
    griffin_lim = GriffinLimVocoder(mel_config)
    vocoders = {
        "upw": lambda mel, wav: student.synthesize(mel, generator=noise()),
        "upw-ref": lambda mel, wav: student.synthesize(mel, wav, generator=noise())}
    if sdpw_path is not None:
        sdpw = load_student(Path(sdpw_path))
        vocoders["sdpw"] = lambda mel, wav: sdpw.synthesize(mel, generator=noise())
    vocoders["griffin-lim"] = lambda mel, wav: griffin_lim(mel)
    if evaluation.teacher:
        vocoders["teacher"] = lambda mel, wav: teacher.generate(teacher.conditioning(mel)[0],
                                                                noise())
    out_dir = Path(out_dir)
    pairs = synthesize_test_set(features_dir, evaluation.split, vocoders, out_dir / "audio",
                                mel_config.sample_rate, mel_config.hop_length,
                                evaluation.utterances, evaluation.max_seconds)
    report = score_systems(pairs, evaluation.split)
    held_out = seen_speaker_utterances(params, Path(features_dir))
    if held_out:
        seen = {name: vocoder for name, vocoder in vocoders.items() if name != "teacher"}
        seen_pairs = synthesize_test_set(features_dir, params.train_split, seen,
                                         out_dir / "audio-seen-speaker", mel_config.sample_rate,
                                         mel_config.hop_length, None, evaluation.max_seconds,
                                         held_out)
        seen_report = score_systems(seen_pairs, f"{params.train_split} held out, seen speakers")
        report.metrics.update({f"seen-speaker/{name}": value
                               for name, value in seen_report.metrics.items()})
        for name in ("utterances", "summary"):
            report.tables[name] = pd.concat([report.tables[name], seen_report.tables[name]],
                                            ignore_index=True)
    write_report(report, pairs, list(vocoders), out_dir, seed)
    return report, list(vocoders)
