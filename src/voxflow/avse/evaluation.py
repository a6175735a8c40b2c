"""The test-set evaluation of every AV-SE system, in the shape of the MHCA-AVCRN paper's tables
1 and 2: PESQ (wide-band, P.862.2) and STOI (in %, as the paper prints it) of each system and of
the unprocessed mixture against the clean target, on unseen talkers and unseen noises, per test
SNR and interference (natural noise, a competing talker).

Every system's log-mel goes back to a waveform with `voxflow.avse.waveform.MelGainResynthesis`
(a mel gain on the noisy STFT, the noisy phase). Each cell is a mean over the test mixtures with
its 95 % Student-t interval; a system is compared with another by the paired difference over
the same mixtures (`differences`), with its interval, never by the means alone.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from voxflow.avse.data import EnhancementSet
from voxflow.avse.mixing import mix, read_mixture_table
from voxflow.avse.params import AVSEParams
from voxflow.avse.training import load_model
from voxflow.avse.waveform import MelGainResynthesis
from voxflow.evaluation.quality import evaluate_pairs
from voxflow.evaluation.report import Report
from voxflow.evaluation.stats import mean_ci

log = logging.getLogger(__name__)

UNPROCESSED = "unprocessed"
METRICS = ("pesq_wb", "stoi")
# the paper's tables 1-2 (STOI %, PESQ), by (metric, snr_db, condition), for the rows voxflow
# has; "w/o 2-stage MHCA" as in table 1 (table 2 prints 2.94 for its 0 dB natural PESQ)
PAPER = {
    UNPROCESSED: (57.82, 51.44, 64.74, 62.59, 1.59, 1.03, 1.66, 1.24),
    "audio_only": (72.26, 78.67, 80.82, 83.35, 2.01, 2.19, 2.47, 2.58),
    "mhca": (82.22, 86.89, 88.37, 90.10, 2.64, 2.72, 2.95, 3.08),
    "no_mhca": (80.47, 82.71, 85.02, 88.94, 2.39, 2.47, 2.83, 2.96),
    "no_balancing": (80.98, 84.84, 86.23, 89.02, 2.48, 2.58, 2.87, 2.96),
    "no_filtering": (81.56, 85.22, 87.07, 89.78, 2.52, 2.60, 2.91, 3.01),
}
PAPER_COLUMNS = [(metric, snr, condition) for metric in ("stoi", "pesq_wb")
                 for snr in (-5.0, 0.0) for condition in ("speech", "noise")]


def enhance_test_set(params: AVSEParams, mixtures: Path, features_dir: Path, crops_dir: Path,
                     models: dict[str, Path], out_dir: Path) -> pd.DataFrame:
    """Write every test mixture (`unprocessed`), its clean target (`clean`) and its enhancement
    by each of `models` (system -> model.pt) as 16-bit wavs under out_dir/audio/<row>/; returns
    the pairs to score (id, system, mixture_id, condition, snr_db, reference, degraded)."""
    table, roots = read_mixture_table(Path(mixtures))
    rows = table.set_index("mixture_id")
    test = EnhancementSet(features_dir, crops_dir, "test")
    resynthesis = MelGainResynthesis(params.features, params.evaluation.max_gain)
    hop = params.features.hop_length
    enhancers = {system: load_model(path) for system, path in models.items()}
    pairs = []
    for k, item in enumerate(test.index.itertuples()):
        batch = test.batch([k])
        mixture = mix(rows.loc[item.utt_id].to_dict(), roots)
        samples = batch["noisy"].shape[1] * hop
        noisy = torch.from_numpy(mixture.mixture[:samples])[None]
        name = item.utt_id.replace("/", "_")
        clean = _write(out_dir / "audio" / "clean" / f"{name}.wav", mixture.target[:samples],
                       params.features.sample_rate)
        outputs = {UNPROCESSED: noisy[0].numpy()}
        with torch.no_grad():
            for system, model in enhancers.items():
                video = batch["video"] if model.uses_video else None
                enhanced = model.enhance(batch["noisy"], video)
                outputs[system] = resynthesis(noisy, enhanced)[0].numpy()
        for system, audio in outputs.items():
            degraded = _write(out_dir / "audio" / system / f"{name}.wav", audio,
                              params.features.sample_rate)
            pairs.append({"id": f"{system}:{item.utt_id}", "system": system,
                          "mixture_id": item.utt_id, "condition": item.condition,
                          "snr_db": item.snr_db, "reference": str(clean),
                          "degraded": str(degraded)})
    log.info("%d test mixtures enhanced by %s into %s", len(test), ", ".join(models),
             out_dir / "audio")
    return pd.DataFrame(pairs)


def _write(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(audio, -1, 1), sample_rate, subtype="PCM_16")
    return path


def score(pairs: pd.DataFrame, workers: int | None = None) -> pd.DataFrame:
    """`pairs` with their PESQ (wide-band) and STOI (%) columns."""
    report = evaluate_pairs(pairs[["id", "reference", "degraded"]], metrics=METRICS,
                            workers=workers)
    scores = report.tables["pesq_stoi"].set_index("id")[[*METRICS, "error"]]
    scored = pairs.join(scores, on="id")
    scored["stoi"] *= 100
    return scored


def summary(scored: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95 % interval of each metric per system, SNR and interference: rows
    (system, metric, snr_db, condition, mean, ci95, n)."""
    rows = []
    for (system, snr, condition), group in scored.groupby(["system", "snr_db", "condition"]):
        for metric in METRICS:
            mean, ci95 = mean_ci(group[metric])
            rows.append({"system": system, "metric": metric, "snr_db": snr,
                         "condition": condition, "mean": mean, "ci95": ci95,
                         "n": int(group[metric].notna().sum())})
    return pd.DataFrame(rows)


