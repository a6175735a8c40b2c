"""Table 1 of paper 003 from the systems' evaluations, our numbers beside the paper's, and the
privacy/utility scatter plot.

Each system's evaluation is a flat metrics dict (`voxflow.anonymization.evaluation`): for every
`<metric>/<set>` (e.g. `eer-semi-informed/dev-f`, `uar/test`, `wer/avg`, `cer/avg`) its value
and the 95 % interval bounds `<metric>/<set>_low` and `_high`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PRIVACY_SETS = ("dev-f", "dev-m", "test-f", "test-m", "avg")
UTILITY_SETS = ("dev", "test", "avg")
# (metric, sets, header, better): the headline attacker is the semi-informed one, as in the VPC
COLUMNS = (("eer-semi-informed", PRIVACY_SETS, "Privacy: EER (%), semi-informed attacker", "↑"),
           ("eer-ignorant", PRIVACY_SETS, "EER (%), ignorant attacker", "↑"),
           ("eer-informed", PRIVACY_SETS, "EER (%), informed attacker (knows the admixture: "
            "the ASV trained on its kNN-VC system alone)", "↑"),
           ("uar", UTILITY_SETS, "Utility: UAR (%)", "↑"),
           ("wer", UTILITY_SETS, "Utility: WER (%)", "↓"),
           ("cer", UTILITY_SETS, "CER (%), beside the VPC's WER (not in table 1)", "↓"))

# paper 003, table 1 (libri-{dev,test}-{f,m}, IEMOCAP-{dev,test}, libri-{dev,test}): the rows
# of the systems voxflow builds, keyed by our row names
PAPER = {
    "origin": {"eer-semi-informed": (10.511, 0.931, 8.761, 0.418, 5.16),
               "uar": (69.0796, 71.0618, 70.07), "wer": (1.807, 1.844, 1.83)},
    "knnvc": {"eer-semi-informed": (11.789, 5.141, 9.307, 5.570, 7.95),
              "uar": (56.7330, 56.6740, 56.70), "wer": (3.275, 3.048, 3.16)},
    "knnvc-len": {"eer-semi-informed": (11.192, 5.125, 10.218, 5.793, 8.08),
                  "uar": (56.9488, 55.638, 56.29), "wer": (3.28, 3.387, 3.33)},
    "knnvc-len-noise": {"eer-semi-informed": (24.681, 18.624, 19.891, 19.115, 20.58),
                        "uar": (44.1260, 42.3846, 43.26), "wer": (11.993, 10.008, 11.00)},
    "cascade": {"eer-semi-informed": (47.584, 49.233, 47.445, 48.750, 48.25),     # whisper-VITS
                "uar": (30.1074, 30.5932, 30.35), "wer": (3.743, 3.755, 3.75)},
    "admixture-0.2": {"eer-semi-informed": (26.003, 16.155, 20.776, 24.722, 21.91),
                      "uar": (51.2840, 52.1324, 51.71), "wer": (3.300, 3.290, 3.31)},
    "admixture-0.325": {"eer-semi-informed": (34.518, 32.918, 34.532, 33.676, 33.91),
                        "uar": (49.3398, 48.7304, 49.04), "wer": (3.514, 3.336, 3.43)},
    "admixture-0.4": {"eer-semi-informed": (41.192, 40.660, 42.182, 39.225, 40.81),
                      "uar": (47.0784, 47.1046, 47.09), "wer": (3.454, 3.199, 3.33)},
}


def results_table(evaluations: dict[str, dict]) -> pd.DataFrame:
    """One row per (system, metric, set): value, ci_low, ci_high and the paper's value where
    table 1 has it."""
    rows = []
    for system, metrics in evaluations.items():
        for metric, sets, _, _ in COLUMNS:
            for index, name in enumerate(sets):
                key = f"{metric}/{name}"
                if key not in metrics:
                    continue
                paper = PAPER.get(system, {}).get(metric)
                rows.append({"system": system, "metric": metric, "set": name,
                             "value": metrics[key], "ci_low": metrics[f"{key}_low"],
                             "ci_high": metrics[f"{key}_high"],
                             "paper": paper[index] if paper else None})
    return pd.DataFrame(rows, columns=["system", "metric", "set", "value", "ci_low", "ci_high",
                                       "paper"])


def _cell(row: pd.Series) -> str:
    ours = f"{row['value']:.1f} [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"
    return ours if pd.isna(row["paper"]) else f"{ours} ({row['paper']:.2f})"


def markdown_tables(table: pd.DataFrame) -> str:
    """Table 1's shape, one markdown table per metric group: each cell ours with its 95 %
    interval, the paper's value in parentheses."""
    parts = []
    for metric, sets, header, better in COLUMNS:
        rows = table[table["metric"] == metric]
        if rows.empty:
            continue
        lines = [f"### {header} {better}", "",
                 "| system | " + " | ".join(sets) + " |",
                 "|---|" + "---|" * len(sets)]
        for system, group in rows.groupby("system", sort=False):
            cells = {r["set"]: _cell(r) for _, r in group.iterrows()}
            lines.append(f"| {system} | " + " | ".join(cells.get(s, "") for s in sets) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def scatter_figure(table: pd.DataFrame, privacy: str = "eer-semi-informed",
                   utility: str = "uar"):
    """Average privacy (x) against average utility (y) per system, 95 % intervals as error
    bars (the paper's figure 4 axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    averages = table[table["set"] == "avg"].set_index(["system", "metric"])
    figure, axes = plt.subplots(figsize=(5.5, 4.5))
    for system in dict.fromkeys(table["system"]):
        if (system, privacy) not in averages.index or (system, utility) not in averages.index:
            continue
        x, y = averages.loc[(system, privacy)], averages.loc[(system, utility)]
        axes.errorbar(x["value"], y["value"],
                      xerr=[[x["value"] - x["ci_low"]], [x["ci_high"] - x["value"]]],
                      yerr=[[y["value"] - y["ci_low"]], [y["ci_high"] - y["value"]]],
                      fmt="o", capsize=3, label=system)
    axes.set_xlabel(f"{privacy} avg (%) →  more private")
    axes.set_ylabel(f"{utility} avg (%) →  more useful")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def admixture_table(table: pd.DataFrame, sweep: dict[float, str], first: str, second: str,
                    metrics: tuple[str, ...] = ("eer-semi-informed", "uar")) -> pd.DataFrame:
    """Figure 4's test: per admixture row (`sweep`: p -> row name, the pure systems at p = 1
    `first` and p = 0 `second` added) and metric, the average with its interval and the
    straight line between the two pure systems at that p (`line`); `ours_is` says where the
    interval lies against the line: "above" or "below" it, or "across" it."""
    averages = table[table["set"] == "avg"].set_index(["system", "metric"])
    rows = []
    for metric in metrics:
        ends = {p: averages.loc[(name, metric), "value"] for p, name in ((0.0, second),
                                                                         (1.0, first))}
        for p, name in sorted({0.0: second, **sweep, 1.0: first}.items()):
            found = averages.loc[(name, metric)]
            line = (1 - p) * ends[0.0] + p * ends[1.0]
            side = ("above" if found["ci_low"] > line else
                    "below" if found["ci_high"] < line else "across")
            rows.append({"metric": metric, "p": p, "system": name, "value": found["value"],
                         "ci_low": found["ci_low"], "ci_high": found["ci_high"], "line": line,
                         "ours_is": side})
    return pd.DataFrame(rows)


def admixture_figure(sweep_table: pd.DataFrame):
    """Figure 4 against p: each metric's averages with their intervals, and the straight line
    between the two pure systems (p = 0: kNN-VC, p = 1: the cascade)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(sweep_table["metric"]))
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.8))
    for axis, metric in zip(np.atleast_1d(axes), metrics):
        rows = sweep_table[sweep_table["metric"] == metric]
        axis.errorbar(rows["p"], rows["value"], yerr=[rows["value"] - rows["ci_low"],
                                                      rows["ci_high"] - rows["value"]],
                      fmt="o", capsize=3, label="measured (95 % interval)")
        axis.plot(rows["p"], rows["line"], "--", label="line between the pure systems")
        axis.set_xlabel("p (share of the cascade)")
        axis.set_ylabel(f"{metric} avg (%)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def write_report(evaluations: dict[str, dict], out_dir: Path, notes: str = "",
                 admixture: tuple[dict[float, str], str, str] | None = None) -> pd.DataFrame:
    """report.md (table 1's shape and `notes`), results.csv and privacy_utility.png into
    `out_dir`; with `admixture` (p -> row, first, second: `admixture_table`'s arguments)
    figure 4 too (admixture.csv, admixture.png); returns the results table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = results_table(evaluations)
    table.to_csv(out_dir / "results.csv", index=False)
    figure = scatter_figure(table)
    figure.savefig(out_dir / "privacy_utility.png", dpi=120)
    sweep = []
    if admixture is not None:
        sweep_table = admixture_table(table, *admixture)
        sweep_table.to_csv(out_dir / "admixture.csv", index=False)
        admixture_figure(sweep_table).savefig(out_dir / "admixture.png", dpi=120)
        sweep = ["## Figure 4: random admixture against p", "",
                 "Averages [95 % interval] and the straight line between the two pure "
                 "systems at that p; ours is above or below the line where the whole interval "
                 "is (the line's own uncertainty, that of its two ends, is not in it).", "",
                 "| metric | p | system | ours | line | ours is |", "|---|---|---|---|---|---|"]
        sweep += [f"| {r.metric} | {r.p:g} | {r.system} | {r.value:.1f} [{r.ci_low:.1f}, "
                  f"{r.ci_high:.1f}] | {r.line:.1f} | {r.ours_is} |"
                  for r in sweep_table.itertuples()]
        sweep += ["", "![figure 4](admixture.png)", ""]
    text = ["# Voice anonymization: table 1 of paper 003 on voxflow's embedded default", "",
            "Each cell: ours [95 % interval] (the paper's value). EER by bootstrap over "
            "enrolled speakers, UAR and WER over utterances; see README "
            "\"Voice anonymization\" for the protocol.", "", markdown_tables(table),
            "![privacy against utility](privacy_utility.png)", "", *sweep]
    if notes:
        text += [notes, ""]
    (out_dir / "report.md").write_text("\n".join(text), encoding="utf-8")
    return table
