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


def _vocoder_system(options: dict, system: str) -> dict:
    """params.yaml's `vocoder` section for one of its `systems` (upw, sdpw): the system's
    `audio_encoder` and `speakers` in place of the shared defaults."""
    systems = options["systems"]
    if system not in systems:
        raise ValueError(f"unknown vocoder system {system!r}: params.yaml's vocoder.systems has "
                         f"{', '.join(systems)}")
    return {**options, **systems[system], "system": system}


def _vocoder_config(options: dict):
    from voxflow.vocoder.models import VocoderConfig

    presets = {"tiny": VocoderConfig.tiny, "paper": VocoderConfig.paper}
    if options["preset"] not in presets:
        raise ValueError(f"unknown vocoder preset {options['preset']!r}: expected tiny or paper")
    return presets[options["preset"]](audio_encoder=options["audio_encoder"])


def _segment_sampler(features_dir: Path, options: dict, training: dict):
    """Training segments of `training["segment_seconds"]` from the system's speakers."""
    from voxflow.features.logmel import LogMelConfig
    from voxflow.vocoder.data import SegmentSampler

    mel_config = LogMelConfig(**options["features"])
    hop = mel_config.hop_length
    frames = max(1, round(training["segment_seconds"] * mel_config.sample_rate / hop))
    return SegmentSampler(features_dir, options["train_split"], training["batch_size"], frames,
                          hop, speakers=tuple(options["speakers"]) or None)


def _train_objective(name: str, objective, sampler, out_dir: Path, options: dict,
                     training: dict, params: dict, inputs: list[Path]):
    """Train `objective` on the sampler's segments, checkpoints in out_dir/checkpoints."""
    from voxflow.training import TrainConfig, train
    from voxflow.vocoder.training import objective_loss

    config = TrainConfig(steps=training["steps"], checkpoint_every=training["checkpoint_every"],
                         log_every=training["log_every"], seed=options["seed"],
                         lr=training["lr"], grad_clip=training.get("grad_clip"))
    with stage_run(name, params, inputs=inputs):
        return train(objective, objective_loss, sampler, Path(out_dir) / "checkpoints", config,
                     parameters=[p for p in objective.parameters() if p.requires_grad])


def train_vocoder_teacher(system: str, features_dir: Path, out_dir: Path, options: dict) -> Path:
    """Train the WaveNet teacher of `system` (upw or sdpw) with its conditioning networks on
    the features' training split; returns out_dir/teacher.pt. options: params.yaml's
    `vocoder` section."""
    import torch

    from voxflow.vocoder.models import WaveNetTeacher
    from voxflow.vocoder.training import TeacherObjective, save_model

    options = _vocoder_system(options, system)
    config = _vocoder_config(options)
    torch.manual_seed(options["seed"])          # the initial weights: same params, same model
    teacher = WaveNetTeacher(config)
    training = options["teacher"]
    sampler = _segment_sampler(features_dir, options, training)
    teacher.conditioning.mel.set_statistics(*sampler.mel_statistics())
    params = {k: v for k, v in options.items() if k not in ("student", "features", "systems",
                                                           "evaluation", "registry")}
    _train_objective(f"vocoder-teacher@{system}",
                     TeacherObjective(teacher, training.get("beta", 1.0)), sampler, out_dir,
                     options, training, params, [Path(features_dir)])
    return save_model(Path(out_dir) / "teacher.pt", teacher, config)


def distill_vocoder_student(system: str, features_dir: Path, teacher_path: Path, out_dir: Path,
                            options: dict) -> Path:
    """Distill the Parallel WaveNet student of `system` from its trained teacher, sharing the
    teacher's (frozen) conditioning networks; returns out_dir/student.pt."""
    import torch

    from voxflow.features.logmel import LogMelConfig
    from voxflow.vocoder.models import ParallelWaveNetStudent
    from voxflow.vocoder.training import DistillationObjective, load_teacher, save_model

    options = _vocoder_system(options, system)
    teacher = load_teacher(Path(teacher_path))
    torch.manual_seed(options["seed"])          # the initial weights: same params, same model
    student = ParallelWaveNetStudent.from_teacher(teacher)
    training = options["student"]
    objective = DistillationObjective(
        student, teacher, kl_weight=training["kl_weight"], power_weight=training["power_weight"],
        mel_weight=training["mel_weight"], mel_config=LogMelConfig(**options["features"]),
        n_fft=training["n_fft"], hop_length=training["hop_length"], samples=training["samples"])
    params = {k: v for k, v in options.items() if k not in ("teacher", "features", "systems",
                                                           "evaluation", "registry")}
    _train_objective(f"vocoder-student@{system}", objective,
                     _segment_sampler(features_dir, options, training), out_dir, options,
                     training, params, [Path(features_dir), Path(teacher_path)])
    return save_model(Path(out_dir) / "student.pt", student, teacher.config)


