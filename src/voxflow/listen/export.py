"""The stored answers in the formats that the existing analyses read, unchanged.

- MUSHRA: webMUSHRA's mushra.csv (`voxflow.evaluation.mushra.read_ratings`): session_test_id,
  email (the listener id typed on the start page: the questionnaire field of the finish page
  that `export_test` writes), session_uuid (one per listener session, which the analysis takes
  as the listener), trial_id, rating_stimulus, rating_score, rating_time (milliseconds on the
  page: since the listener's previous page, or start), rating_comment (empty). The training
  page is not a result.
- AB: listener (the session uuid), listener_name, trial_id, group, choice ("1", "2" or
  "neutral": positions of trials.csv), the ratings of `voxflow.evaluation.preference`.

Pages are stored whole, so every row belongs to a complete page; listeners who stopped early
keep the pages they finished.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from voxflow.listen.package import AB, MUSHRA, TestPackage
from voxflow.listen.store import Store

log = logging.getLogger(__name__)

RESULTS_FILES = {MUSHRA: "mushra.csv", AB: "ratings.csv"}


def results_table(package: TestPackage, store: Store) -> pd.DataFrame:
    """The results of every listener so far (see the module docstring)."""
    answers = store.answers()
    if package.kind == MUSHRA:
        return pd.DataFrame({
            "session_test_id": package.test_id, "email": answers["listener_name"],
            "session_uuid": answers["listener"], "trial_id": answers["page_id"],
            "rating_stimulus": answers["name"], "rating_score": answers["value"].astype(int),
            "rating_time": (1000 * answers["seconds"]).round().astype(int),
            "rating_comment": ""})
    groups = {trial.id: trial.group for trial in package.trials.values()}
    return pd.DataFrame({"listener": answers["listener"],
                         "listener_name": answers["listener_name"],
                         "trial_id": answers["page_id"],
                         "group": answers["page_id"].map(groups), "choice": answers["value"]})


def write_results(package: TestPackage, store: Store, out_dir: Path) -> Path:
    """The results CSV in `out_dir` (mushra.csv or ratings.csv); ValueError when nobody has
    rated a page yet."""
    table = results_table(package, store)
    if table.empty:
        raise ValueError(f"{store.path}: no rated page yet")
    path = Path(out_dir) / RESULTS_FILES[package.kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    listeners = table["session_uuid" if package.kind == MUSHRA else "listener"].nunique()
    log.info("%d ratings of %d listener(s) written to %s", len(table), listeners, path)
    return path
