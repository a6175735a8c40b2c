"""The `voxflow` command line, thin over the library: `synth`, `ingest` and `eval` on files, `stage`
for every system's stages (`voxflow.systems`), `repro` (the DVC DAG), `pipeline` (KFP) and
`listen` (listening tests in the browser)."""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("voxflow")


def _synth(args: argparse.Namespace) -> None:
    from voxflow.synth.corpora import CORPORA, build_corpus
    from voxflow.synth.corpora.common import check_size

    check_size(args.size)
    names = CORPORA if args.corpus == "all" else (args.corpus,)
    for name in names:
        start = time.perf_counter()
        root = build_corpus(name, args.out, size=args.size, seed=args.seed, workers=args.workers)
        log.info("%s (%s, seed %d) written to %s in %.1f s", name, args.size, args.seed, root,
                 time.perf_counter() - start)


def _ingest(args: argparse.Namespace) -> None:
    from voxflow.ingest import ingest

    options = {}
    if args.four_class:
        options["four_class"] = True
    if args.split_fractions:
        options["split_fractions"] = {k: float(v) for k, v in
                                      (item.split("=") for item in args.split_fractions.split(","))}
    if args.split_seed is not None:
        options["seed"] = args.split_seed
    ingest(args.corpus, args.root, args.out, **options)


def _eval(args: argparse.Namespace) -> None:
    inputs = {name: getattr(args, name) for name in args.inputs
              if getattr(args, name) not in (None, False)}
    if args.mlflow:
        from voxflow import stages

        metrics = stages.evaluate(args.kind, args.out, inputs)
    else:
        from voxflow.evaluation import evaluate

        report = evaluate(args.kind, **inputs)
        report.write(args.out)
        metrics = report.metrics
    for name, value in metrics.items():
        log.info("%s = %s", name, f"{value:.6g}" if isinstance(value, float) else value)


def _mushra_export(args: argparse.Namespace) -> None:
    from voxflow.evaluation.mushra import export_test, read_stimuli

    config = export_test(read_stimuli(args.stimuli), args.out, args.test_id,
                         target_lufs=args.target_lufs, seed=args.seed)
    log.info("webMUSHRA test written to %s: copy its configs/ folder into webMUSHRA's root and "
             "open ?config=%s", args.out, config.name)


def _preference_export(args: argparse.Namespace) -> None:
    from voxflow.evaluation.preference import export_ab_test, read_pairs

    config = export_ab_test(read_pairs(args.pairs), args.out, args.test_id,
                            target_lufs=args.target_lufs, seed=args.seed)
    log.info("AB preference test written to %s; serve only that folder, keep %s_key.csv for "
             "preference-analyze", config.parent, args.test_id)