def evaluate_vocoder(features_dir: Path, teacher_path: Path, student_path: Path,
                     sdpw_path: Path | None, out_dir: Path, metrics_path: Path,
                     plots_path: Path, options: dict) -> dict:
    """Analysis-synthesis of the held-out test split by the UPW teacher, the UPW student (e = 0
    and encoding the reference), the SDPW student and Griffin-Lim, scored into out_dir (see
    `voxflow.vocoder.evaluation`): the waveforms, utterances.csv, summary.csv/.md and a
    webMUSHRA test of the same stimuli; metrics to `metrics_path`, the systems' summary in long
    form (system, metric, value, ci95) to the CSV `plots_path`."""
    import torch

    from voxflow.features.logmel import GriffinLimVocoder, LogMelConfig
    from voxflow.vocoder.evaluation import (score_systems, synthesize_test_set, systems_table,
                                            write_report)
    from voxflow.vocoder.training import load_student, load_teacher

    evaluation, mel_config = options["evaluation"], LogMelConfig(**options["features"])
    teacher, student = load_teacher(Path(teacher_path)), load_student(Path(student_path))
    seed = options["seed"]

    def noise() -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    torch.manual_seed(seed)         # Griffin-Lim starts from random phases (torchaudio's rand_init)
    griffin_lim = GriffinLimVocoder(mel_config)
    vocoders = {
        "upw": lambda mel, wav: student.synthesize(mel, generator=noise()),
        "upw-ref": lambda mel, wav: student.synthesize(mel, wav, generator=noise())}
    inputs = [Path(features_dir), Path(teacher_path), Path(student_path)]
    if sdpw_path is not None:
        sdpw = load_student(Path(sdpw_path))
        vocoders["sdpw"] = lambda mel, wav: sdpw.synthesize(mel, generator=noise())
        inputs.append(Path(sdpw_path))
    vocoders["griffin-lim"] = lambda mel, wav: griffin_lim(mel)
    if evaluation["teacher"]:
        vocoders["teacher"] = lambda mel, wav: teacher.generate(teacher.conditioning(mel)[0],
                                                                noise())
    params = {"split": evaluation["split"], "utterances": evaluation["utterances"],
              "max_seconds": evaluation["max_seconds"], "seed": seed, "systems": list(vocoders)}
    out_dir = Path(out_dir)
    with stage_run("vocoder-evaluate", params, inputs=inputs):
        pairs = synthesize_test_set(features_dir, evaluation["split"], vocoders, out_dir / "audio",
                                    mel_config.sample_rate, mel_config.hop_length,
                                    evaluation["utterances"], evaluation["max_seconds"])
        report = score_systems(pairs, evaluation["split"])
        write_report(report, pairs, list(vocoders), out_dir, seed)
        report.log_to_mlflow(out_dir)
        write_metrics(Path(metrics_path), report.metrics)
        Path(plots_path).parent.mkdir(parents=True, exist_ok=True)
        systems_table(report.tables["summary"], list(vocoders)).to_csv(plots_path, index=False)
    return report.metrics


def register_vocoder(student_path: Path, evaluation_metrics: Path, out_path: Path,
                     options: dict) -> dict:
    """Log the UPW student as a pyfunc model, register it as a new version with the alias
    `candidate`, and say whether it passes the champion gate (its test PESQ not worse than the
    champion's); the decision to `out_path` (DVC metrics) and returned."""
    import mlflow

    from voxflow import registry
    from voxflow.features.logmel import LogMelConfig
    from voxflow.vocoder.pyfunc import log_vocoder
    from voxflow.vocoder.training import load_student

    settings = options["registry"]
    metrics = json.loads(Path(evaluation_metrics).read_text())
    gate = settings["gate_metric"]
    if gate not in metrics:
        raise ValueError(f"{evaluation_metrics}: no {gate!r} metric for the registry gate")
    with stage_run("vocoder-register", settings, inputs=[Path(student_path),
                                                        Path(evaluation_metrics)]):
        student = load_student(Path(student_path))
        uri = log_vocoder(student, student.config, LogMelConfig(**options["features"]))
        tags = {name: value for name, value in metrics.items() if name.startswith("upw/")}
        version = registry.register(uri, settings["model_name"], tags)
        passes = registry.is_not_worse(settings["model_name"], version, gate)
        mlflow.log_metric("gate_passed", float(passes))
    decision = {"model_name": settings["model_name"], "version": version, "gate_metric": gate,
                "value": metrics[gate], "gate_passed": passes}
    write_metrics(Path(out_path), decision)
    return decision


