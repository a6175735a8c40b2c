"""The vocoder stages of dvc.yaml (`vocoder-features`, `vocoder-teacher@<system>`,
`vocoder-student@<system>`, `vocoder-evaluate`, `vocoder-register`; `vocoder-promote` is the
shared `voxflow.stages.promote`). Each takes params.yaml's `vocoder` section, parses it once
(`voxflow.vocoder.params`), logs what it uses to its MLflow run and calls the library."""
from __future__ import annotations

from pathlib import Path

from voxflow.stage_io import read_json, write_metrics
from voxflow.threads import use_threads
from voxflow.tracking import stage_run
from voxflow.vocoder.params import VocoderParams, vocoder_params


def features(manifest: Path, out_dir: Path, metrics_path: Path, section: dict) -> dict:
    """Log-mel features (and waveforms) of a LibriTTS manifest into `out_dir` (see
    `voxflow.vocoder.data`); metrics to `metrics_path`."""
    import mlflow

    from voxflow.features.cache import read_rejects
    from voxflow.vocoder.data import extract_features

    # on the params' threads, not the machine's cores: a log-mel on one thread differs in the
    # last bit from one on several, and every model downstream with it
    config = _stage_params(section).features
    with stage_run("vocoder-features", config, inputs=[Path(manifest)]):
        index = extract_features(Path(manifest), Path(out_dir), config)
        rejected = len(read_rejects(Path(out_dir)))
        metrics = {"utterances": len(index), "rejected": rejected,
                   "frames": int(index["frames"].sum()),
                   "train_hours": float(index.loc[index["split"].str.startswith("train"),
                                                  "frames"].sum() * config.hop_length
                                        / config.sample_rate / 3600)}
        mlflow.log_metrics(metrics)
        write_metrics(Path(metrics_path), metrics)
    return metrics


def _stage_params(section: dict) -> VocoderParams:
    """The parsed section, torch's CPU threads set from it (`threads`)."""
    params = vocoder_params(section)
    use_threads(params.threads)
    return params


def _training_params(params, system: str, training) -> dict:
    return {"system": system, "preset": params.preset, "seed": params.seed,
            "train_split": params.train_split, **vars(params.system(system)),
            "training": training}


def train_teacher(system: str, features_dir: Path, out_dir: Path, section: dict,
                  plots_path: Path | None = None) -> Path:
    """Train the WaveNet teacher of `system` (a key of vocoder.systems); returns
    out_dir/teacher.pt, and writes its validation history (step and
    `voxflow.vocoder.validation.METRICS`) to the CSV `plots_path` if given."""
    import pandas as pd

    from voxflow.vocoder.training import saved_validation
    from voxflow.vocoder.training import train_teacher as train
    from voxflow.vocoder.validation import METRICS

    params = _stage_params(section)
    with stage_run(f"vocoder-teacher@{system}", _training_params(params, system, params.teacher),
                   inputs=[Path(features_dir)]):
        path = train(params, system, Path(features_dir), Path(out_dir))
    if plots_path is not None:
        Path(plots_path).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(saved_validation(path), columns=["step", *METRICS]).to_csv(plots_path,
                                                                                index=False)
    return path


def train_student(system: str, features_dir: Path, teacher_path: Path, out_dir: Path,
                  section: dict) -> Path:
    """Distill the Parallel WaveNet student of `system` from its teacher; returns
    out_dir/student.pt."""
    from voxflow.vocoder.training import train_student as train

    params = _stage_params(section)
    with stage_run(f"vocoder-student@{system}", _training_params(params, system, params.student),
                   inputs=[Path(features_dir), Path(teacher_path)]):
        return train(params, system, Path(features_dir), Path(teacher_path), Path(out_dir))


def evaluate(features_dir: Path, teacher_path: Path, student_path: Path,
             sdpw_path: Path | None, out_dir: Path, metrics_path: Path, plots_path: Path,
             section: dict) -> dict:
    """Analysis-synthesis of the held-out split by every vocoder into out_dir (see
    `voxflow.vocoder.evaluation.evaluate_vocoders`); metrics to `metrics_path`, the systems'
    summary in long form (system, metric, value, ci95) to the CSV `plots_path`."""
    from voxflow.vocoder.evaluation import evaluate_vocoders, systems_table

    params = _stage_params(section)
    inputs = [Path(p) for p in (features_dir, teacher_path, student_path, sdpw_path) if p]
    with stage_run("vocoder-evaluate", {"seed": params.seed, **vars(params.evaluation)},
                   inputs=inputs):
        report, systems = evaluate_vocoders(params, Path(features_dir), Path(teacher_path),
                                            Path(student_path), sdpw_path and Path(sdpw_path),
                                            Path(out_dir))
        report.log_to_mlflow(Path(out_dir))
        write_metrics(Path(metrics_path), report.metrics)
        Path(plots_path).parent.mkdir(parents=True, exist_ok=True)
        systems_table(report.tables["summary"], systems).to_csv(plots_path, index=False)
    return report.metrics


def register(student_path: Path, evaluation_metrics: Path, out_path: Path,
             section: dict) -> dict:
    """Log the UPW student as a pyfunc model, register it @candidate tagged with its `upw/`
    metrics, and say whether it passes the champion gate (vocoder.registry); the decision to
    `out_path` (DVC metrics) and returned."""
    from voxflow import registry
    from voxflow.vocoder.pyfunc import log_vocoder
    from voxflow.vocoder.training import load_student

    params = vocoder_params(section)
    metrics = read_json(Path(evaluation_metrics))
    with stage_run("vocoder-register", params.registry,
                   inputs=[Path(student_path), Path(evaluation_metrics)]):
        student = load_student(Path(student_path))
        uri = log_vocoder(student, student.config, params.features)
        tags = {name: value for name, value in metrics.items() if name.startswith("upw/")}
        decision = registry.register_candidate(uri, params.registry, tags)
    write_metrics(Path(out_path), decision)
    return decision
