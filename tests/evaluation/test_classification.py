"""UAR against accuracy on hand-counted examples, the tables and figure, the CSV reader, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from voxflow.evaluation.classification import evaluate_classification, read_predictions


def test_uar_and_accuracy_by_hand_on_imbalanced_labels():
    # 8 neutral (7 right), 2 angry (1 right); predicting "neutral" pays off in accuracy only
    labels = ["neu"] * 8 + ["ang"] * 2
    predictions = ["neu"] * 7 + ["ang"] + ["neu", "ang"]
    report = evaluate_classification(labels, predictions)
    assert report.metrics["accuracy"] == pytest.approx(8 / 10)
    assert report.metrics["uar"] == pytest.approx((7 / 8 + 1 / 2) / 2)      # 0.6875
    assert report.metrics["samples"] == 10 and report.metrics["classes"] == 2
    per_class = report.tables["per_class"].set_index("class")
    assert per_class.loc["neu", "recall"] == pytest.approx(7 / 8)
    assert per_class.loc["ang", ["support", "predicted", "correct"]].tolist() == [2, 2, 1]
    # always "neutral": 80 % accuracy, chance-level UAR
    majority = evaluate_classification(labels, ["neu"] * 10)
    assert majority.metrics["accuracy"] == pytest.approx(0.8)
    assert majority.metrics["uar"] == pytest.approx(0.5)


def test_confusion_table_rows_are_true_classes():
    report = evaluate_classification(["a", "a", "b", "c", "c", "c"],
                                     ["a", "b", "b", "c", "a", "c"], classes=("c", "b", "a"))
    confusion = report.tables["confusion"]
    assert list(confusion.columns) == ["label", "c", "b", "a"]
    assert confusion.to_numpy().tolist() == [["c", 2, 0, 1], ["b", 0, 1, 0], ["a", 0, 1, 1]]
    assert report.metrics["uar"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    assert "confusion" in report.figures


def test_perfect_and_chance_predictions():
    labels = ["a", "b", "c", "d"] * 25
    perfect = evaluate_classification(labels, labels)
    assert perfect.metrics["uar"] == perfect.metrics["accuracy"] == 1.0
    rng = np.random.default_rng(0)
    chance = evaluate_classification(labels * 20, rng.choice(["a", "b", "c", "d"], 2000))
    assert chance.metrics["uar"] == pytest.approx(0.25, abs=0.03)


def test_uar_averages_only_classes_present_in_the_labels(tmp_path):
    # "sad" is a declared class that never occurs: no recall to average, but a column
    report = evaluate_classification(["hap", "hap", "neu"], ["hap", "neu", "neu"],
                                     classes=["hap", "neu", "sad"])
    assert report.metrics["uar"] == pytest.approx((1 / 2 + 1) / 2)
    assert math.isnan(report.tables["per_class"].set_index("class").loc["sad", "recall"])
    written = report.write(tmp_path)
    assert {p.name for p in written} == {"metrics.json", "per_class.csv", "confusion.csv",
                                         "confusion.png"}


def test_errors():
    with pytest.raises(ValueError, match="3 labels but 2 predictions"):
        evaluate_classification(["a", "b", "a"], ["a", "b"])
    with pytest.raises(ValueError, match="no predictions"):
        evaluate_classification([], [])
    with pytest.raises(ValueError, match=r"predictions contain class\(es\) not in classes.*: x"):
        evaluate_classification(["a", "b"], ["a", "x"], classes=["a", "b"])
    with pytest.raises(ValueError, match=r"labels contain class\(es\) not in classes.*: z"):
        evaluate_classification(["a", "z"], ["a", "b"], classes=["a", "b"])
    with pytest.raises(ValueError, match="distinct"):
        evaluate_classification(["a"], ["a"], classes=["a", "a"])


def test_read_predictions(tmp_path):
    path = tmp_path / "predictions.csv"
    path.write_text("id,label,prediction,score\nu1,ang,ang,0.9\nu2,neu,ang,0.6\nu3,NA,neu,0.1\n")
    table = read_predictions(path)
    assert list(table.columns) == ["id", "label", "prediction"]
    assert table["label"].tolist() == ["ang", "neu", "NA"]       # "NA" is a class, not missing
    report = evaluate_classification(table["label"], table["prediction"])
    assert report.metrics["accuracy"] == pytest.approx(1 / 3)
    path.write_text("label,prediction\nang,ang\n")
    assert list(read_predictions(path).columns) == ["label", "prediction"]
    path.write_text("label,guess\nang,ang\n")
    with pytest.raises(ValueError, match=f"{path}: missing column.*prediction"):
        read_predictions(path)
    path.write_text("label,prediction\nang,ang\nneu,\n")
    with pytest.raises(ValueError, match=f"{path}:3: empty prediction"):
        read_predictions(path)
    path.write_text("label,prediction\n")
    with pytest.raises(ValueError, match="no predictions"):
        read_predictions(path)
    with pytest.raises(FileNotFoundError):
        read_predictions(tmp_path / "missing.csv")
