"""The AV-SE stages of dvc.yaml (`avse-mix`, `avse-crops`, `avse-features`,
`avse-train@<system>`). Each takes params.yaml's `avse` section, parses it once
(`voxflow.avse.params`), logs what it uses to its MLflow run and calls the library."""
from __future__ import annotations

from pathlib import Path

from voxflow.avse.params import avse_params
from voxflow.stage_io import write_metrics
from voxflow.threads import use_threads
from voxflow.tracking import stage_run


def _flat(summary: dict) -> dict[str, float]:
    """{"mixtures": {split: {condition: n}}, ...} -> {"mixtures/<split>/<condition>": n, ...}."""
    flat = {}
    for name, value in summary.items():
        if isinstance(value, dict):
            flat.update({f"{name}/{key}": item for key, item in _flat(value).items()})
        elif isinstance(value, (int, float)):
            flat[name] = value
    return flat


def mix(grid_manifest: Path, noise_manifest: Path, out_path: Path, metrics_path: Path,
        section: dict) -> dict:
    """The mixture table of GRID speech with noise or a competing talker (see
    `voxflow.avse.mixing`) to `out_path`, its rejects beside it; counts to `metrics_path`."""
    import mlflow

    from voxflow.avse.mixing import mix_corpus

    params = avse_params(section)
    with stage_run("avse-mix", params.mixing, inputs=[Path(grid_manifest), Path(noise_manifest)]):
        summary = mix_corpus(Path(grid_manifest), Path(noise_manifest), Path(out_path),
                             params.mixing, workers=params.workers or None)
        metrics = _flat(summary)
        mlflow.log_metrics(metrics)
        write_metrics(Path(metrics_path), metrics)
    return metrics


def crops(grid_manifest: Path, out_dir: Path, metrics_path: Path, section: dict) -> dict:
    """Mouth crops of every GRID video (see `voxflow.avse.crops`) into `out_dir`; the
    landmark detection rate and the rejects to `metrics_path`."""
    import mlflow

    from voxflow.avse.crops import crop_metrics, extract_crops

    params = avse_params(section)
    with stage_run("avse-crops", params.crops, inputs=[Path(grid_manifest)]):
        extract_crops(Path(grid_manifest), Path(out_dir), params.crops,
                      workers=params.workers or None)
        metrics = crop_metrics(Path(out_dir))
        mlflow.log_metrics(metrics)
        write_metrics(Path(metrics_path), metrics)
    return metrics


def features(mixtures: Path, out_dir: Path, metrics_path: Path, section: dict) -> dict:
    """Noisy and clean log-mels of every mixture (see `voxflow.avse.data`) into `out_dir`."""
    import mlflow

    from voxflow.avse.data import extract_features
    from voxflow.features.cache import read_rejects

    params = avse_params(section)
    with stage_run("avse-features", params.features, inputs=[Path(mixtures)]):
        index = extract_features(Path(mixtures), Path(out_dir), params.features)
        metrics = {"mixtures": len(index), "rejected": len(read_rejects(Path(out_dir))),
                   "frames": int(index["frames"].sum())}
        mlflow.log_metrics(metrics)
        write_metrics(Path(metrics_path), metrics)
    return metrics


def train(system: str, features_dir: Path, crops_dir: Path, out_dir: Path, section: dict,
          plots_path: Path | None = None) -> Path:
    """Train `system` (a key of avse.systems); returns out_dir/model.pt, and writes its dev
    validations (step, dev_mse) to the CSV `plots_path` if given."""
    import pandas as pd

    from voxflow.avse.training import saved_validation, train_system

    params = avse_params(section)
    use_threads(params.threads)
    run_params = {"system": system, "preset": params.preset, "seed": params.seed,
                  "variant": params.system(system).variant, "training": params.training}
    with stage_run(f"avse-train@{system}", run_params,
                   inputs=[Path(features_dir), Path(crops_dir)]):
        path = train_system(params, system, Path(features_dir), Path(crops_dir), Path(out_dir))
    if plots_path is not None:
        Path(plots_path).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(saved_validation(path), columns=["step", "dev_mse"]).to_csv(plots_path,
                                                                                 index=False)
    return path


def _systems_models(params, model_dirs) -> dict[str, Path]:
    """system -> model.pt of every system of avse.systems, found in `model_dirs`."""
    from voxflow.avse.training import find_models

    found = find_models(model_dirs)
    missing = [system for system in params.systems if system not in found]
    if missing:
        raise ValueError(f"no trained model of avse system(s) {', '.join(missing)} in "
                         f"{', '.join(map(str, model_dirs))}")
    return {system: found[system] for system in params.systems}


def evaluate(mixtures: Path, features_dir: Path, crops_dir: Path, model_dirs: list[Path],
             out_dir: Path, metrics_path: Path, plots_path: Path, section: dict) -> dict:
    """Every system of avse.systems (found in `model_dirs`: system folders or folders of them)
    and the unprocessed mixture on the test split (see `voxflow.avse.evaluation`): audio,
    tables and figures to `out_dir`, metrics to `metrics_path`, the summary (system, metric,
    snr_db, condition, mean, ci95, n) to the CSV `plots_path`."""
    from voxflow.avse.evaluation import evaluate_systems

    params = avse_params(section)
    use_threads(params.threads)
    models = _systems_models(params, model_dirs)
    with stage_run("avse-evaluate", params.evaluation,
                   inputs=[Path(mixtures), Path(features_dir), Path(crops_dir),
                           *models.values()]):
        report = evaluate_systems(params, Path(mixtures), Path(features_dir), Path(crops_dir),
                                  models, Path(out_dir))
        report.write(Path(out_dir))
        report.log_to_mlflow(Path(out_dir))
        write_metrics(Path(metrics_path), report.metrics)
        Path(plots_path).parent.mkdir(parents=True, exist_ok=True)
        report.tables["summary"].to_csv(plots_path, index=False)
    return report.metrics


def register(model_dirs: list[Path], evaluation_metrics: Path, out_path: Path,
             section: dict) -> dict:
    """Log the champion system (avse.evaluation.champion_system, found in `model_dirs`) as a
    pyfunc model, register it @candidate tagged with its `test/` metrics, and say whether it
    passes the champion gate (avse.registry); the decision to `out_path` (DVC metrics) and
    returned."""
    from voxflow import registry
    from voxflow.avse.pyfunc import log_enhancer
    from voxflow.avse.training import load_model
    from voxflow.stage_io import read_json

    params = avse_params(section)
    model_path = _systems_models(params, model_dirs)[params.evaluation.champion_system]
    metrics = read_json(Path(evaluation_metrics))
    with stage_run("avse-register", params.registry,
                   inputs=[model_path, Path(evaluation_metrics)]):
        uri = log_enhancer(load_model(model_path), params.features, params.evaluation.max_gain)
        tags = {name: value for name, value in metrics.items() if name.startswith("test/")}
        decision = registry.register_candidate(uri, params.registry, tags)
    write_metrics(Path(out_path), decision)
    return decision
