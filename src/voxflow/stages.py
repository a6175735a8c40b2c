"""Stages every system shares: `promote`, the registry gate after a system's `register`, and
`evaluate`, an evaluation kind of `voxflow.evaluation` as a tracked run (`voxflow eval --mlflow`).

A system's own stages live in `voxflow/<system>/stages.py`.
"""
from __future__ import annotations

from pathlib import Path

from voxflow.stage_io import read_json, write_metrics
from voxflow.tracking import stage_run


def promote(system: str, candidate: Path, out_path: Path) -> dict:
    """Move `champion` to the candidate of `candidate` (a register stage's decision) when its
    gate metric is not worse than the champion's; the decision with `promoted` to `out_path`
    and returned. Tracked as the run `<system>-promote`."""
    from voxflow import registry

    decision = read_json(Path(candidate))
    with stage_run(f"{system}-promote", {"version": decision["version"]},
                   inputs=[Path(candidate)]):
        promoted = registry.promote_if_not_worse(
            decision["model_name"], decision["version"], decision["gate_metric"],
            higher_is_better=decision["greater_is_better"])
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
