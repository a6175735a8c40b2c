"""Table 1's shape from systems' metrics, with the paper's values beside ours."""
from __future__ import annotations

from voxflow.anonymization.report import admixture_table, results_table, write_report


def _metrics(eer: float, uar: float, wer: float) -> dict:
    metrics = {}
    for metric, sets, value in (("eer-semi-informed", ("dev-f", "dev-m", "test-f", "test-m",
                                                      "avg"), eer),
                                ("uar", ("dev", "test", "avg"), uar),
                                ("wer", ("dev", "test", "avg"), wer)):
        for name in sets:
            metrics |= {f"{metric}/{name}": value, f"{metric}/{name}_low": value - 1,
                        f"{metric}/{name}_high": value + 1}
    return metrics


def test_results_table_puts_the_papers_value_beside_ours():
    table = results_table({"knnvc": _metrics(20.0, 50.0, 10.0)})
    row = table[(table["metric"] == "eer-semi-informed") & (table["set"] == "avg")].iloc[0]
    assert (row["value"], row["paper"]) == (20.0, 7.95)


def test_a_system_the_paper_lacks_has_no_paper_value():
    table = results_table({"mine": _metrics(20.0, 50.0, 10.0)})
    assert table["paper"].isna().all()


def test_write_report_writes_the_table_and_the_figure(tmp_path):
    write_report({"origin": _metrics(5.0, 70.0, 2.0), "knnvc": _metrics(20.0, 50.0, 10.0)},
                 tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "| knnvc | 20.0 [19.0, 21.0] (11.79)" in text
    assert (tmp_path / "privacy_utility.png").stat().st_size > 1000


def _sweep(eers: dict[str, float]) -> dict[str, dict]:
    return {name: _metrics(eer, 30.0, 50.0) for name, eer in eers.items()}


def test_the_admixture_table_draws_the_line_between_the_pure_systems():
    table = admixture_table(results_table(_sweep({"knnvc": 40.0, "cascade": 50.0,
                                                  "admixture-0.5": 45.0})),
                            {0.5: "admixture-0.5"}, "cascade", "knnvc")
    middle = table[(table["metric"] == "eer-semi-informed") & (table["p"] == 0.5)].iloc[0]
    assert (middle["line"], middle["ours_is"]) == (45.0, "across")


def test_an_admixture_whose_interval_clears_the_line_is_above_or_below_it():
    table = admixture_table(results_table(_sweep({"knnvc": 40.0, "cascade": 50.0,
                                                  "admixture-0.2": 47.0,
                                                  "admixture-0.8": 44.0})),
                            {0.2: "admixture-0.2", 0.8: "admixture-0.8"}, "cascade", "knnvc")
    eer = table[table["metric"] == "eer-semi-informed"].set_index("p")["ours_is"]
    assert (eer[0.2], eer[0.8]) == ("above", "below")     # line 42 and 48, intervals +-1


def test_write_report_adds_figure_4_with_the_admixtures(tmp_path):
    write_report(_sweep({"knnvc": 40.0, "cascade": 50.0, "admixture-0.5": 45.0}), tmp_path,
                 admixture=({0.5: "admixture-0.5"}, "cascade", "knnvc"))
    assert "| eer-semi-informed | 0.5 | admixture-0.5 | 45.0 [44.0, 46.0] | 45.0 | across |" \
        in (tmp_path / "report.md").read_text()
    assert (tmp_path / "admixture.png").stat().st_size > 1000
