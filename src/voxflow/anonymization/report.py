"""Table 1 of paper 003 from the systems' evaluations, our numbers beside the paper's, and the
privacy/utility scatter plot.

Each system's evaluation is a flat metrics dict (`voxflow.anonymization.evaluation`): for every
`<metric>/<set>` (e.g. `eer-semi-informed/dev-f`, `uar/test`, `wer/avg`, `cer/avg`) its value
and the 95 % interval bounds `<metric>/<set>_low` and `_high`.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

PRIVACY_SETS = ("dev-f", "dev-m", "test-f", "test-m", "avg")
UTILITY_SETS = ("dev", "test", "avg")
# (metric, sets, header, better): the headline attacker is the semi-informed one, as in the VPC
COLUMNS = (("eer-semi-informed", PRIVACY_SETS, "Privacy: EER (%), semi-informed attacker", "↑"),
           ("eer-ignorant", PRIVACY_SETS, "EER (%), ignorant attacker", "↑"),
           ("uar", UTILITY_SETS, "Utility: UAR (%)", "↑"),
           ("wer", UTILITY_SETS, "Utility: WER (%)", "↓"),
           ("cer", UTILITY_SETS, "CER (%), beside the VPC's WER (not in table 1)", "↓"))

# paper 003, table 1 (libri-{dev,test}-{f,m}, IEMOCAP-{dev,test}, libri-{dev,test}): the rows
# of the systems part 1 builds, keyed by our system names
PAPER = {
    "origin": {"eer-semi-informed": (10.511, 0.931, 8.761, 0.418, 5.16),
               "uar": (69.0796, 71.0618, 70.07), "wer": (1.807, 1.844, 1.83)},
    "knnvc": {"eer-semi-informed": (11.789, 5.141, 9.307, 5.570, 7.95),
              "uar": (56.7330, 56.6740, 56.70), "wer": (3.275, 3.048, 3.16)},
    "knnvc-len": {"eer-semi-informed": (11.192, 5.125, 10.218, 5.793, 8.08),
                  "uar": (56.9488, 55.638, 56.29), "wer": (3.28, 3.387, 3.33)},
    "knnvc-len-noise": {"eer-semi-informed": (24.681, 18.624, 19.891, 19.115, 20.58),
                        "uar": (44.1260, 42.3846, 43.26), "wer": (11.993, 10.008, 11.00)},
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


def write_report(evaluations: dict[str, dict], out_dir: Path, notes: str = "") -> pd.DataFrame:
    """report.md (table 1's shape and `notes`), results.csv and privacy_utility.png into
    `out_dir`; returns the results table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = results_table(evaluations)
    table.to_csv(out_dir / "results.csv", index=False)
    figure = scatter_figure(table)
    figure.savefig(out_dir / "privacy_utility.png", dpi=120)
    text = ["# Voice anonymization: table 1 of paper 003 on voxflow's embedded default", "",
            "Each cell: ours [95 % interval] (the paper's value). EER by bootstrap over "
            "enrolled speakers, UAR and WER over utterances; see README "
            "\"Voice anonymization\" for the protocol.", "", markdown_tables(table),
            "![privacy against utility](privacy_utility.png)", ""]
    if notes:
        text += [notes, ""]
    (out_dir / "report.md").write_text("\n".join(text), encoding="utf-8")
    return table
