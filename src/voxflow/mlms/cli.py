"""`voxflow stage mlms-{features,linguistic,train,duration,adapt,evaluate,register}`, each with
params.yaml's `mlms` section."""
from __future__ import annotations

import argparse
from pathlib import Path

from voxflow.stage_io import load_section


def _section(args: argparse.Namespace) -> dict:
    return load_section("mlms", args.params)


def _features(args: argparse.Namespace) -> None:
    from voxflow.mlms import stages

    stages.features(args.manifest, args.out, args.metrics, _section(args))


def _linguistic(args: argparse.Namespace) -> None:
    from voxflow.mlms import stages

    stages.linguistic(args.manifest, args.world, args.out, args.metrics, _section(args))


def _train(args: argparse.Namespace) -> None:
    from voxflow.mlms import stages

    stages.train(args.system, args.world, args.linguistic, args.out, _section(args), args.plots)


def _duration(args: argparse.Namespace) -> None:
    from voxflow.mlms import stages

    stages.duration(args.linguistic, args.out, _section(args), args.plots)


def _adapt(args: argparse.Namespace) -> None:
    from voxflow.mlms import stages

    stages.adapt(args.source, args.world, args.linguistic, args.out, _section(args), args.plots)


def _evaluate(args: argparse.Namespace) -> None:
    from voxflow.mlms import stages

    stages.evaluate(args.world, args.linguistic, args.models, args.out, args.metrics,
                    args.plots, _section(args))


def _register(args: argparse.Namespace) -> None:
    from voxflow.mlms import stages

    stages.register(args.models, args.linguistic, args.evaluation, args.out, _section(args))


def _inputs(parser: argparse.ArgumentParser, *names: str) -> None:
    helps = {"manifest": "the mlms manifest", "world": "the mlms-features folder",
             "linguistic": "the mlms-linguistic folder"}
    for name in names:
        parser.add_argument(name, type=Path, help=helps[name])


def add_stages(stage) -> list[argparse.ArgumentParser]:
    features = stage.add_parser("mlms-features", help="WORLD features of the mlms corpus and "
                                "the analysis-synthesis bound")
    _inputs(features, "manifest")
    linguistic = stage.add_parser("mlms-linguistic", help="linguistic features, oracle "
                                  "durations, phone inventory and lexicon")
    _inputs(linguistic, "manifest", "world")
    train = stage.add_parser("mlms-train", help="train an MLMS system or the baselines")
    train.add_argument("system", help="a key of params.yaml's mlms.systems")
    _inputs(train, "world", "linguistic")
    duration = stage.add_parser("mlms-duration", help="train the duration model")
    _inputs(duration, "linguistic")
    adapt = stage.add_parser("mlms-adapt", help="adapt an MLMS model to the held-out "
                             "languages (v1-v4) and train their from-scratch baselines")
    adapt.add_argument("source", type=Path, help="the source system's mlms-train folder")
    _inputs(adapt, "world", "linguistic")
    evaluate = stage.add_parser("mlms-evaluate", help="dev MSE per language (figures 2-3), "
                                "synthesis distortions, language codes, AB package")
    _inputs(evaluate, "world", "linguistic")
    evaluate.add_argument("--models", type=Path, required=True,
                          help="the folder of every trained MLMS model")
    register = stage.add_parser("mlms-register", help="register the voxflow-mlms voice "
                                "@candidate and check the champion gate")
    register.add_argument("evaluation", type=Path, help="mlms-evaluate's metrics JSON")
    _inputs(register, "linguistic")
    register.add_argument("--models", type=Path, required=True,
                          help="the folder of every trained MLMS model")
    for parser in (features, linguistic, evaluate):
        parser.add_argument("--metrics", type=Path, required=True, help="DVC metrics JSON")
    for parser in (train, duration, adapt):
        parser.add_argument("--plots", type=Path, help="DVC plots CSV of the dev validations")
    for parser in (features, linguistic, train, duration, adapt, evaluate):
        parser.add_argument("--out", type=Path, required=True)
    register.add_argument("--out", type=Path, required=True, help="the decision (JSON)")
    evaluate.add_argument("--plots", type=Path, required=True, help="DVC plots CSV")
    for parser, func in ((features, _features), (linguistic, _linguistic), (train, _train),
                         (duration, _duration), (adapt, _adapt), (evaluate, _evaluate),
                         (register, _register)):
        parser.set_defaults(func=func)
    return [features, linguistic, train, duration, adapt, evaluate, register]
