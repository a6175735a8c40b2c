"""Pipeline stages: one function per step, with explicit inputs, outputs and params.

The CLI (`voxflow stage ...`), dvc.yaml and the Kubeflow components are thin wrappers around
these functions. Each call is one tracked MLflow run (see `voxflow.tracking`).
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import yaml

from voxflow.tracking import stage_run

log = logging.getLogger(__name__)


def load_params(path: Path = Path("params.yaml")) -> dict:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: params file not found (run from the repository root "
                                "or pass --params)")
    return yaml.safe_load(Path(path).read_text()) or {}


def write_metrics(path: Path, metrics: dict) -> None:
    """A DVC metrics file (JSON), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def synth(corpus: str, out_dir: Path, size: str, seed: int, workers: int | None = None) -> Path:
    """Synthesize one miniature corpus into `out_dir/<release folder>`; returns that folder."""
    import mlflow

    from voxflow.synth.corpora import build_corpus

    params = {"corpus": corpus, "size": size, "seed": seed}
    with stage_run(f"synth@{corpus}", params):
        start = time.perf_counter()
        root = build_corpus(corpus, Path(out_dir), size=size, seed=seed, workers=workers or None)
        files = [p for p in root.rglob("*") if p.is_file()]
        mlflow.log_metrics({"files": len(files), "seconds": time.perf_counter() - start,
                            "megabytes": sum(p.stat().st_size for p in files) / 2**20})
    log.info("synth@%s: %s", corpus, root)
    return root


def ingest(corpus: str, root: Path, out: Path, metrics_path: Path, options: dict) -> dict:
    """Ingest a corpus into the manifest `out` (+ rejects); metrics to `metrics_path`."""
    import mlflow
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from voxflow.ingest import ingest as ingest_corpus
    from voxflow.ingest.manifest import rejects_path

    with stage_run(f"ingest@{corpus}", {"corpus": corpus, **options}, inputs=[Path(root)]):
        table = ingest_corpus(corpus, Path(root), Path(out), **options)
        rejects = rejects_path(Path(out))
        metrics = {"utterances": table.num_rows,
                   "rejected": pq.read_metadata(rejects).num_rows,
                   "audio_hours": float(pc.sum(table.column("duration")).as_py() or 0) / 3600,
                   "speakers": len(set(table.column("speaker").drop_null().to_pylist()))}
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(rejects))
        write_metrics(Path(metrics_path), metrics)
    return metrics


def vocoder_features(manifest: Path, out_dir: Path, metrics_path: Path, options: dict) -> dict:
    """Log-mel features (and waveforms) of a LibriTTS manifest for the vocoder into `out_dir`
    (see `voxflow.vocoder.data`); options: the LogMelConfig fields. Metrics to `metrics_path`."""
    import mlflow
    import pandas as pd

    from voxflow.features.logmel import LogMelConfig
    from voxflow.vocoder.data import extract_features

    config = LogMelConfig(**options)
    with stage_run("vocoder-features", config.as_dict(), inputs=[Path(manifest)]):
        index = extract_features(Path(manifest), Path(out_dir), config)
        rejected = len(pd.read_csv(Path(out_dir) / "rejects.csv"))
        metrics = {"utterances": len(index), "rejected": rejected,
                   "frames": int(index["frames"].sum()),
                   "train_hours": float(index.loc[index["split"].str.startswith("train"),
                                                  "frames"].sum() * config.hop_length
                                        / config.sample_rate / 3600)}
        mlflow.log_metrics(metrics)
        write_metrics(Path(metrics_path), metrics)
    return metrics


def _vocoder_config(options: dict):
    from voxflow.vocoder.models import VocoderConfig

    presets = {"tiny": VocoderConfig.tiny, "paper": VocoderConfig.paper}
    if options["preset"] not in presets:
        raise ValueError(f"unknown vocoder preset {options['preset']!r}: expected tiny or paper")
    return presets[options["preset"]](audio_encoder=options.get("audio_encoder", True))


def _train_objective(name: str, objective, features_dir: Path, out_dir: Path, options: dict,
                     training: dict, params: dict, inputs: list[Path]):
    """Train `objective` on segments of `features_dir`, checkpoints in out_dir/checkpoints."""
    from voxflow.features.logmel import LogMelConfig
    from voxflow.training import TrainConfig, train
    from voxflow.vocoder.data import SegmentSampler
    from voxflow.vocoder.training import objective_loss

    mel_config = LogMelConfig(**options["features"])
    hop = mel_config.hop_length
    frames = max(1, round(training["segment_seconds"] * mel_config.sample_rate / hop))
    sampler = SegmentSampler(features_dir, options["train_split"], training["batch_size"], frames,
                             hop, speakers=tuple(options["speakers"]) if options.get("speakers")
                             else None)
    config = TrainConfig(steps=training["steps"], checkpoint_every=training["checkpoint_every"],
                         log_every=training["log_every"], seed=options["seed"],
                         lr=training["lr"], grad_clip=training.get("grad_clip"))
    with stage_run(name, params, inputs=inputs):
        return train(objective, objective_loss, sampler, Path(out_dir) / "checkpoints", config,
                     parameters=[p for p in objective.parameters() if p.requires_grad])


