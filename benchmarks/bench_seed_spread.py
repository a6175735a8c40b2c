"""How much a trained model's metrics move with its seed alone, on the embedded default: the
spread a reader needs before calling a difference between two runs (or two machines) real.

    python benchmarks/bench_seed_spread.py --seeds 0 1 2 3 4 \\
        [--antispoof lfcc-gmm lfcc-senet34] [--vocoder upw]

Each seed retrains, with params.yaml's settings and only `seed` changed (the GMMs' `gmm.seed`
too): the antispoof systems on the features of `data/antispoof/features/<frontend>` (eval EER,
organisers' convention), the vocoder systems' teacher and student on `data/vocoder/features`
(test-clean MCD and PESQ of the student and of Griffin-Lim, whose random initial phases follow
the seed). Needs those features (`dvc repro antispoof-features vocoder-features`). The models
go to `--work`; `--out` (a CSV) gets one row per seed and metric; prints mean, standard
deviation, min and max.
"""
from __future__ import annotations

import argparse
import copy
import logging
import time
from pathlib import Path

import pandas as pd

from voxflow.antispoof.params import antispoof_params
from voxflow.antispoof.systems import train_gmm, train_neural
from voxflow.evaluation.countermeasure import read_cm_scores
from voxflow.evaluation.eer import compute_eer
from voxflow.stage_io import load_section
from voxflow.vocoder.evaluation import evaluate_vocoders
from voxflow.vocoder.params import vocoder_params
from voxflow.vocoder.training import train_student, train_teacher

VOCODER_METRICS = ("upw/mcd", "upw/pesq_wb", "griffin-lim/mcd", "griffin-lim/pesq_wb")


def eval_eer(system_dir: Path) -> float:
    scores = read_cm_scores(system_dir / "scores" / "eval.txt")
    bonafide = scores["key"] == "bonafide"
    return 100 * compute_eer(scores["score"][bonafide], scores["score"][~bonafide])[0]


def antispoof_runs(system: str, seed: int, out: Path) -> list[dict]:
    section = copy.deepcopy(load_section("antispoof"))
    section["seed"] = seed
    section["gmm"] = {**section["gmm"], "seed": seed}
    params = antispoof_params(section)
    folder = out / f"seed-{seed}" / system
    if system.endswith("-gmm"):
        frontend = system.removesuffix("-gmm")
        train_gmm(frontend, Path("data/antispoof/features") / frontend, folder, params.gmm.config())
    else:
        frontend = params.system(system).frontend
        train_neural(system, Path("data/antispoof/features") / frontend, folder, params)
    return [{"seed": seed, "metric": f"{system}/eval_eer_pct", "value": eval_eer(folder)}]


def vocoder_runs(system: str, seed: int, out: Path) -> list[dict]:
    section = copy.deepcopy(load_section("vocoder"))
    section["seed"] = seed
    section["evaluation"] = {**section["evaluation"], "teacher": False}
    params = vocoder_params(section)
    features, folder = Path("data/vocoder/features"), out / f"seed-{seed}" / system
    teacher = train_teacher(params, system, features, folder / "teacher")
    student = train_student(params, system, features, teacher, folder / "student")
    report, _ = evaluate_vocoders(params, features, teacher, student, None, folder / "evaluation")
    return [{"seed": seed, "metric": name.replace("upw", system, 1), "value": report.metrics[name]}
            for name in VOCODER_METRICS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--antispoof", nargs="*", default=["lfcc-gmm", "lfcc-senet34"])
    parser.add_argument("--vocoder", nargs="*", default=["upw"])
    parser.add_argument("--work", type=Path, default=Path("benchmarks/.cache/seed-spread"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/seed-spread.csv"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows, started = [], time.time()
    for seed in args.seeds:
        for system in args.antispoof:
            rows += antispoof_runs(system, seed, args.work / "antispoof")
        for system in args.vocoder:
            rows += vocoder_runs(system, seed, args.work / "vocoder")
        print(f"seed {seed} done, {time.time() - started:.0f} s", flush=True)
    runs = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out, index=False)
    spread = runs.groupby("metric", sort=False)["value"].agg(["mean", "std", "min", "max"])
    print(f"{len(args.seeds)} seeds, {time.time() - started:.0f} s")
    print(spread.to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
