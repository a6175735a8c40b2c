"""The spoofing-detection stages of dvc.yaml (`antispoof-features@<frontend>`,
`antispoof-ssl-features`, `antispoof-gmm@<frontend>`, `antispoof-train@<system>`,
`antispoof-evaluate`, `antispoof-register`; `antispoof-promote` is the shared
`voxflow.stages.promote`). Each takes params.yaml's `antispoof` section, parses it once
(`voxflow.antispoof.params`), logs what it uses to its MLflow run and calls the library
(`voxflow.antispoof.{features,systems,report,pyfunc}`)."""
from __future__ import annotations

import time
from pathlib import Path

from voxflow.antispoof.params import antispoof_params
from voxflow.stage_io import read_json, write_metrics
from voxflow.tracking import stage_run


def features(frontend: str, manifest: Path, out_dir: Path, metrics_path: Path,
             section: dict) -> dict:
    """antispoof-features@<frontend>: features of every utterance of the ASVspoof manifest with
    `frontend` (lfcc or cqcc, keys of antispoof.frontends; the SSL front-end's stage is
    `ssl_features`) into `out_dir` (one .npy per utterance, index.parquet, rejects.csv,
    frontend.json); metrics to `metrics_path`."""
    if frontend == "ssl":
        raise ValueError("the SSL front-end has its own stage, antispoof-ssl-features (it reads "
                         "the anon-ssl encoder)")
    params = antispoof_params(section)
    return _extract_features(f"antispoof-features@{frontend}", frontend,
                             params.frontend(frontend), manifest, out_dir, metrics_path,
                             params.workers)


def ssl_features(manifest: Path, ssl_dir: Path, out_dir: Path, metrics_path: Path,
                 section: dict) -> dict:
    """antispoof-ssl-features: as `features` with antispoof.frontends.ssl; its preset voxflow
    (the default) reads voxflow's pretrained encoder from `ssl_dir` (the anon-ssl stage's
    folder, ssl.pt), tiny and paper ignore it."""
    from voxflow.anonymization.ssl import SSL_FILE

    params = antispoof_params(section)
    settings = params.frontend("ssl")
    if settings.get("preset") == "voxflow":
        settings = {**settings, "encoder": str(Path(ssl_dir) / SSL_FILE)}
    return _extract_features("antispoof-ssl-features", "ssl", settings, manifest, out_dir,
                             metrics_path, params.workers)


def _extract_features(run_name: str, frontend: str, settings: dict, manifest: Path,
                      out_dir: Path, metrics_path: Path, workers: int) -> dict:
    import mlflow

    from voxflow.features.cache import read_rejects
    from voxflow.antispoof.features import extract_features, frontend_info

    with stage_run(run_name, {"frontend": frontend, **settings}, inputs=[Path(manifest)]):
        start = time.perf_counter()
        index = extract_features(Path(manifest), frontend, Path(out_dir), settings,
                                 workers=workers or None)
        info = frontend_info(Path(out_dir))
        metrics = {"utterances": len(index),
                   "rejected": len(read_rejects(Path(out_dir))),
                   "frames": int(index["frames"].sum()),
                   "dims": int(index["dims"].iloc[0]) if len(index) else 0,
                   "pretrained": int(bool(info["pretrained"])),
                   "seconds": time.perf_counter() - start}
        mlflow.set_tag("voxflow.frontend", info["description"])
        mlflow.log_metrics(metrics)
        write_metrics(Path(metrics_path), metrics)
    return metrics


def train_gmm(frontend: str, features_dir: Path, out_dir: Path, section: dict) -> dict:
    """The <frontend>-GMM baseline (ASVspoof 2019's LFCC-GMM, CQCC-GMM) trained on the train
    split; dev and eval score files into `out_dir/scores/`."""
    import mlflow

    from voxflow.antispoof.systems import train_gmm as train

    config = antispoof_params(section).gmm.config()
    with stage_run(f"antispoof-gmm@{frontend}", {"frontend": frontend, **vars(config)},
                   inputs=[Path(features_dir)]):
        info = train(frontend, Path(features_dir), Path(out_dir), config)
        mlflow.log_metric("train_utterances", info["train_utterances"])
    return info


def train(system: str, features_dir: Path, out_dir: Path, section: dict) -> dict:
    """Train `system` (a key of antispoof.systems: a front-end, a backbone and the objective
    siamese or original) on the train split; the model, dev and eval score files and eval
    embeddings into `out_dir`."""
    import mlflow

    from voxflow.antispoof.systems import train_neural

    params = antispoof_params(section)
    spec = params.system(system)
    logged = {"system": system, **vars(spec), "margin": params.margin(system),
              "preset": params.preset, "seed": params.seed,
              "frames": params.frames[spec.frontend], "training": params.training}
    with stage_run(f"antispoof-train@{system}", logged, inputs=[Path(features_dir)]) as run:
        info = train_neural(system, Path(features_dir), Path(out_dir), params)
        if run is not None:
            mlflow.set_tag("voxflow.frontend", info["frontend_description"])
            mlflow.log_metrics({"parameters": info["parameters"],
                                **{f"final/{k}": v for k, v in info["final_losses"].items()
                                   if v is not None}})
    return info


def evaluate(system_dirs: list[Path], asv_dir: Path, out_dir: Path, metrics_path: Path) -> dict:
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


def register(evaluation_metrics: Path, system_dirs: list[Path], out_path: Path,
             section: dict) -> dict:
    """Register the best neural system (lowest dev EER) as a pyfunc model (16 kHz waveform ->
    bona fide score) @candidate, tagged with its dev and eval EER and min t-DCF, and say whether
    it passes the champion gate (antispoof.registry); the decision to `out_path` and
    returned."""
    from voxflow import registry
    from voxflow.antispoof.pyfunc import log_countermeasure
    from voxflow.antispoof.report import select_best
    from voxflow.antispoof.systems import read_system

    settings = antispoof_params(section).registry
    metrics = read_json(Path(evaluation_metrics))
    systems = {info["name"]: (Path(d), info) for d in system_dirs
               for info in [read_system(Path(d))]}
    best = select_best({name: info for name, (_, info) in systems.items()}, metrics)
    tags = {key: metrics[f"{best}/{key}"] for key in ("dev/eer", "eval/eer", "dev/min_tdcf",
                                                     "eval/min_tdcf")}
    directory, info = systems[best]
    with stage_run("antispoof-register", {**vars(settings), "system": best},
                   inputs=[Path(evaluation_metrics), directory]):
        uri = log_countermeasure(directory / "model.pt", info)
        decision = registry.register_candidate(uri, settings, tags, {"system": best})
    write_metrics(Path(out_path), decision)
    return decision
