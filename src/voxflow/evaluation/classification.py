"""Classification (e.g. emotion recognition) evaluation: unweighted average recall (UAR), the
mean of the per-class recalls, which does not reward predicting the frequent classes, next to
accuracy (weighted accuracy, WA), per-class recall and a confusion matrix.

Predictions file: a CSV with the columns `label` (true class) and `prediction`, optionally `id`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score

from voxflow.evaluation.report import Report, read_table


def read_predictions(path: Path) -> pd.DataFrame:
    """The predictions of a CSV file as a table ([id,] label, prediction), classes as text."""
    table = read_table(path, ("label", "prediction"), "predictions", optional="id")
    if table.empty:
        raise ValueError(f"{path}: no predictions")
    columns = [c for c in ("id", "label", "prediction") if c in table.columns]
    for column in columns:
        empty = table[column].str.strip() == ""
        if empty.any():
            # line numbers count the header as line 1
            raise ValueError(f"{path}:{empty.to_numpy().argmax() + 2}: empty {column}")
    if "id" in table.columns and table["id"].duplicated().any():
        raise ValueError(f"{path}: duplicate ids, e.g. "
                         f"{table['id'][table['id'].duplicated()].iloc[0]!r}")
    return table[columns]


def _classes(labels: list, predictions: list, classes) -> list:
    """The class list: given (checked against the data) or the sorted observed classes."""
    if classes is None:
        return sorted(set(labels) | set(predictions))
    classes = list(classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {classes}")
    for values, what in ((labels, "labels"), (predictions, "predictions")):
        unknown = sorted(set(values) - set(classes), key=str)
        if unknown:
            raise ValueError(f"{what} contain class(es) not in classes {classes}: "
                             f"{', '.join(map(str, unknown[:5]))}")
    return classes


def evaluate_classification(labels, predictions, classes=None) -> Report:
    """UAR and accuracy of `predictions` against true `labels` (sequences of class names).

    `classes` fixes the class set and order (default: the sorted classes seen in labels and
    predictions); UAR is the mean recall over the classes present in the labels (sklearn's
    macro recall over those). Tables "per_class" (support, predicted, correct, recall) and
    "confusion" (rows: true class, columns: predicted, counts); figure "confusion"."""
    labels, predictions = list(labels), list(predictions)
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    if not labels:
        raise ValueError("no predictions to evaluate")
    classes = _classes(labels, predictions, classes)
    present = [c for c in classes if c in set(labels)]
    counts = confusion_matrix(labels, predictions, labels=classes)
    support, correct = counts.sum(axis=1), np.diag(counts)
    per_class = pd.DataFrame({
        "class": classes, "support": support, "predicted": counts.sum(axis=0),
        "correct": correct,
        "recall": np.divide(correct, support, out=np.full(len(classes), np.nan),
                            where=support > 0)})
    confusion = pd.DataFrame(counts, columns=classes)
    confusion.insert(0, "label", classes)
    metrics = {"uar": float(recall_score(labels, predictions, labels=present, average="macro")),
               "accuracy": float(accuracy_score(labels, predictions)),
               "samples": len(labels), "classes": len(present)}
    return Report(metrics=metrics, tables={"per_class": per_class, "confusion": confusion},
                  figures={"confusion": confusion_figure(counts, classes)})


def confusion_figure(counts: np.ndarray, classes: list):
    """Confusion matrix as counts and row-normalised (recall per true class), side by side;
    returns a matplotlib Figure."""
    from matplotlib.figure import Figure

    support = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, support, out=np.full(counts.shape, np.nan), where=support > 0)
    size = 2.5 + 0.45 * len(classes)
    fig = Figure(figsize=(2 * size + 1, size), layout="constrained")
    names = [str(c) for c in classes]
    panels = ((counts, "Counts", "{:d}", max(int(counts.max()), 1)),
              (normalised, "Row-normalised (recall)", "{:.2f}", 1.0))
    for ax, (values, title, text, top) in zip(fig.subplots(1, 2), panels):
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=top)
        fig.colorbar(image, ax=ax, shrink=0.8)
        for (i, j), value in np.ndenumerate(values):
            if np.isfinite(value):          # a class absent from the labels has no recall row
                ax.text(j, i, text.format(value), ha="center", va="center", fontsize="small",
                        color="white" if value > top / 2 else "black")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("Predicted")
        ax.set_ylabel("True")
        ax.set_title(title)
    return fig
