"""Learning curves of a vocoder preset: the UPW teacher's validations (held-out NLL, V/UV error
and MCD of its generated samples) as it trains, then the student distilled from it, evaluated
on the unseen test speakers every `--student-every` steps against Griffin-Lim.

    python benchmarks/bench_vocoder_curves.py --features data/vocoder/features \\
        --out benchmarks/results/vocoder-quality --preset quality

Writes `teacher.csv` and `student.csv` in `--out` and prints both as Markdown tables (the
benchmarks/README.md section). The student is trained in chunks: raising `steps` continues the
finished run from its checkpoint, bitwise the same as one uninterrupted run. Run it again with
the same arguments and it resumes where it stopped.
"""
from __future__ import annotations

import argparse
import copy
import logging
import time
from pathlib import Path

import pandas as pd
import yaml

from voxflow.stage_io import load_section
from voxflow.vocoder.evaluation import evaluate_vocoders
from voxflow.vocoder.params import vocoder_params
from voxflow.vocoder.training import saved_validation, train_student, train_teacher

METRICS = ("mcd", "pesq_wb", "vuv_error")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=Path, required=True, help="vocoder-features folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--preset", default="quality")
    parser.add_argument("--student-steps", type=int, help="override the preset's")
    parser.add_argument("--student-every", type=int, default=250)
    parser.add_argument("--set", action="append", default=[], metavar="PART.KEY=VALUE",
                        help="override one setting of the preset (YAML value), e.g. "
                             "teacher.steps=2000 or teacher.grad_clip=1.0; repeatable")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    section = copy.deepcopy(load_section("vocoder"))
    section["preset"] = args.preset
    section["teacher_gate"] = {"on_fail": "warn"}      # the curves show the teacher either way
    section["evaluation"] = {**section["evaluation"], "teacher": False}
    for setting in args.set:
        name, value = setting.split("=", 1)
        part, key = name.split(".", 1)
        section[part] = {**(section[part] or {}), key: yaml.safe_load(value)}
    params = vocoder_params(section)
    started = time.time()
    teacher = train_teacher(params, "upw", args.features, args.out / "teacher")
    teacher_curve = pd.DataFrame(saved_validation(teacher))
    teacher_curve.to_csv(args.out / "teacher.csv", index=False)
    print(f"teacher: {params.teacher.steps} steps, {time.time() - started:.0f} s")
    print(teacher_curve.to_markdown(index=False, floatfmt=".3f"))

    rows = []
    total = params.student.steps if args.student_steps is None else args.student_steps
    for steps in range(args.student_every, total + 1, args.student_every):
        chunk = vocoder_params({**section, "student": {**(section["student"] or {}),
                                                       "steps": steps}})
        student = train_student(chunk, "upw", args.features, teacher, args.out / "student")
        report, _ = evaluate_vocoders(chunk, args.features, teacher, student, None,
                                      args.out / "evaluation")
        rows.append({"step": steps, **{f"{system}/{m}": report.metrics[f"{system}/{m}"]
                                       for system in ("upw", "griffin-lim") for m in METRICS}})
        pd.DataFrame(rows).to_csv(args.out / "student.csv", index=False)
    print(f"total {time.time() - started:.0f} s")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