def _preference_analyze(args: argparse.Namespace) -> None:
    from voxflow.evaluation.preference import (analyze_ratings, markdown_table, read_key,
                                               read_ratings)

    table = analyze_ratings(read_ratings(args.ratings), read_key(args.key))
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "preferences.csv", index=False)
    (args.out / "preferences.md").write_text(markdown_table(table), encoding="utf-8")
    log.info("preference shares and sign tests written to %s (preferences.csv, preferences.md)",
             args.out)


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _add_eval_parser(sub) -> None:
    """`voxflow eval KIND ...`: one subcommand per evaluation kind."""
    evaluate = sub.add_parser("eval", help="evaluate files: PESQ/STOI, EER, min t-DCF, UAR, WER, "
                              "MCD/F0/LSD, MUSHRA, AB preference").add_subparsers(
                                  dest="kind", required=True)

    def kind(name: str, help_: str, inputs: list[tuple[str, dict]]) -> argparse.ArgumentParser:
        p = evaluate.add_parser(name, help=help_)
        for flag, options in inputs:
            p.add_argument(flag, **options)
        p.add_argument("--out", type=Path, required=True,
                       help="folder for metrics.json, tables (CSV) and figures (PNG)")
        p.add_argument("--mlflow", action="store_true",
                       help="run as a tracked stage: log metrics and outputs to MLflow")
        p.set_defaults(func=_eval, inputs=[f.lstrip("-").replace("-", "_") for f, _ in inputs])
        return p

    pairs = ("--pairs", {"type": Path, "required": True,
                         "help": "CSV with columns reference,degraded[,id] (paths relative to it)"})
    workers = ("--workers", {"type": int, "help": "processes (default: all cores)"})
    scores = ("--scores", {"type": Path, "required": True, "help": "CM scores: `utt attack key "
                           "score` lines, or `utt score` lines with --protocol"})
    protocol = ("--protocol", {"type": Path, "help": "ASVspoof 2019 CM protocol file"})
    kind("pesq-stoi", "PESQ (wide/narrow band) and STOI/ESTOI of (reference, degraded) pairs",
         [pairs, workers, ("--metrics", {"type": _comma_list,
                                         "help": "comma-separated subset of pesq_wb,pesq_nb,"
                                                 "stoi,estoi (default: all)"})])
    kind("eer", "EER (pooled, per attack) and DET of countermeasure scores", [scores, protocol])
    kind("tdcf", "min t-DCF (revised and legacy) and EER of countermeasure scores",
         [scores, protocol, ("--asv-scores", {"type": Path, "required": True,
                                              "help": "ASV score file (key, score last)"})])
    kind("uar", "UAR, accuracy and confusion matrix of class predictions",
         [("--predictions", {"type": Path, "required": True,
                             "help": "CSV with columns label,prediction[,id]"}),
          ("--classes", {"type": _comma_list,
                          "help": "class order (default: sorted labels and predictions)"})])
    wer = kind("wer", "WER and CER of hypotheses against references (Kaldi `text` files)",
               [("--references", {"type": Path, "required": True}),
                ("--hypotheses", {"type": Path, "required": True})])
    wer.add_argument("--no-normalize", dest="normalize", action="store_false",
                     help="score the raw text (default: normalized, see README)")
    wer.set_defaults(inputs=["references", "hypotheses", "normalize"])
    kind("mcd", "MCD, F0 RMSE, V/UV error and log-spectral distance of audio pairs",
         [pairs, workers, ("--dtw", {"action": "store_true",
                                     "help": "align frames by dynamic time warping"})])
    kind("mushra-analyze", "post-screening, means, CIs, relative MUSHRA and Holm-corrected "
         "t-tests of webMUSHRA ratings",
         [("--ratings", {"type": Path, "nargs": "+", "required": True,
                         "help": "webMUSHRA mushra.csv result file(s)"}),
          ("--items", {"type": Path, "help": "the <test>_items.csv written by mushra-export"})])
    export = evaluate.add_parser("mushra-export", help="write a webMUSHRA listening test: hidden "
                                 "reference, 3.5/7 kHz anchors, systems, loudness-normalized")
    export.add_argument("--stimuli", type=Path, required=True,
                        help="CSV with columns item,system,path[,voice,style,...]; system "
                        "`reference` is the item's reference")
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--test-id", required=True)
    export.add_argument("--target-lufs", type=float, default=-23.0)
    export.add_argument("--seed", type=int, default=0)
    export.set_defaults(func=_mushra_export)
    ab = evaluate.add_parser("preference-export", help="write an AB preference test (A, B or no "
                             "preference): anonymous trials, both orders balanced, "
                             "loudness-normalized, and its hidden key")
    ab.add_argument("--pairs", type=Path, required=True,
                    help="CSV with columns item,group,system_a,path_a,system_b,path_b (paths "
                    "relative to it)")
    ab.add_argument("--out", type=Path, required=True)
    ab.add_argument("--test-id", required=True)
    ab.add_argument("--target-lufs", type=float, default=-23.0)
    ab.add_argument("--seed", type=int, default=0)
    ab.set_defaults(func=_preference_export)
    analyze = evaluate.add_parser("preference-analyze", help="preference shares per group and "
                                  "system pair, two-sided sign tests at p < 0.01")
    analyze.add_argument("--ratings", type=Path, required=True,
                         help="CSV with columns listener,trial_id,choice (1, 2 or neutral)")
    analyze.add_argument("--key", type=Path, required=True,
                         help="the <test>_key.csv written by preference-export")
    analyze.add_argument("--out", type=Path, required=True,
                         help="folder for preferences.csv and preferences.md")
    analyze.set_defaults(func=_preference_analyze)


def _listen_serve(args: argparse.Namespace) -> None:
    from voxflow.listen.app import serve

    serve(args.package, host=args.host, port=args.port, db=args.db)


def _listen_ratings(args: argparse.Namespace):
    """(the package, its existing ratings store) of `voxflow listen export|analyze`."""
    from voxflow.listen.package import read_package
    from voxflow.listen.store import open_store

    package = read_package(args.package)
    return package, open_store(package, args.db, create=False)[0]


def _listen_export(args: argparse.Namespace) -> None:
    from voxflow.listen.export import write_results

    write_results(*_listen_ratings(args), args.out)


def _listen_analyze(args: argparse.Namespace) -> None:
    from voxflow.listen.analyze import analyze

    analyze(*_listen_ratings(args), args.model, args.system, args.out, key=args.key)