def differences(scored: pd.DataFrame, system: str, baseline: str) -> pd.DataFrame:
    """`system` minus `baseline`, paired over the same mixtures, per metric, SNR and
    interference: rows (system, baseline, metric, snr_db, condition, difference, ci95,
    significant) where `significant` is the interval excluding 0."""
    wide = scored.pivot_table(index=["mixture_id", "snr_db", "condition"], columns="system",
                              values=list(METRICS))
    rows = []
    for (snr, condition), group in wide.groupby(level=["snr_db", "condition"]):
        for metric in METRICS:
            mean, ci95 = mean_ci(group[(metric, system)] - group[(metric, baseline)])
            rows.append({"system": system, "baseline": baseline, "metric": metric,
                         "snr_db": snr, "condition": condition, "difference": mean,
                         "ci95": ci95, "significant": bool(abs(mean) > ci95)})
    return pd.DataFrame(rows)


def paper_table(cells: pd.DataFrame, variants: dict[str, str]) -> pd.DataFrame:
    """Tables 1-2's layout: one row per system (voxflow's, then the paper's where it has the
    row), columns `<metric> <snr> dB <condition>`; `variants` maps system -> variant."""
    means = cells.set_index(["system", "metric", "snr_db", "condition"])["mean"]
    rows = []
    for system in [UNPROCESSED, *variants]:
        variant = variants.get(system, UNPROCESSED)
        ours = {f"{m} {s:g} dB {c}": means.get((system, m, s, c), np.nan)
                for m, s, c in PAPER_COLUMNS}
        rows.append({"system": system, "source": "voxflow", **ours})
        if variant in PAPER:
            rows.append({"system": system, "source": "paper 001",
                         **dict(zip(ours, PAPER[variant]))})
    return pd.DataFrame(rows)


def spectrogram_figure(pairs: pd.DataFrame, mixture_ids: list[str], systems: list[str]):
    """The paper's figure 3: log spectrograms of the clean target, the mixture and each
    system's enhancement, one column per mixture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ["clean", UNPROCESSED, *systems]
    figure, axes = plt.subplots(len(rows), len(mixture_ids), squeeze=False,
                                figsize=(4 * len(mixture_ids), 1.6 * len(rows)))
    for column, mixture_id in enumerate(mixture_ids):
        chosen = pairs[pairs["mixture_id"] == mixture_id].set_index("system")
        files = {"clean": chosen["reference"].iloc[0],
                 **{row: chosen.loc[row, "degraded"] for row in rows[1:]}}
        for r, row in enumerate(rows):
            audio, rate = sf.read(files[row], dtype="float32")
            axis = axes[r][column]
            axis.specgram(audio, NFFT=512, Fs=rate, noverlap=384, cmap="magma", vmin=-120)
            axis.set_title(f"{row}: {mixture_id}" if r == 0 else row, fontsize=7)
            axis.set_xticks([])
            axis.set_yticks([])
    figure.tight_layout()
    return figure


def evaluate_systems(params: AVSEParams, mixtures: Path, features_dir: Path, crops_dir: Path,
                     models: dict[str, Path], out_dir: Path) -> Report:
    """Enhance, score and tabulate the test set (see the module docstring). Report metrics:
    `test/<metric>` of the champion system over every test mixture (the registry gate's),
    `<system>/<metric>/<snr>dB/<condition>` means, and the champion's paired differences with
    the audio-only baseline; tables `pairs` (every score), `summary`, `paper_tables`,
    `differences`; figure `spectrograms`."""
    out_dir = Path(out_dir)
    pairs = enhance_test_set(params, mixtures, features_dir, crops_dir, models, out_dir)
    scored = score(pairs, workers=params.workers or None)
    cells = summary(scored)
    variants = {system: params.system(system).variant for system in models}
    champion = params.evaluation.champion_system
    baselines = [s for s, v in variants.items() if v == "audio_only" and s != champion]
    diffs = pd.concat([differences(scored, champion, b) for b in [UNPROCESSED, *baselines]],
                      ignore_index=True)
    metrics = {f"test/{m}": float(scored.loc[scored["system"] == champion, m].mean())
               for m in METRICS}
    for cell in cells.itertuples():
        metrics[f"{cell.system}/{cell.metric}/{cell.snr_db:g}dB/{cell.condition}"] = cell.mean
    for d in diffs.itertuples():
        prefix = f"{d.system}-minus-{d.baseline}/{d.metric}/{d.snr_db:g}dB/{d.condition}"
        metrics.update({prefix: d.difference, f"{prefix}/ci95": d.ci95})
    hardest = sorted(scored.loc[scored["snr_db"] == scored["snr_db"].min(), "mixture_id"]
                     .unique())[:params.evaluation.figure_mixtures]
    figure = spectrogram_figure(pairs, hardest, list(models))
    return Report(metrics=metrics,
                  tables={"pairs": scored, "summary": cells,
                          "paper_tables": paper_table(cells, variants), "differences": diffs},
                  figures={"spectrograms": figure})
