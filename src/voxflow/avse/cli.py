"""`voxflow stage avse-{mix,crops,features,train,evaluate,register}`, each with params.yaml's `avse` section."""
from __future__ import annotations

import argparse
from pathlib import Path

from voxflow.stage_io import load_section


def _section(args: argparse.Namespace) -> dict:
    return load_section("avse", args.params)


def _mix(args: argparse.Namespace) -> None:
    from voxflow.avse import stages

    stages.mix(args.grid, args.noise, args.out, args.metrics, _section(args))


def _crops(args: argparse.Namespace) -> None:
    from voxflow.avse import stages

    stages.crops(args.grid, args.out, args.metrics, _section(args))


def _features(args: argparse.Namespace) -> None:
    from voxflow.avse import stages

    stages.features(args.mixtures, args.out, args.metrics, _section(args))


def _train(args: argparse.Namespace) -> None:
    from voxflow.avse import stages

    stages.train(args.system, args.features, args.crops, args.out, _section(args), args.plots)


def _evaluate(args: argparse.Namespace) -> None:
    from voxflow.avse import stages

    stages.evaluate(args.mixtures, args.features, args.crops, args.models, args.out,
                    args.metrics, args.plots, _section(args))


def _register(args: argparse.Namespace) -> None:
    from voxflow.avse import stages

    stages.register(args.models, args.evaluation, args.out, _section(args))


def add_stages(stage) -> list[argparse.ArgumentParser]:
    mix = stage.add_parser("avse-mix", help="the mixture table of GRID speech with noise or a "
                           "competing talker")
    mix.add_argument("grid", type=Path, help="the GRID manifest")
    mix.add_argument("noise", type=Path, help="the noise manifest")
    mix.add_argument("--out", type=Path, required=True, help="the mixture table (Parquet)")
    mix.add_argument("--metrics", type=Path, required=True, help="DVC metrics JSON")
    mix.set_defaults(func=_mix)
    crops = stage.add_parser("avse-crops", help="mouth crops of the GRID videos")
    crops.add_argument("grid", type=Path, help="the GRID manifest")
    crops.add_argument("--out", type=Path, required=True)
    crops.add_argument("--metrics", type=Path, required=True, help="DVC metrics JSON")
    crops.set_defaults(func=_crops)
    features = stage.add_parser("avse-features", help="noisy and clean log-mels of every "
                                "mixture")
    features.add_argument("mixtures", type=Path, help="the avse-mix table")
    features.add_argument("--out", type=Path, required=True)
    features.add_argument("--metrics", type=Path, required=True, help="DVC metrics JSON")
    features.set_defaults(func=_features)
    train = stage.add_parser("avse-train", help="train an AV-SE system")
    train.add_argument("system", help="a key of params.yaml's avse.systems")
    train.add_argument("features", type=Path, help="the avse-features folder")
    train.add_argument("crops", type=Path, help="the avse-crops folder")
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--plots", type=Path, help="DVC plots CSV of the dev validations")
    train.set_defaults(func=_train)
    evaluate = stage.add_parser("avse-evaluate", help="PESQ and STOI of every AV-SE system and "
                                "the unprocessed mixtures on the test split")
    evaluate.add_argument("mixtures", type=Path, help="the avse-mix table")
    evaluate.add_argument("features", type=Path, help="the avse-features folder")
    evaluate.add_argument("crops", type=Path, help="the avse-crops folder")
    evaluate.add_argument("--models", type=Path, nargs="+", required=True,
                          help="system folders (holding model.pt) or folders of them")
    evaluate.add_argument("--out", type=Path, required=True)
    evaluate.add_argument("--metrics", type=Path, required=True, help="DVC metrics JSON")
    evaluate.add_argument("--plots", type=Path, required=True, help="DVC plots CSV")
    evaluate.set_defaults(func=_evaluate)
    register = stage.add_parser("avse-register", help="register the champion AV-SE system "
                                "@candidate and check the champion gate")
    register.add_argument("--models", type=Path, nargs="+", required=True,
                          help="system folders (holding model.pt) or folders of them")
    register.add_argument("evaluation", type=Path, help="avse-evaluate's metrics JSON")
    register.add_argument("--out", type=Path, required=True, help="the decision (JSON)")
    register.set_defaults(func=_register)
    return [mix, crops, features, train, evaluate, register]