def promote_vocoder(candidate: Path, out_path: Path) -> dict:
    """The gate of the registry: move `champion` to the registered candidate (`candidate`:
    `register_vocoder`'s decision file) when its gate metric is not worse than the champion's;
    the outcome to `out_path` and returned."""
    from voxflow import registry

    decision = json.loads(Path(candidate).read_text())
    with stage_run("vocoder-promote", {"version": decision["version"]}, inputs=[Path(candidate)]):
        promoted = registry.promote_if_not_worse(decision["model_name"], decision["version"],
                                                 decision["gate_metric"])
    outcome = {**decision, "promoted": promoted}
    write_metrics(Path(out_path), outcome)
    return outcome


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


# ------------------------------------------------------------- spoofing detection (seed 004)
# `options` is params.yaml's whole `antispoof` section; see voxflow.antispoof.{features,
# systems,report,pyfunc} for what each step computes.

def antispoof_features(frontend: str, manifest: Path, out_dir: Path, metrics_path: Path,
                       options: dict) -> dict:
    """Features of every utterance of the ASVspoof manifest with `frontend` (lfcc, cqcc, ssl)
    into `out_dir` (one .npy per utterance, index.parquet, rejects.csv, frontend.json);
    metrics to `metrics_path`."""
    import mlflow
    import pandas as pd

    from voxflow.antispoof.features import extract_features, frontend_info

    if frontend not in options["frontends"]:
        raise ValueError(f"unknown front-end {frontend!r}: params.yaml's antispoof.frontends "
                         f"has {', '.join(options['frontends'])}")
    settings = options["frontends"][frontend] or {}
    with stage_run(f"antispoof-features@{frontend}", {"frontend": frontend, **settings},
                   inputs=[Path(manifest)]):
        start = time.perf_counter()
        index = extract_features(Path(manifest), frontend, Path(out_dir), settings,
                                 workers=options.get("workers") or None)
        info = frontend_info(Path(out_dir))
        metrics = {"utterances": len(index),
                   "rejected": len(pd.read_csv(Path(out_dir) / "rejects.csv")),
                   "frames": int(index["frames"].sum()),
                   "dims": int(index["dims"].iloc[0]) if len(index) else 0,
                   "pretrained": int(bool(info["pretrained"])),
                   "seconds": time.perf_counter() - start}
        mlflow.set_tag("voxflow.frontend", info["description"])
        mlflow.log_metrics(metrics)
        write_metrics(Path(metrics_path), metrics)
    return metrics


def antispoof_gmm(frontend: str, features_dir: Path, out_dir: Path, options: dict) -> dict:
    """The <frontend>-GMM baseline (ASVspoof 2019's LFCC-GMM, CQCC-GMM) trained on the train
    split; dev and eval score files into `out_dir/scores/`."""
    import mlflow

    from voxflow.antispoof.systems import train_gmm

    with stage_run(f"antispoof-gmm@{frontend}", {"frontend": frontend, **options["gmm"]},
                   inputs=[Path(features_dir)]):
        info = train_gmm(frontend, Path(features_dir), Path(out_dir), options["gmm"])
        mlflow.log_metric("train_utterances", info["train_utterances"])
    return info


def antispoof_train(system: str, features_dir: Path, out_dir: Path, options: dict) -> dict:
    """Train `system` (a key of params.yaml's antispoof.systems: a front-end, a backbone and
    the objective siamese or original) on the train split; the model, dev and eval score files
    and eval embeddings into `out_dir`."""
    import mlflow

    from voxflow.antispoof.systems import train_neural

    systems = options["systems"]
    if system not in systems:
        raise ValueError(f"unknown antispoof system {system!r}: params.yaml's antispoof.systems "
                         f"has {', '.join(systems)}")
    spec = systems[system]
    params = {"system": system, **spec, "preset": options["preset"], "seed": options["seed"],
              "frames": options["frames"][spec["frontend"]], "training": options["training"]}
    with stage_run(f"antispoof-siamese@{system}", params, inputs=[Path(features_dir)]):
        info = train_neural(system, spec, Path(features_dir), Path(out_dir), options)
        mlflow.set_tag("voxflow.frontend", info["frontend_description"])
        mlflow.log_metrics({"parameters": info["parameters"],
                            **{f"final/{k}": v for k, v in info["final_losses"].items()
                               if v is not None}})
    return info