def train_vocoder_teacher(features_dir: Path, out_dir: Path, options: dict) -> Path:
    """Train the WaveNet teacher (with its conditioning networks) on the features' training
    split; returns out_dir/teacher.pt. options: params.yaml's `vocoder` section."""
    from voxflow.vocoder.models import WaveNetTeacher
    from voxflow.vocoder.training import TeacherObjective, save_model

    config = _vocoder_config(options)
    teacher = WaveNetTeacher(config)
    training = options["teacher"]
    _train_objective("vocoder-teacher", TeacherObjective(teacher, training.get("beta", 1.0)),
                     features_dir, out_dir, options, training,
                     {k: v for k, v in options.items() if k not in ("student", "features")},
                     [Path(features_dir)])
    return save_model(Path(out_dir) / "teacher.pt", teacher, config)


def distill_vocoder_student(features_dir: Path, teacher_path: Path, out_dir: Path,
                            options: dict) -> Path:
    """Distill the Parallel WaveNet student from a trained teacher, sharing its (frozen)
    conditioning networks; returns out_dir/student.pt. options: params.yaml's `vocoder`."""
    from voxflow.vocoder.models import ParallelWaveNetStudent
    from voxflow.vocoder.training import DistillationObjective, load_teacher, save_model

    teacher = load_teacher(Path(teacher_path))
    student = ParallelWaveNetStudent.from_teacher(teacher)
    training = options["student"]
    objective = DistillationObjective(
        student, teacher, kl_weight=training["kl_weight"], power_weight=training["power_weight"],
        n_fft=training["n_fft"], hop_length=training["hop_length"], samples=training["samples"])
    _train_objective("vocoder-student", objective, features_dir, out_dir, options, training,
                     {k: v for k, v in options.items() if k not in ("teacher", "features")},
                     [Path(features_dir), Path(teacher_path)])
    return save_model(Path(out_dir) / "student.pt", student, teacher.config)


def evaluate_vocoder(features_dir: Path, teacher_path: Path, student_path: Path, out_dir: Path,
                     metrics_path: Path, options: dict) -> dict:
    """Analysis-synthesis of the test split by the teacher, the student (e = 0 and encoding the
    reference) and Griffin-Lim, scored (see `voxflow.vocoder.evaluation`) into out_dir:
    the waveforms, utterances.csv, summary.csv and summary.md; metrics to `metrics_path`."""
    import torch

    from voxflow.features.logmel import GriffinLimVocoder, LogMelConfig
    from voxflow.vocoder.evaluation import markdown_summary, score_systems, synthesize_test_set
    from voxflow.vocoder.training import load_student, load_teacher

    evaluation, mel_config = options["evaluation"], LogMelConfig(**options["features"])
    teacher, student = load_teacher(Path(teacher_path)), load_student(Path(student_path))
    seed = options["seed"]
    griffin_lim = GriffinLimVocoder(mel_config)
    vocoders = {
        "student": lambda mel, wav: student.synthesize(
            mel, generator=torch.Generator().manual_seed(seed))[0],
        "student-ref": lambda mel, wav: student.synthesize(
            mel, wav, generator=torch.Generator().manual_seed(seed))[0],
        "griffin-lim": lambda mel, wav: griffin_lim(mel)[0]}
    if evaluation["teacher"]:
        vocoders["teacher"] = lambda mel, wav: teacher.generate(
            teacher.conditioning(mel)[0], torch.Generator().manual_seed(seed))[0]
    params = {"split": evaluation["split"], "utterances": evaluation["utterances"],
              "max_seconds": evaluation["max_seconds"], "seed": seed, "systems": list(vocoders)}
    out_dir = Path(out_dir)
    with stage_run("vocoder-evaluate", params,
                   inputs=[Path(features_dir), Path(teacher_path), Path(student_path)]):
        pairs = synthesize_test_set(features_dir, evaluation["split"], vocoders, out_dir / "audio",
                                    mel_config.sample_rate, mel_config.hop_length,
                                    evaluation["utterances"], evaluation["max_seconds"])
        report = score_systems(pairs, evaluation["split"])
        report.write(out_dir)
        (out_dir / "summary.md").write_text(markdown_summary(report.tables["summary"],
                                                             list(vocoders)))
        report.log_to_mlflow(out_dir)
        write_metrics(Path(metrics_path), report.metrics)
    return report.metrics


def evaluate(kind: str, out_dir: Path, inputs: dict) -> dict:
    """Evaluation `kind` (see `voxflow.evaluation`) on `inputs`, written to `out_dir`
    (metrics.json, tables as CSV, figures as PNG) and logged to MLflow; returns the metrics."""
    from voxflow.evaluation import evaluate as run_evaluation

    files = [Path(p) for value in inputs.values()
             for p in (value if isinstance(value, (list, tuple)) else [value])
             if isinstance(p, (str, Path)) and Path(p).exists()]
    with stage_run(f"eval-{kind}", {"kind": kind, **inputs}, inputs=files):
        report = run_evaluation(kind, **inputs)
        report.write(Path(out_dir))
        report.log_to_mlflow(Path(out_dir))
    return report.metrics
