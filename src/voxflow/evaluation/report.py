"""An evaluation's inputs and outputs: input tables read from CSV with their columns checked;
outputs (scalar metrics, tables, figures) written to a folder and, inside a tracked stage,
logged to MLflow."""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)


def read_table(path: Path, required: tuple[str, ...], what: str, optional: str = "") -> pd.DataFrame:
    """A CSV file as a table of strings; FileNotFoundError or ValueError naming the file when it
    is missing or lacks one of the `required` columns (`optional` ones named in the message)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} file not found")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    require_columns(table, required, str(path), optional)
    return table


def require_columns(table: pd.DataFrame, required, where: str, optional: str = "") -> None:
    """ValueError naming `where` and the missing columns unless `table` has all `required`."""
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)}; expected "
                         f"{','.join(required)}{f'[,{optional}]' if optional else ''}")


@dataclass
class Report:
    """metrics -> metrics.json (and MLflow metrics), tables -> <name>.csv,
    figures (matplotlib) -> <name>.png."""

    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict = field(default_factory=dict)

    def write(self, out_dir: Path) -> list[Path]:
        """Write every part into `out_dir`; returns the files written."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [out_dir / "metrics.json"]
        # NaN is not JSON: a metric that could not be computed is written as null
        metrics = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                   for k, v in sorted(self.metrics.items())}
        written[0].write_text(json.dumps(metrics, indent=2) + "\n")
        for name, table in self.tables.items():
            table.to_csv(out_dir / f"{name}.csv", index=False)
            written.append(out_dir / f"{name}.csv")
        for name, figure in self.figures.items():
            figure.savefig(out_dir / f"{name}.png", dpi=120, bbox_inches="tight")
            written.append(out_dir / f"{name}.png")
        log.info("evaluation written to %s (%s)", out_dir, ", ".join(p.name for p in written))
        return written

    def log_to_mlflow(self, out_dir: Path, artifact_path: str = "evaluation") -> None:
        """Log the metrics (finite ones) and the written folder to the active MLflow run."""
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in self.metrics.items()
                            if isinstance(v, (int, float)) and math.isfinite(v)})
        mlflow.log_artifacts(str(out_dir), artifact_path)