def _add_listen_parser(sub) -> None:
    """`voxflow listen ...`: serve a MUSHRA or AB package to listeners, export and analyze."""
    listen = sub.add_parser("listen", help="listening tests in the browser: serve a MUSHRA or AB "
                            "package, export and analyze the ratings").add_subparsers(
                                dest="action", required=True)
    serve = listen.add_parser("serve", help="serve the test to listeners until Ctrl-C; prints "
                              "the listeners' URL and the admin token")
    export = listen.add_parser("export", help="the ratings as webMUSHRA's mushra.csv (MUSHRA) "
                               "or ratings.csv (AB), for `voxflow eval ...-analyze`")
    analyze = listen.add_parser("analyze", help="analyze the ratings and log the analysis to the "
                                "MLflow run of a registered model version, tagging the version")
    for parser in (serve, export, analyze):
        parser.add_argument("package", type=Path, help="the test's folder as `voxflow eval "
                            "mushra-export` or `preference-export` wrote it (AB: the folder "
                            "with config.json)")
        parser.add_argument("--db", type=Path,
                            help="the ratings database (default: PACKAGE/listen.sqlite)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_listen_serve)
    export.add_argument("--out", type=Path, required=True, help="folder for the results CSV")
    export.set_defaults(func=_listen_export)
    analyze.add_argument("--model", required=True, help="the registered model version under "
                         "test: models:/NAME/VERSION or models:/NAME@ALIAS")
    analyze.add_argument("--system", required=True, help="which of the test's systems that "
                         "model is (e.g. upw)")
    analyze.add_argument("--key", type=Path, help="AB: the hidden key (default: "
                         "<test_id>_key.csv beside PACKAGE)")
    analyze.add_argument("--out", type=Path, required=True,
                         help="folder for the results CSV and the analysis")
    analyze.set_defaults(func=_listen_analyze)


def _promote(args: argparse.Namespace) -> None:
    from voxflow import stages

    stages.promote(args.system, args.candidate, args.out)


def _add_stages(sub) -> None:
    """`voxflow stage ...`: every system's stages (`voxflow.systems`) and the shared promote."""
    from voxflow.systems import SYSTEMS, cli_module

    stage = sub.add_parser("stage", help="run one pipeline stage with its params.yaml section "
                           "(as dvc.yaml does), tracked in MLflow").add_subparsers(
        dest="stage", required=True)
    parsers = [parser for system in SYSTEMS for parser in cli_module(system).add_stages(stage)]
    for parser in parsers:
        parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    promote = stage.add_parser("promote", help="move a system's @champion to its registered "
                               "candidate when the gate metric is not worse")
    promote.add_argument("system", help="the system (names the MLflow run <system>-promote)")
    promote.add_argument("candidate", type=Path, help="the register stage's decision JSON")
    promote.add_argument("--out", type=Path, required=True, help="the outcome (JSON)")
    promote.set_defaults(func=_promote)


def _add_system_commands(sub) -> None:
    """The top-level commands a system adds beside its stages (its cli's optional
    `add_commands(subparsers)`, e.g. `voxflow anonymize`)."""
    from voxflow.systems import SYSTEMS, cli_module

    for system in SYSTEMS:
        add_commands = getattr(cli_module(system), "add_commands", None)
        if add_commands is not None:
            add_commands(sub)


def _repro(args: argparse.Namespace) -> None:
    from voxflow.parallel import default_workers
    from voxflow.tracking import pipeline_run

    # the stages call `voxflow`: make this environment's scripts visible to them
    scripts = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
    cores = args.cores or default_workers()
    with pipeline_run("dvc-repro") as run_id:
        env["VOXFLOW_PARENT_RUN_ID"] = run_id
        flags = [flag for flag, on in (("--force", args.force), ("--single-item", args.single_item),
                                       ("--glob", args.glob)) if on]
        if cores == 1:
            result = subprocess.run([f"{scripts}/dvc", "repro", *flags, *args.targets], env=env)
            if result.returncode:   # inside the run, so that it is marked FAILED
                raise RuntimeError(f"dvc repro failed with exit status {result.returncode}")
            return
        import mlflow

        from voxflow import repro

        log_dir = Path("build") / "repro" / run_id
        try:
            plan = repro.plan(args.targets, single_item=args.single_item, glob=args.glob,
                              force=args.force)
            repro.run(plan, cores, f"{scripts}/dvc", env, log_dir)
        finally:
            if log_dir.is_dir():
                mlflow.log_artifacts(str(log_dir), "stage-logs")


def _pipeline_compile(args: argparse.Namespace) -> None:
    from voxflow import kfp_runner

    out = args.out or Path("build") / f"voxflow-{args.pipeline}.yaml"
    log.info("%s written", kfp_runner.compile_pipeline(args.pipeline, out))


def _pipeline_run_local(args: argparse.Namespace) -> None:
    from voxflow import kfp_runner
    from voxflow.synth.corpora import CORPORA

    if args.corpus and args.pipeline != "corpora":
        raise ValueError("--corpus restricts the corpora pipeline only")
    arguments = kfp_runner.parse_arguments(args.pipeline, args.param)
    kfp_runner.run_local(args.workdir, args.pipeline, args.corpus or CORPORA, arguments)


def _pipeline_submit(args: argparse.Namespace) -> None:
    from voxflow import kfp_runner

    arguments = kfp_runner.parse_arguments(args.pipeline, args.param)
    kfp_runner.submit(args.pipeline, args.host, arguments, args.experiment, args.run_name)


def build_parser() -> argparse.ArgumentParser:
    from voxflow.synth.corpora import CORPORA
    from voxflow.synth.corpora.common import SIZES

    parser = argparse.ArgumentParser(prog="voxflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    synth = sub.add_parser("synth", help="synthesize miniature corpora in their native layouts")
    synth.add_argument("corpus", choices=(*CORPORA, "all"))
    synth.add_argument("--out", type=Path, required=True, help="folder that receives the corpora")
    synth.add_argument("--size", choices=SIZES, default="tiny")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    synth.set_defaults(func=_synth)

    from voxflow.ingest import INGESTERS

    ingest = sub.add_parser("ingest", help="read a corpus in its native layout into a manifest")
    ingest.add_argument("corpus", choices=INGESTERS)
    ingest.add_argument("root", type=Path, help="the corpus folder as released")
    ingest.add_argument("--out", type=Path, required=True, help="manifest FILE.parquet; "
                        "problem files go to FILE.rejects.parquet")
    ingest.add_argument("--four-class", action="store_true",
                        help="iemocap: keep neu, hap+exc, sad, ang")
    ingest.add_argument("--split-fractions", help="grid, mlms: e.g. train=0.8,dev=0.1,test=0.1")
    ingest.add_argument("--split-seed", type=int, help="grid, mlms: seed of the speaker split")
    ingest.set_defaults(func=_ingest)

    _add_stages(sub)
    _add_system_commands(sub)
    _add_eval_parser(sub)
    _add_listen_parser(sub)

    repro = sub.add_parser("repro", help="dvc repro under one parent MLflow run")
    repro.add_argument("targets", nargs="*")
    repro.add_argument("--cores", type=int, default=1,
                       help="run stages at once on this many cores, each stage taking its "
                       "torch threads' worth, each its own `dvc repro --single-item` with its "
                       "output in build/repro/<run id>/<stage>.log (0: all cores; default 1: "
                       "one `dvc repro`, its output on the terminal)")
    repro.add_argument("--force", "-f", action="store_true", help="as dvc repro's: rerun "
                       "every stage, changed or not")
    repro.add_argument("--single-item", "-s", action="store_true", help="as dvc repro's: the "
                       "targets only, not the stages they depend on")
    repro.add_argument("--glob", action="store_true", help="as dvc repro's: targets are "
                       "wildcard patterns of stage names")
    repro.set_defaults(func=_repro)

    # pipeline names are checked when the pipeline is loaded: listing them here would import
    # kfp and every pipeline on each `voxflow` call
    pipeline_help = "a pipeline of pipelines/ (corpora, import-corpus, vocoder, antispoof, ...)"
    pipeline = sub.add_parser("pipeline", help="the Kubeflow pipelines of pipelines/ (see "
                              "pipelines/README.md)").add_subparsers(dest="action", required=True)
    compile_ = pipeline.add_parser("compile", help="write a pipeline's IR YAML")
    compile_.add_argument("--pipeline", default="corpora", help=pipeline_help)
    compile_.add_argument("--out", type=Path, help="default: build/voxflow-<pipeline>.yaml")
    compile_.set_defaults(func=_pipeline_compile)
    run_local = pipeline.add_parser("run-local", help="run a pipeline on the embedded default "
                                    "with kfp.local, in this environment")
    run_local.add_argument("--pipeline", default="corpora", help=pipeline_help)
    run_local.add_argument("--workdir", type=Path, default=Path("data/kfp-local"),
                           help="folder that receives the tasks' outputs")
    run_local.add_argument("--corpus", action="append", choices=CORPORA,
                           help="corpora pipeline: only this corpus (repeatable; default: all)")
    run_local.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                           help="a pipeline parameter in place of its default (repeatable)")
    run_local.set_defaults(func=_pipeline_run_local)
    submit = pipeline.add_parser("submit", help="start a run on a Kubeflow Pipelines server")
    submit.add_argument("--host", required=True, help="the KFP API server's URL")
    submit.add_argument("--pipeline", default="corpora", help=pipeline_help)
    submit.add_argument("--experiment", help="KFP experiment (default: the server's)")
    submit.add_argument("--run-name")
    submit.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a pipeline parameter (repeatable)")
    submit.set_defaults(func=_pipeline_submit)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError, RuntimeError) as err:
        log.error("%s", err)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
