"""`voxflow listen analyze`: the existing analysis of a served test's results, logged to the
MLflow run of the registered model version under test.

The version is named `models:/<name>/<version>` or `models:/<name>@<alias>`, and `system` says
which of the test's systems it is (the vocoder's registered UPW student is `upw`). Its run (the
version's `run_id`, e.g. the vocoder-register stage's) gets, without being reopened:
- artifacts under `listen/<test_id>/`: the results CSV (`voxflow.listen.export`) and the
  analysis: MUSHRA `voxflow.evaluation.mushra.analyze_ratings`'s report (metrics.json, the
  listeners, systems, pairs and by_* tables, the boxplot ratings.png); AB
  `voxflow.evaluation.preference.analyze_ratings`'s preferences.csv and preferences.md;
- metrics `listen/<test_id>/<name>`: MUSHRA the report's metrics (mean, CI and relative MUSHRA
  per system, listeners kept and dropped) and `p_holm/<a>_vs_<b>` per pair of systems; AB
  `<group>/<a>_vs_<b>/<a_percent|b_percent|neutral_percent|p_value>` per cell.
The version itself is tagged: MUSHRA `relative_mushra` (its mean over the hidden reference's),
`mushra_mean`, `mushra_listeners` (kept by the post-screening); AB `preference_percent` (its
share of the votes of every comparison it takes part in, neutral votes included) and
`preference_votes`.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from voxflow.evaluation import mushra, preference
from voxflow.evaluation.report import read_table
from voxflow.listen.export import write_results
from voxflow.listen.package import MUSHRA, TestPackage
from voxflow.listen.store import Store
from voxflow.tracking import tracking_uri

log = logging.getLogger(__name__)

_MODEL_URI = re.compile(r"models:/([^/@]+)(?:/(\d+)|@([^/@]+))")


def analyze(package: TestPackage, store: Store, model_uri: str, system: str, out_dir: Path,
            key: Path | None = None) -> dict[str, str]:
    """Analyse the results in `store`, write everything into `out_dir` and log it to the run
    of `model_uri`'s version (see the module docstring); returns the version's new tags. `key`:
    an AB test's hidden key (default: <test_id>_key.csv beside the package folder)."""
    import mlflow
    from mlflow.entities import Metric

    client = mlflow.MlflowClient(tracking_uri())
    version = model_version(client, model_uri)
    out_dir = Path(out_dir)
    results = write_results(package, store, out_dir)
    if package.kind == MUSHRA:
        metrics, tags, written = _analyze_mushra(package, results, system, out_dir)
    else:
        key = Path(key) if key is not None else package.root.parent / f"{package.test_id}_key.csv"
        metrics, tags, written = _analyze_ab(results, key, system, out_dir)
    prefix = f"listen/{package.test_id}"
    now = int(time.time() * 1000)
    client.log_batch(version.run_id, metrics=[Metric(f"{prefix}/{name}", float(value), now, 0)
                                              for name, value in metrics.items()])
    for path in (results, *written):
        client.log_artifact(version.run_id, str(path), prefix)
    for name, value in tags.items():
        client.set_model_version_tag(version.name, version.version, name, value)
    log.info("analysis of %s logged to run %s of models:/%s/%s (artifacts %s/, %d metrics); "
             "tags %s", package.test_id, version.run_id, version.name, version.version, prefix,
             len(metrics), ", ".join(f"{k}={v}" for k, v in tags.items()))
    return tags


def model_version(client, model_uri: str):
    """The registered ModelVersion that `model_uri` names; ValueError when it is not a
    registry URI, not registered, or has no run to log to."""
    from mlflow.exceptions import MlflowException

    match = _MODEL_URI.fullmatch(model_uri)
    if match is None:
        raise ValueError(f"model {model_uri!r}: expected models:/<name>/<version> or "
                         "models:/<name>@<alias>")
    name, number, alias = match.groups()
    try:
        version = (client.get_model_version(name, number) if number else
                   client.get_model_version_by_alias(name, alias))
    except MlflowException as err:
        raise ValueError(f"{model_uri}: not in the model registry at {tracking_uri()} "
                         f"({err.message})") from None
    if not version.run_id:
        raise ValueError(f"{model_uri}: version {version.version} has no run to log to")
    return version


def _analyze_mushra(package: TestPackage, results: Path, system: str, out_dir: Path
                    ) -> tuple[dict[str, float], dict[str, str], list[Path]]:
    """(metrics, the version's tags, the files written)."""
    systems = [s for s in next(iter(package.trials.values())).stimuli
               if s != mushra.REFERENCE and s not in mushra.ANCHORS]
    _check_system(system, systems)
    items_csv = package.root / f"{package.test_id}_items.csv"
    items = read_table(items_csv, ("trial_id",), "items") if items_csv.is_file() else None
    report = mushra.analyze_ratings(mushra.read_ratings(results), items)
    written = report.write(out_dir)
    metrics = dict(report.metrics)
    for pair in report.tables["pairs"].itertuples():
        metrics[f"p_holm/{pair.system_a}_vs_{pair.system_b}"] = pair.p_holm
    summary = report.tables["systems"].set_index("system")
    if system not in summary.index:
        raise ValueError(f"system {system}: no rating by a listener kept by the post-screening")
    return metrics, {"relative_mushra": repr(float(summary.loc[system, "rel"])),
                     "mushra_mean": repr(float(summary.loc[system, "mean"])),
                     "mushra_listeners": str(report.metrics["listeners_kept"])}, written


def _analyze_ab(results: Path, key_csv: Path, system: str, out_dir: Path
                ) -> tuple[dict[str, float], dict[str, str], list[Path]]:
    """(metrics, the version's tags, the files written)."""
    key = preference.read_key(key_csv)
    _check_system(system, list(dict.fromkeys([*key["system_a"], *key["system_b"]])))
    table = preference.analyze_ratings(preference.read_ratings(results), key)
    written = [out_dir / "preferences.csv", out_dir / "preferences.md"]
    table.to_csv(written[0], index=False)
    written[1].write_text(preference.markdown_table(table), encoding="utf-8")
    metrics = {f"{cell.group}/{cell.system_a}_vs_{cell.system_b}/{name}": getattr(cell, name)
               for cell in table.itertuples()
               for name in ("a_percent", "b_percent", "neutral_percent", "p_value")}
    cells = table[(table["system_a"] == system) | (table["system_b"] == system)]
    if cells.empty:
        raise ValueError(f"system {system}: none of its comparisons was rated yet")
    votes = cells["votes_a"].where(cells["system_a"] == system, cells["votes_b"])
    return metrics, {"preference_percent": repr(float(100 * votes.sum() / cells["n"].sum())),
                     "preference_votes": str(int(cells["n"].sum()))}, written


def _check_system(system: str, systems: list[str]) -> None:
    if system not in systems:
        raise ValueError(f"system {system!r} is not one of the test's systems "
                         f"({', '.join(systems)})")
