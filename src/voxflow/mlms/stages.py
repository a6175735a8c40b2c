"""The MLMS stages of dvc.yaml (`mlms-features`, `mlms-linguistic`, `mlms-train@<system>`,
`mlms-duration`, `mlms-adapt`, `mlms-evaluate`, `mlms-register`). Each takes params.yaml's
`mlms` section, parses it once (`voxflow.mlms.params`), logs what it uses to its MLflow run
and calls the library."""
from __future__ import annotations

from pathlib import Path

from voxflow.mlms.params import mlms_params
from voxflow.stage_io import write_metrics
from voxflow.threads import use_threads
from voxflow.tracking import stage_run


def _validation_csv(model_paths: list[Path], plots_path: Path | None) -> None:
    """The saved dev validations of `model_paths` as a DVC plots CSV (model, step, dev_mse,
    phase where the model was adapted)."""
    import pandas as pd

    from voxflow.mlms.training import saved_validation, saved_name

    if plots_path is None:
        return
    rows = [{"model": saved_name(path), **row} for path in model_paths
            for row in saved_validation(path)]
    Path(plots_path).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(plots_path, index=False)


def features(manifest: Path, out_dir: Path, metrics_path: Path, section: dict) -> dict:
    """WORLD features of every utterance of the mlms manifest into `out_dir`
    (`voxflow.mlms.features`); counts and the analysis-synthesis bound of the dev utterances
    (`bound/<metric>_mean`, `_ci95`) to `metrics_path`, its table beside the features."""
    import mlflow

    from voxflow.features.cache import read_rejects
    from voxflow.ingest.manifest import read_manifest
    from voxflow.mlms.features import analysis_synthesis_bound, extract_features

    params = mlms_params(section)
    table, root = read_manifest(Path(manifest))
    workers = params.workers or None
    with stage_run("mlms-features", params.world, inputs=[Path(manifest)]):
        index = extract_features(table.to_pandas(), root, Path(out_dir), params.world, workers)
        bound = analysis_synthesis_bound(Path(out_dir), params.world,
                                         params.evaluation.bound_utterances, workers)
        bound.tables["analysis_synthesis"].to_csv(Path(out_dir) / "analysis_synthesis.csv",
                                                  index=False)
        metrics = {"utterances": len(index), "rejected": len(read_rejects(Path(out_dir))),
                   "frames": int(index["frames"].sum()),
                   **{f"bound/{name}": value for name, value in bound.metrics.items()}}
        mlflow.log_metrics(metrics)
        write_metrics(Path(metrics_path), metrics)
    return metrics


def linguistic(manifest: Path, world_dir: Path, out_dir: Path, metrics_path: Path,
               section: dict) -> dict:
    """Phone-level linguistic features, oracle durations, the phone inventory and the lexicon
    (`voxflow.mlms.data.extract_linguistic`) into `out_dir`; sizes to `metrics_path`."""
    import mlflow

    from voxflow.features.cache import read_rejects
    from voxflow.mlms.data import extract_linguistic, spec_summary

    params = mlms_params(section)
    with stage_run("mlms-linguistic", {"seed": params.seed},
                   inputs=[Path(manifest), Path(world_dir)]):
        index = extract_linguistic(Path(manifest), Path(world_dir), Path(out_dir),
                                   params.workers or None)
        metrics = {"utterances": len(index), "rejected": len(read_rejects(Path(out_dir))),
                   "phones": int(index["phones"].sum()), **spec_summary(Path(out_dir))}
        mlflow.log_metrics(metrics)
        write_metrics(Path(metrics_path), metrics)
    return metrics


def train(system: str, world_dir: Path, linguistic_dir: Path, out_dir: Path, section: dict,
          plots_path: Path | None = None) -> list[Path]:
    """Train `system` (a key of mlms.systems) on the training languages: one model.pt, or one
    per (language, speaker) for the baselines; their dev validations to the CSV `plots_path`."""
    from voxflow.mlms.training import train_system

    params = mlms_params(section)
    use_threads(params.threads)
    run_params = {"system": system, "preset": params.preset, "seed": params.seed,
                  "kind": params.system(system).kind, "codes": params.system(system).codes,
                  "held_out_languages": params.held_out_languages, "training": params.training}
    with stage_run(f"mlms-train@{system}", run_params,
                   inputs=[Path(world_dir), Path(linguistic_dir)]):
        paths = train_system(params, system, Path(world_dir), Path(linguistic_dir),
                             Path(out_dir))
    _validation_csv(paths, plots_path)
    return paths