def antispoof_evaluate(system_dirs: list[Path], asv_dir: Path, out_dir: Path,
                       metrics_path: Path, options: dict) -> dict:
    """EER (dev, eval), min t-DCF with the corpus's ASV scores (`asv_dir`), per-attack EER, DET
    curves, t-SNE of the embeddings and report.md of every system folder, into `out_dir`;
    metrics (`<system>/<split>/<metric>`) to `metrics_path`."""
    from voxflow.antispoof.report import evaluate_systems

    inputs = [Path(d) for d in system_dirs] + [Path(asv_dir)]
    with stage_run("antispoof-evaluate", {"systems": [Path(d).name for d in system_dirs]},
                   inputs=inputs):
        report = evaluate_systems([Path(d) for d in system_dirs], Path(asv_dir), Path(out_dir))
        report.write(Path(out_dir))
        report.log_to_mlflow(Path(out_dir))
        write_metrics(Path(metrics_path), report.metrics)
    return report.metrics


def antispoof_register(evaluation_metrics: Path, system_dirs: list[Path], out_path: Path,
                       options: dict) -> dict:
    """Register the best neural system (lowest dev EER) as a pyfunc model (16 kHz waveform ->
    bona fide score) with the alias `candidate`, tagged with its eval EER and min t-DCF, and say
    whether it passes the champion gate (params.yaml's antispoof.registry: gate_metric,
    greater_is_better); the decision to `out_path` and returned."""
    import mlflow

    from voxflow import registry
    from voxflow.antispoof.pyfunc import log_countermeasure
    from voxflow.antispoof.report import select_best
    from voxflow.antispoof.systems import read_system

    settings = options["registry"]
    metrics = json.loads(Path(evaluation_metrics).read_text())
    read = [(Path(d), read_system(d)) for d in system_dirs]
    systems = {info["name"]: (directory, info) for directory, info in read}
    best = select_best({n: info for n, (_, info) in systems.items()}, metrics)
    gate = settings["gate_metric"]                              # e.g. eval/eer
    tags = {key: metrics[f"{best}/{key}"] for key in ("dev/eer", "eval/eer", "dev/min_tdcf",
                                                     "eval/min_tdcf")}
    if gate not in tags:
        raise ValueError(f"gate metric {gate!r}: one of {', '.join(tags)}")
    higher = bool(settings.get("greater_is_better", False))
    directory, info = systems[best]
    with stage_run("antispoof-register", {**settings, "system": best},
                   inputs=[Path(evaluation_metrics), directory]):
        uri = log_countermeasure(directory / "model.pt", info)
        version = registry.register(uri, settings["model_name"], tags)
        mlflow.MlflowClient().set_model_version_tag(settings["model_name"], version, "system",
                                                    best)
        passes = registry.is_not_worse(settings["model_name"], version, gate,
                                       higher_is_better=higher)
        mlflow.log_metric("gate_passed", float(passes))
    decision = {"model_name": settings["model_name"], "version": version, "system": best,
                "gate_metric": gate, "greater_is_better": higher, "value": tags[gate],
                "gate_passed": passes}
    write_metrics(Path(out_path), decision)
    return decision


def antispoof_promote(candidate: Path, out_path: Path) -> dict:
    """The registry gate: move `champion` to `antispoof_register`'s candidate when its gate
    metric is not worse (lower EER is better) than the champion's; outcome to `out_path`."""
    from voxflow import registry

    decision = json.loads(Path(candidate).read_text())
    with stage_run("antispoof-promote", {"version": decision["version"]},
                   inputs=[Path(candidate)]):
        promoted = registry.promote_if_not_worse(
            decision["model_name"], decision["version"], decision["gate_metric"],
            higher_is_better=decision["greater_is_better"])
    outcome = {**decision, "promoted": promoted}
    write_metrics(Path(out_path), outcome)
    return outcome
