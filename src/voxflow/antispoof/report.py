"""Evaluation of the Siamese spoofing paper's systems from their score files: EER on dev and
eval, min t-DCF against the corpus's ASV scores, per-attack EER, DET curves, a t-SNE figure of
the Siamese embeddings and `report.md` with tables in the shape of the paper's tables 1-3.

Every number comes from `voxflow.evaluation.countermeasure` on the systems' ASVspoof score
files; nothing is copied from the paper except its own figures, quoted in the report as such.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from voxflow.antispoof.systems import SCORED_SPLITS, read_system
from voxflow.evaluation.bootstrap import EERDifference, paired_bootstrap_eer
from voxflow.evaluation.countermeasure import (evaluate_countermeasure, read_asv_scores,
                                               read_cm_scores)
from voxflow.evaluation.eer import det_curve, det_figure
from voxflow.evaluation.report import Report

ASV_FILE = "ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt"
# the paired bootstrap of the Siamese-against-GMM comparison: resamples, interval, seed
BOOTSTRAP = {"resamples": 1000, "level": 0.95, "seed": 0}
# the paper's figures (EER %), quoted beside ours in the report
PAPER_TABLE1 = {"lfcc-gmm": (11.9, 13.54), "cqcc-gmm": (9.87, 11.04),
                "lcnn": (0.009, 3.02), "resnet18": (0.004, 1.62), "senet18": (0.003, 1.31),
                "senet34": (0.001, 1.21), "senet50": (0.002, 1.59)}
PAPER_SIAMESE = {"lcnn": (0.006, 2.54), "resnet18": (0.003, 1.33), "senet18": (0.002, 1.25),
                 "senet34": (0.002, 1.16), "senet50": (0.004, 1.15)}


def asv_scores(asv_dir: Path, split: str) -> pd.DataFrame:
    path = Path(asv_dir) / ASV_FILE.format(split=split)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the ASV scores of the corpus (the folder "
                                "ASVspoof2019_LA_asv_scores of the LA release) are needed for "
                                "the t-DCF")
    return read_asv_scores(path)


def _pct(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{100 * value:.2f}"


def select_best(systems: dict[str, dict], metrics: dict, kinds=("siamese", "original")) -> str:
    """The system of `kinds` with the lowest dev EER (dev min t-DCF, then the name, to break
    ties): chosen on dev, never on eval."""
    candidates = [n for n, info in systems.items() if info["kind"] in kinds]
    if not candidates:
        raise ValueError(f"no system of kind {', '.join(kinds)} to choose from")
    return min(candidates, key=lambda n: (metrics[f"{n}/dev/eer"],
                                          metrics.get(f"{n}/dev/min_tdcf", math.inf), n))


def evaluate_systems(system_dirs: list[Path], asv_dir: Path, out_dir: Path) -> Report:
    """Score every system folder; the report's metrics are flat `<system>/<split>/<metric>`
    (eer, min_tdcf, min_tdcf_legacy, eer_<attack>), its tables `systems` and `per_attack`, its
    figures `det_<split>` and `tsne`; `out_dir/report.md` and `systems.json` are written too."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    systems = {}
    for d in system_dirs:
        info = read_system(d)
        if info["name"] in systems:
            raise ValueError(f"two system folders named {info['name']} ({d})")
        systems[info["name"]] = {**info, "dir": str(d)}
    if not systems:
        raise ValueError("no system to evaluate")
    asv = {split: asv_scores(asv_dir, split) for split in SCORED_SPLITS}
    metrics, rows, attack_rows, curves = {}, [], [], {s: {} for s in SCORED_SPLITS}
    eval_scores = {}
    for name, info in systems.items():
        row = {"system": name, "kind": info["kind"], "frontend": info["frontend"],
               "backbone": info.get("backbone") or "gmm"}
        for split in SCORED_SPLITS:
            cm = read_cm_scores(Path(info["dir"]) / "scores" / f"{split}.txt")
            result = evaluate_countermeasure(cm, asv[split])
            for key in ("eer", "min_tdcf", "min_tdcf_legacy"):
                metrics[f"{name}/{split}/{key}"] = float(result.metrics[key])
                row[f"{split}_{key}"] = float(result.metrics[key])
            for _, attack in result.tables["per_attack"].iterrows():
                metrics[f"{name}/{split}/eer_{attack['attack']}"] = float(attack["eer"])
                attack_rows.append({"system": name, "split": split, "attack": attack["attack"],
                                    "spoof_trials": int(attack["spoof_trials"]),
                                    "eer": float(attack["eer"])})
            bona = cm.loc[cm["key"] == "bonafide", "score"].to_numpy()
            spoof = cm.loc[cm["key"] == "spoof", "score"].to_numpy()
            metrics[f"{name}/{split}/bonafide_trials"] = float(len(bona))
            metrics[f"{name}/{split}/spoof_trials"] = float(len(spoof))
            if split == "eval":
                eval_scores[name] = cm
            miss, fa, _ = det_curve(bona, spoof)
            curves[split][f"{name} ({_pct(result.metrics['eer'])}%)"] = (miss, fa)
            result.figures["det"].clear()
        rows.append(row)
    table = pd.DataFrame(rows)
    per_attack = pd.DataFrame(attack_rows, columns=["system", "split", "attack", "spoof_trials",
                                                    "eer"])
    figures = {f"det_{split}": det_figure(curves[split], f"DET, {split}")
               for split in SCORED_SPLITS}
    tsne = tsne_figure(systems)
    if tsne is not None:
        figures["tsne"] = tsne
    report = Report(metrics=metrics, tables={"systems": table, "per_attack": per_attack},
                    figures=figures)
    (out_dir / "systems.json").write_text(json.dumps(systems, indent=2, sort_keys=True) + "\n")
    (out_dir / "report.md").write_text(markdown_report(systems, table, per_attack, metrics,
                                                          eval_scores))
    return report