def duration(linguistic_dir: Path, out_dir: Path, section: dict,
             plots_path: Path | None = None) -> Path:
    """The duration model on every language (`voxflow.mlms.training.train_duration`)."""
    from voxflow.mlms.training import train_duration

    params = mlms_params(section)
    use_threads(params.threads)
    run_params = {"preset": params.preset, "seed": params.seed,
                  "training": params.duration_training}
    with stage_run("mlms-duration", run_params, inputs=[Path(linguistic_dir)]):
        path = train_duration(params, Path(linguistic_dir), Path(out_dir))
    _validation_csv([path], plots_path)
    return path


def adapt(source_dir: Path, world_dir: Path, linguistic_dir: Path, out_dir: Path,
          section: dict, plots_path: Path | None = None) -> list[Path]:
    """Every adaptation setup (mlms.adaptation.setups) of the source system's model
    (`source_dir`/model.pt) to every held-out language (`voxflow.mlms.training.adapt`)."""
    from voxflow.mlms.training import MODEL_FILE, adapt as adapt_models

    params = mlms_params(section)
    use_threads(params.threads)
    source = Path(source_dir) / MODEL_FILE
    run_params = {"preset": params.preset, "seed": params.seed,
                  "adaptation": params.adaptation, "training": params.adaptation_training,
                  "held_out_languages": params.held_out_languages}
    with stage_run("mlms-adapt", run_params,
                   inputs=[source, Path(world_dir), Path(linguistic_dir)]):
        paths = adapt_models(params, source, Path(world_dir), Path(linguistic_dir),
                             Path(out_dir))
    _validation_csv(paths, plots_path)
    return paths


def evaluate(world_dir: Path, linguistic_dir: Path, models_dir: Path, out_dir: Path,
             metrics_path: Path, plots_path: Path, section: dict) -> dict:
    """Figures 2 and 3 of the paper, the synthesis distortions against the analysis-synthesis
    bound, the language codes and the AB package (`voxflow.mlms.evaluation`) from every model
    under `models_dir`: reports to `out_dir`, metrics to `metrics_path`, the dev MSE summary to
    the CSV `plots_path`."""
    from voxflow.mlms.evaluation import evaluate_models
    from voxflow.mlms.training import find_models

    params = mlms_params(section)
    use_threads(params.threads)
    models = find_models(Path(models_dir))
    with stage_run("mlms-evaluate", params.evaluation,
                   inputs=[Path(world_dir), Path(linguistic_dir), *models.values()]):
        report = evaluate_models(params, Path(world_dir), Path(linguistic_dir), models,
                                 Path(out_dir))
        report.write(Path(out_dir))
        report.log_to_mlflow(Path(out_dir))
        write_metrics(Path(metrics_path), report.metrics)
        Path(plots_path).parent.mkdir(parents=True, exist_ok=True)
        report.tables["dev_mse_summary"].to_csv(plots_path, index=False)
    return report.metrics


def register(models_dir: Path, linguistic_dir: Path, evaluation_metrics: Path, out_path: Path,
             section: dict) -> dict:
    """Log the voice of mlms.evaluation.synthesis_system with the duration model, the lexicon
    and WORLD as the `voxflow-mlms` pyfunc, register it @candidate tagged with its `dev/`
    metrics, and say whether it passes the champion gate (mlms.registry); the decision to
    `out_path` (DVC metrics) and returned."""
    from voxflow import registry
    from voxflow.mlms.pyfunc import log_voice
    from voxflow.mlms.training import DURATION_MODEL, find_models
    from voxflow.stage_io import read_json

    params = mlms_params(section)
    models = find_models(Path(models_dir))
    system = params.evaluation.synthesis_system
    for name in (system, DURATION_MODEL):
        if name not in models:
            raise ValueError(f"no trained model {name!r} under {models_dir} (found "
                             f"{', '.join(models) or 'none'})")
    metrics = read_json(Path(evaluation_metrics))
    with stage_run("mlms-register", params.registry,
                   inputs=[models[system], models[DURATION_MODEL], Path(linguistic_dir),
                           Path(evaluation_metrics)]):
        uri = log_voice(models[system], models[DURATION_MODEL], Path(linguistic_dir),
                        params.world, params.evaluation.postfilter)
        tags = {name: value for name, value in metrics.items() if name.startswith("dev/")}
        decision = registry.register_candidate(uri, params.registry, tags)
    write_metrics(Path(out_path), decision)
    return decision
