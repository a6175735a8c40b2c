"""`voxflow stage vocoder-{features,teacher,student,evaluate,register}`, each with params.yaml's
`vocoder` section."""
from __future__ import annotations

import argparse
from pathlib import Path

from voxflow.stage_io import load_section


def _section(args: argparse.Namespace) -> dict:
    return load_section("vocoder", args.params)


def _features(args: argparse.Namespace) -> None:
    from voxflow.vocoder import stages

    stages.features(args.manifest, args.out, args.metrics, _section(args))


def _teacher(args: argparse.Namespace) -> None:
    from voxflow.vocoder import stages

    stages.train_teacher(args.system, args.features, args.out, _section(args), args.plots)


def _student(args: argparse.Namespace) -> None:
    from voxflow.vocoder import stages

    stages.train_student(args.system, args.features, args.teacher, args.out, _section(args))


def _evaluate(args: argparse.Namespace) -> None:
    from voxflow.vocoder import stages

    stages.evaluate(args.features, args.teacher, args.student, args.sdpw, args.out,
                    args.metrics, args.plots, _section(args))


def _register(args: argparse.Namespace) -> None:
    from voxflow.vocoder import stages

    stages.register(args.student, args.evaluation, args.out, _section(args))


def add_stages(stage) -> list[argparse.ArgumentParser]:
    features = stage.add_parser("vocoder-features", help="log-mel features of a LibriTTS "
                                "manifest for the vocoder")
    features.add_argument("manifest", type=Path)
    features.add_argument("--out", type=Path, required=True)
    features.add_argument("--metrics", type=Path, required=True, help="DVC metrics JSON")
    features.set_defaults(func=_features)
    teacher = stage.add_parser("vocoder-teacher", help="train a vocoder system's WaveNet teacher")
    teacher.add_argument("system", help="a key of params.yaml's vocoder.systems (upw, sdpw)")
    teacher.add_argument("features", type=Path, help="the vocoder-features folder")
    teacher.add_argument("--out", type=Path, required=True)
    teacher.add_argument("--plots", type=Path, help="DVC plots CSV of the teacher's validations")
    teacher.set_defaults(func=_teacher)
    student = stage.add_parser("vocoder-student", help="distill a vocoder system's Parallel "
                               "WaveNet student from its teacher")
    student.add_argument("system", help="a key of params.yaml's vocoder.systems (upw, sdpw)")
    student.add_argument("features", type=Path, help="the vocoder-features folder")
    student.add_argument("teacher", type=Path, help="the system's teacher.pt")
    student.add_argument("--out", type=Path, required=True)
    student.set_defaults(func=_student)
    evaluate = stage.add_parser("vocoder-evaluate", help="analysis-synthesis of the test "
                                "speakers by every vocoder, scored, with a MUSHRA package")
    evaluate.add_argument("features", type=Path, help="the vocoder-features folder")
    evaluate.add_argument("--teacher", type=Path, required=True, help="the UPW teacher.pt")
    evaluate.add_argument("--student", type=Path, required=True, help="the UPW student.pt")
    evaluate.add_argument("--sdpw", type=Path, help="the SDPW student.pt")
    evaluate.add_argument("--out", type=Path, required=True)
    evaluate.add_argument("--metrics", type=Path, required=True, help="DVC metrics JSON")
    evaluate.add_argument("--plots", type=Path, required=True, help="DVC plots CSV")
    evaluate.set_defaults(func=_evaluate)
    register = stage.add_parser("vocoder-register", help="register the UPW student @candidate "
                                "and check the champion gate")
    register.add_argument("student", type=Path, help="the UPW student.pt")
    register.add_argument("evaluation", type=Path, help="vocoder-evaluate's metrics JSON")
    register.add_argument("--out", type=Path, required=True, help="the decision (JSON)")
    register.set_defaults(func=_register)
    return [features, teacher, student, evaluate, register]