def tsne_figure(systems: dict[str, dict]):
    """t-SNE (scikit-learn) of each neural system's eval embeddings, bona fide against spoof;
    None when no system saved embeddings."""
    from matplotlib.figure import Figure
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    with_embeddings = [(n, Path(i["dir"]) / "embeddings.npz") for n, i in systems.items()
                       if (Path(i["dir"]) / "embeddings.npz").is_file()]
    if not with_embeddings:
        return None
    cols = min(3, len(with_embeddings))
    rows = math.ceil(len(with_embeddings) / cols)
    fig = Figure(figsize=(4 * cols, 4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, (name, path) in zip(axes, with_embeddings):
        data = np.load(path)
        x = data["embedding"].astype(np.float64)
        perplexity = float(min(30, max(2, (len(x) - 1) // 3)))
        with threadpool_limits(limits=1):      # OpenMP on a shared CPU: one thread is faster
            points = TSNE(2, perplexity=perplexity, init="pca",
                          random_state=0).fit_transform(x)
        for key, colour in (("bonafide", "tab:green"), ("spoof", "tab:red")):
            mask = data["key"] == key
            ax.scatter(points[mask, 0], points[mask, 1], s=6, c=colour, label=key)
        random_ssl = systems[name]["frontend"] == "ssl" and \
            not systems[name]["pretrained_frontend"]
        ax.set_title(f"{name} (eval{', random-init SSL' if random_ssl else ''})",
                     fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize="x-small")
    for ax in axes[len(with_embeddings):]:
        ax.axis("off")
    return fig


def ssl_frontend_note(systems: dict[str, dict]) -> list[str]:
    """The report's warning lines on what the SSL front-end is, when it is not wav2vec."""
    ssl = [i for i in systems.values() if i["frontend"] == "ssl"]
    if any(not i["pretrained_frontend"] for i in ssl):
        return ["", "**The SSL front-end here is a RANDOM INITIALISATION of the wav2vec 2.0 "
                "architecture, not a pretrained model: its rows are not wav2vec results** (no "
                "weights are cached on this machine and none are downloaded)."]
    if any("voxflow's SSL encoder" in i["frontend_description"] for i in ssl):
        return ["", "**The SSL front-end here is voxflow's own small encoder, pretrained "
                "HuBERT-style on the synthetic LibriTTS (the anon-ssl stage): its rows are not "
                "wav2vec results.**"]
    return []


def markdown_report(systems: dict[str, dict], table: pd.DataFrame, per_attack: pd.DataFrame,
                    metrics: dict, eval_scores: dict[str, pd.DataFrame]) -> str:
    """report.md: the front-ends in words, tables 1-3 in the paper's shape with our numbers, the
    per-attack EERs, and whether the Siamese systems beat the GMM baselines on eval
    (`eval_scores`: each system's eval CM scores, as `read_cm_scores` gives them)."""
    lines = ["# Siamese spoofing detection: evaluation", "",
             "EER and min t-DCF in %/absolute from this run's score files on the corpus in "
             "`data/corpora/LA` (dev: attacks A01-A06 as in training; eval: A07-A19, mostly "
             "unseen). min t-DCF: the revised (ASVspoof 2021) formulation against the corpus's "
             "ASV scores. The paper's figures are quoted for shape only: they are on the real "
             "ASVspoof 2019 LA with pretrained wav2vec features.", "", "## Front-ends", ""]
    for frontend in sorted({i["frontend"] for i in systems.values()}):
        info = next(i for i in systems.values() if i["frontend"] == frontend)
        lines.append(f"- **{frontend}**: {info['frontend_description']}")
    lines += ssl_frontend_note(systems)
    lines += ["", "## Table 1: systems (EER %)", "",
              "| system | kind | Dev EER | Eval EER | Eval min t-DCF | paper Dev | paper Eval |",
              "|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        info = systems[r["system"]]
        # the paper has the GMM baselines and wav2vec (ssl) networks only
        paper = (PAPER_TABLE1.get(r["system"]) if info["kind"] == "gmm" else
                 None if info["frontend"] != "ssl" else
                 PAPER_TABLE1.get(info.get("backbone")) if info["kind"] == "original" else
                 PAPER_SIAMESE.get(info.get("backbone")))
        paper_cells = ("-", "-") if paper is None else (f"{paper[0]}", f"{paper[1]}")
        label = " (random-init SSL)" if info["frontend"] == "ssl" and \
            not info["pretrained_frontend"] else ""
        lines.append(f"| {r['system']}{label} | {info['kind']} | {_pct(r['dev_eer'])} | "
                     f"{_pct(r['eval_eer'])} | {r['eval_min_tdcf']:.4f} | {paper_cells[0]} | "
                     f"{paper_cells[1]} |")
    lines += ["", "Paper columns: table 1 (GMM baselines; wav2vec-<backbone> is the original "
              "network) and table 2 (Siamese), EER %.", "",
              "## Table 2: original (cross-entropy) against Siamese (EER %)", "",
              "| front-end | backbone | Original Dev | Original Eval | Siamese Dev | "
              "Siamese Eval |", "|---|---|---|---|---|---|"]
    pairs = {}
    for name, info in systems.items():
        if info["kind"] in ("siamese", "original") and (info["kind"] == "original" or
                                                        info.get("margin") == 2.0):
            pairs.setdefault((info["frontend"], info["backbone"]), {})[info["kind"]] = name
    for (frontend, backbone), kinds in sorted(pairs.items()):
        cells = []
        for kind in ("original", "siamese"):
            n = kinds.get(kind)
            cells += ["-", "-"] if n is None else [_pct(metrics[f"{n}/dev/eer"]),
                                                   _pct(metrics[f"{n}/eval/eer"])]
        lines.append(f"| {frontend} | {backbone} | {' | '.join(cells)} |")
    lines += ["", "## Table 3: margins of the contrastive loss (EER %)", "",
              "| system | margin | Dev | Eval |", "|---|---|---|---|"]
    siamese = sorted(((i["frontend"], i["backbone"], i["margin"], n) for n, i in systems.items()
                      if i["kind"] == "siamese"), key=lambda t: (t[0], t[1], -t[2]))
    for frontend, backbone, margin, n in siamese:
        lines.append(f"| {n} | {margin:g} | {_pct(metrics[f'{n}/dev/eer'])} | "
                     f"{_pct(metrics[f'{n}/eval/eer'])} |")
    if len({m for _, _, m, _ in siamese}) < 2:
        lines.append("\nOnly one margin was trained (params.yaml's `antispoof.systems`): add "
                     "systems with another `margin` to fill this table.")
    lines += ["", "## Per-attack EER on eval (%)", ""]
    eval_attacks = per_attack[per_attack["split"] == "eval"]
    if not eval_attacks.empty:
        pivot = eval_attacks.pivot(index="attack", columns="system", values="eer")
        names = list(pivot.columns)
        lines += ["| attack | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for attack, values in pivot.iterrows():
            lines.append(f"| {attack} | " + " | ".join(_pct(values[n]) for n in names) + " |")
    lines += ["", "## Siamese against the GMM baselines", ""]
    lines += comparison(systems, metrics, per_attack, eval_scores)
    lines += ["", "Figures: `det_dev.png`, `det_eval.png` (DET curves), `tsne.png` (t-SNE of the "
              "neural systems' eval embeddings); tables: `systems.csv`, `per_attack.csv`.", ""]
    return "\n".join(lines)


def paired_difference(a: pd.DataFrame, b: pd.DataFrame) -> EERDifference:
    """EER(a) - EER(b) with its paired bootstrap interval (`BOOTSTRAP`) over the trials both
    CM score tables (`read_cm_scores`) hold; they must hold the same utterances."""
    if set(a["utterance"]) != set(b["utterance"]) or len(a) != len(b):
        raise ValueError(f"paired comparison: the two score files hold different utterances "
                         f"({len(a)} and {len(b)})")
    a, b = (t.sort_values("utterance", kind="stable").reset_index(drop=True) for t in (a, b))
    bona = a["key"].to_numpy() == "bonafide"
    return paired_bootstrap_eer(a["score"][bona], a["score"][~bona], b["score"][bona],
                                b["score"][~bona], **BOOTSTRAP)


def comparison(systems: dict[str, dict], metrics: dict, per_attack: pd.DataFrame,
               eval_scores: dict[str, pd.DataFrame]) -> list[str]:
    """Whether the best Siamese system beats the best GMM baseline on eval (a paired bootstrap
    interval of their EER difference that excludes 0) and, when not, what the numbers say about
    why. Both are chosen on dev (`select_best`): picking the best of several systems on eval
    would favour whichever is luckiest on a small eval set."""
    siamese = [n for n, i in systems.items() if i["kind"] == "siamese"]
    gmm = [n for n, i in systems.items() if i["kind"] == "gmm"]
    if not siamese or not gmm:
        return ["Not compared: the run has no Siamese system or no GMM baseline."]
    best_s = select_best(systems, metrics, kinds=("siamese",))
    best_g = select_best(systems, metrics, kinds=("gmm",))
    s_dev, s_eval = metrics[f"{best_s}/dev/eer"], metrics[f"{best_s}/eval/eer"]
    g_dev, g_eval = metrics[f"{best_g}/dev/eer"], metrics[f"{best_g}/eval/eer"]
    info = systems[best_s]
    out = [f"Best Siamese system on dev: **{best_s}** (dev EER {_pct(s_dev)}%, eval "
           f"{_pct(s_eval)}%); best GMM baseline on dev: **{best_g}** (dev {_pct(g_dev)}%, "
           f"eval {_pct(g_eval)}%)."]
    diff = paired_difference(eval_scores[best_s], eval_scores[best_g])
    out.append(f"Eval EER of {best_s} minus {best_g}: {100 * diff.difference:+.2f} points, "
               f"{100 * diff.level:g} % paired bootstrap interval [{100 * diff.low:+.2f}, "
               f"{100 * diff.high:+.2f}] ({diff.resamples} resamples of the eval trials, bona "
               "fide and spoof drawn separately with replacement, the same trials for both "
               "systems).")
    if not diff.significant:
        out.append("**Neither beats the other on eval**: the interval contains 0, so this eval "
                   "set cannot tell the two systems apart.")
    elif diff.difference < 0:
        out.append(f"The Siamese system beats the GMM baseline on eval, as in the paper "
                   f"(relative EER reduction {100 * (1 - s_eval / g_eval):.0f}%).")
        return out
    else:
        out.append("**The Siamese systems do NOT beat the GMM baselines on eval in this run.**")
    out.append("Why, from the numbers of this run:")
    gap_s, gap_g = s_eval - s_dev, g_eval - g_dev
    out.append(f"- Generalisation to unseen attacks: from dev (seen attacks) to eval the "
               f"Siamese EER moves by {100 * gap_s:+.2f} points, the GMM's by "
               f"{100 * gap_g:+.2f}.")
    ev = per_attack[(per_attack["split"] == "eval")].pivot(index="attack", columns="system",
                                                           values="eer")
    if best_s in ev and best_g in ev:
        worse = (ev[best_s] - ev[best_g]).sort_values(ascending=False)
        top = ", ".join(f"{a} ({_pct(ev.loc[a, best_s])}% vs {_pct(ev.loc[a, best_g])}%)"
                        for a in worse.index[:3] if worse[a] > 0)
        if top:
            out.append(f"- The attacks where {best_s} loses most to {best_g}: {top}.")
    out.append(f"- Training data: {info['train_utterances']} training utterances, "
               f"{info['batches_per_epoch']} balanced minibatch(es) of {info['batch_size']} per "
               f"epoch, {info['epochs']} epochs, i.e. {info['epochs'] * info['batches_per_epoch']}"
               f" optimizer steps for the embedding (the paper: 25,380 utterances, about 400 "
               f"batches per epoch, 50 epochs, 20,000 steps); the `{info['preset']}` backbone.")
    if info["frontend"] == "ssl" and not info["pretrained_frontend"]:
        out.append("- The SSL front-end is randomly initialised: the paper's gain comes from "
                   "pretrained wav2vec features that generalise to unseen attacks; random "
                   "projections of the waveform carry none of that.")
    losses = info.get("final_losses") or {}
    train_ce = losses.get("cross_entropy")
    if s_dev > g_dev and train_ce is not None:
        fit = ("it fits the training utterances (training cross-entropy "
               f"{train_ce:.3f}) but not held-out ones of the same attacks: over-fitting"
               if train_ce < 0.35 else
               f"its training cross-entropy is still {train_ce:.3f}: under-training")
        out.append(f"- Even on dev (the training attacks) {best_s} is behind {best_g}: {fit}, "
                   "not only a failure on unseen attacks.")
    if losses.get("contrastive") is not None:
        out.append(f"- {best_s}'s last logged training losses: contrastive "
                   f"{losses['contrastive']:.3f} (margin {info['margin']:g}), classifier "
                   f"cross-entropy {losses['cross_entropy']:.3f} (ln 2 = 0.693 is chance).")
    out.append("- Likely causes, not tested here: a GMM of a few components needs little data, "
               "a network trained from scratch on a few hundred utterances does not generalise "
               "to the unseen attacks; the comparison needs the real corpus (or the `paper` "
               "preset on a larger corpus) and pretrained SSL weights before it says anything "
               "about the paper's claim. The systems were not tuned to change this outcome.")
    return out
