"""The MLflow model registry as downstream users see it: `models:/<name>@champion`.

Every training run registers its model as a new version with the alias `candidate`; the alias
`champion` moves to it only when its gate metric (params.yaml's `<system>.registry.gate_metric`)
is not worse than the current champion's. The metric is kept as a tag on each version, so the
gate needs nothing but the registry. The same `promote_if_not_worse` is the DVC stage and the
condition of the Kubeflow pipeline's `dsl.If`.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

log = logging.getLogger(__name__)

CANDIDATE, CHAMPION = "candidate", "champion"


@dataclass(frozen=True)
class RegistryParams:
    """A system's `registry` section of params.yaml."""
    model_name: str             # models:/<model_name>@candidate, @champion
    gate_metric: str            # a metric the version is tagged with, compared with the champion's
    greater_is_better: bool = True


def register(model_uri: str, name: str, metrics: dict[str, float]) -> str:
    """Register `model_uri` as a new version of `name`, tag it with `metrics`, point the
    `candidate` alias at it; returns the version."""
    import mlflow

    version = mlflow.register_model(model_uri, name).version
    client = mlflow.MlflowClient()
    for key, value in metrics.items():
        client.set_model_version_tag(name, version, key, repr(float(value)))
    client.set_registered_model_alias(name, CANDIDATE, version)
    log.info("registered %s as models:/%s/%s (@%s)", model_uri, name, version, CANDIDATE)
    return str(version)


def version_metric(name: str, version: str, metric: str) -> float:
    import mlflow

    tags = mlflow.MlflowClient().get_model_version(name, version).tags
    if metric not in tags:
        raise ValueError(f"models:/{name}/{version} has no {metric!r} tag to compare on")
    return float(tags[metric])


def is_not_worse(name: str, version: str, metric: str, higher_is_better: bool = True) -> bool:
    """Whether `version`'s `metric` is not worse than the current champion's (True when there is
    no champion yet); a NaN metric is never good enough. Reads the registry, moves nothing: the
    condition of the Kubeflow pipeline's `dsl.If`."""
    import mlflow
    from mlflow.exceptions import MlflowException

    value = version_metric(name, version, metric)
    if math.isnan(value):
        log.info("models:/%s/%s has a NaN %s: not a champion", name, version, metric)
        return False
    try:
        champion = mlflow.MlflowClient().get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return True
    best = version_metric(name, champion.version, metric)
    passes = value >= best if higher_is_better else value <= best
    log.info("models:/%s/%s %s %.4g vs the champion's (version %s) %.4g: %s", name, version,
             metric, value, champion.version, best, "not worse" if passes else "worse")
    return passes


def promote_if_not_worse(name: str, version: str, metric: str,
                         higher_is_better: bool = True) -> bool:
    """Move `champion` to `version` when `is_not_worse`; returns whether it moved."""
    import mlflow

    if not is_not_worse(name, version, metric, higher_is_better):
        log.info("models:/%s/%s stays @%s", name, version, CANDIDATE)
        return False
    mlflow.MlflowClient().set_registered_model_alias(name, CHAMPION, version)
    log.info("models:/%s/%s is now @%s", name, version, CHAMPION)
    return True


def register_candidate(model_uri: str, settings: RegistryParams, metrics: dict[str, float],
                       version_tags: dict[str, str] | None = None) -> dict:
    """Inside a stage's MLflow run: register `model_uri` @candidate tagged with `metrics` (and
    `version_tags`), log whether it passes the champion gate (metric `gate_passed`); returns the
    decision that `promote_if_not_worse` acts on (the register stage's DVC metrics file)."""
    import mlflow

    if settings.gate_metric not in metrics:
        raise ValueError(f"gate metric {settings.gate_metric!r}: one of {', '.join(metrics)}")
    version = register(model_uri, settings.model_name, metrics)
    for key, value in (version_tags or {}).items():
        mlflow.MlflowClient().set_model_version_tag(settings.model_name, version, key, value)
    passes = is_not_worse(settings.model_name, version, settings.gate_metric,
                          settings.greater_is_better)
    mlflow.log_metric("gate_passed", float(passes))
    return {"model_name": settings.model_name, "version": version,
            "gate_metric": settings.gate_metric, "greater_is_better": settings.greater_is_better,
            "value": metrics[settings.gate_metric], "gate_passed": passes,
            **(version_tags or {})}
