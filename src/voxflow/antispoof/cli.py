"""`voxflow stage antispoof-{features,ssl-features,gmm,train,evaluate,register}`, each with
params.yaml's `antispoof` section. The evaluation and the registry take the folder holding every
system's folder (`models/antispoof`) and read which systems there are from params.yaml."""
from __future__ import annotations

import argparse
from pathlib import Path

from voxflow.stage_io import load_section


def _section(args: argparse.Namespace) -> dict:
    return load_section("antispoof", args.params)


def _features(args: argparse.Namespace) -> None:
    from voxflow.antispoof import stages

    stages.features(args.frontend, args.manifest, args.out, args.metrics, _section(args))


def _ssl_features(args: argparse.Namespace) -> None:
    from voxflow.antispoof import stages

    stages.ssl_features(args.manifest, args.ssl, args.out, args.metrics, _section(args))


def _gmm(args: argparse.Namespace) -> None:
    from voxflow.antispoof import stages

    stages.train_gmm(args.frontend, args.features, args.out, _section(args))


def _train(args: argparse.Namespace) -> None:
    from voxflow.antispoof import stages

    stages.train(args.system, args.features, args.out, _section(args))


def _evaluate(args: argparse.Namespace) -> None:
    from voxflow.antispoof import stages
    from voxflow.antispoof.params import antispoof_params

    params = antispoof_params(_section(args))
    folders = params.baseline_folders(args.models) + params.system_folders(args.models)
    stages.evaluate(folders, args.asv_scores, args.out, args.metrics)


def _register(args: argparse.Namespace) -> None:
    from voxflow.antispoof import stages
    from voxflow.antispoof.params import antispoof_params

    section = _section(args)
    folders = antispoof_params(section).system_folders(args.models)
    stages.register(args.evaluation, folders, args.out, section)


def add_stages(stage) -> list[argparse.ArgumentParser]:
    features = stage.add_parser("antispoof-features", help="countermeasure features of an "
                                "ASVspoof manifest, one .npy per utterance")
    features.add_argument("frontend", help="lfcc or cqcc (keys of params.yaml's "
                          "antispoof.frontends)")
    features.add_argument("manifest", type=Path)
    features.add_argument("--out", type=Path, required=True)
    features.add_argument("--metrics", type=Path, required=True, help="DVC metrics JSON")
    features.set_defaults(func=_features)
    ssl = stage.add_parser("antispoof-ssl-features", help="SSL features (antispoof.frontends."
                           "ssl) of an ASVspoof manifest, one .npy per utterance")
    ssl.add_argument("manifest", type=Path)
    ssl.add_argument("ssl", type=Path, help="the anon-ssl stage's folder (voxflow's pretrained "
                     "encoder, read with preset voxflow)")
    ssl.add_argument("--out", type=Path, required=True)
    ssl.add_argument("--metrics", type=Path, required=True, help="DVC metrics JSON")
    ssl.set_defaults(func=_ssl_features)
    gmm = stage.add_parser("antispoof-gmm", help="train the <frontend>-GMM baseline, score dev "
                           "and eval")
    gmm.add_argument("frontend", help="one of params.yaml's antispoof.gmm.frontends")
    gmm.add_argument("features", type=Path, help="the antispoof-features folder")
    gmm.add_argument("--out", type=Path, required=True)
    gmm.set_defaults(func=_gmm)
    train = stage.add_parser("antispoof-train", help="train a Siamese (or original) "
                             "countermeasure of params.yaml's antispoof.systems, score dev "
                             "and eval")
    train.add_argument("system", help="a key of params.yaml's antispoof.systems")
    train.add_argument("features", type=Path, help="its front-end's antispoof-features folder")
    train.add_argument("--out", type=Path, required=True)
    train.set_defaults(func=_train)
    evaluate = stage.add_parser("antispoof-evaluate", help="EER, min t-DCF, per-attack EER, "
                                "DET, t-SNE and report.md of the systems")
    evaluate.add_argument("models", type=Path, help="the folder of the system folders "
                          "(<frontend>-gmm and antispoof.systems' keys)")
    evaluate.add_argument("--asv-scores", type=Path, required=True,
                          help="the corpus's ASVspoof2019_LA_asv_scores folder")
    evaluate.add_argument("--out", type=Path, required=True)
    evaluate.add_argument("--metrics", type=Path, required=True, help="DVC metrics JSON")
    evaluate.set_defaults(func=_evaluate)
    register = stage.add_parser("antispoof-register", help="register the best system (dev EER) "
                                "@candidate and check the champion gate")
    register.add_argument("evaluation", type=Path, help="antispoof-evaluate's metrics JSON")
    register.add_argument("models", type=Path, help="the folder of the system folders")
    register.add_argument("--out", type=Path, required=True, help="the decision (JSON)")
    register.set_defaults(func=_register)
    return [features, ssl, gmm, train, evaluate, register]
