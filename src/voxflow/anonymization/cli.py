"""`voxflow stage anon-...` (each with params.yaml's `anonymization` section) and
`voxflow anonymize SYSTEM IN_DIR OUT_DIR`."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from voxflow.stage_io import load_section

log = logging.getLogger(__name__)


def _section(args: argparse.Namespace) -> dict:
    return load_section("anonymization", args.params)


def _stage(name: str):
    """The `func` of a stage parser: `voxflow.anonymization.stages.<name>` with the parsed
    arguments in its signature's order and the section last."""
    def run(args: argparse.Namespace) -> None:
        from voxflow.anonymization import stages

        values = {k: v for k, v in vars(args).items()
                  if k not in ("func", "command", "stage", "params")}
        getattr(stages, name)(**values, section=_section(args))
    return run


def _anonymize(args: argparse.Namespace) -> None:
    from voxflow.anonymization.anonymizers import anonymize_table, folder_table
    from voxflow.anonymization.params import anonymization_params
    from voxflow.anonymization.stages import anonymizer

    params = anonymization_params(_section(args))
    if args.system.startswith("models:/"):      # any registered anonymizer
        import mlflow

        from voxflow.tracking import tracking_uri

        mlflow.set_tracking_uri(tracking_uri())
        model = mlflow.pyfunc.load_model(args.system).unwrap_python_model().anonymizer()
    else:
        model = anonymizer(params, args.system, args.models / "ssl", args.models / "vocoder")
    written = anonymize_table(model, folder_table(args.in_dir), args.in_dir, args.out_dir,
                              params.seed if args.seed is None else args.seed, args.system)
    log.info("%d files anonymized by %s into %s", len(written), args.system,
             args.out_dir / "wav")


def add_commands(sub) -> None:
    anonymize = sub.add_parser("anonymize", help="anonymize every .wav/.flac under IN_DIR with "
                               "a system of params.yaml's anonymization.systems or a registered "
                               "anonymizer")
    anonymize.add_argument("system", help="a key of anonymization.systems, e.g. knnvc (from the "
                           "DAG's --models), or a registered anonymizer, e.g. "
                           "models:/voxflow-anonymizer-cascade@candidate")
    anonymize.add_argument("in_dir", type=Path)
    anonymize.add_argument("out_dir", type=Path, help="receives wav/<same layout>.wav (16 kHz), "
                           "anonymized.csv and rejects.csv")
    anonymize.add_argument("--models", type=Path, default=Path("models/anonymization"),
                           help="the DAG's models folder (ssl/ and vocoder/ in it)")
    anonymize.add_argument("--seed", type=int, help="default: anonymization.seed")
    anonymize.add_argument("--params", type=Path, default=Path("params.yaml"))
    anonymize.set_defaults(func=_anonymize)


def add_stages(stage) -> list[argparse.ArgumentParser]:
    def parser(name: str, function: str, help_: str, *arguments: tuple[str, str]):
        p = stage.add_parser(name, help=help_)
        for argument, what in arguments:
            if argument.startswith("--"):
                p.add_argument(argument, type=Path, required=True, help=what)
            else:
                names = ("system", "p", "variant")     # the strings; the rest are paths
                p.add_argument(argument, type=str if argument in names else Path, help=what)
        p.set_defaults(func=_stage(function))
        return p

    manifest = ("manifest", "anon-corpus's LibriTTS manifest")
    iemocap = ("iemocap_manifest", "the IEMOCAP manifest")
    ssl_dir = ("ssl_dir", "anon-ssl's folder")
    vocoder_dir = ("vocoder_dir", "anon-vocoder's folder")
    features_dir = ("features_dir", "anon-features's folder")
    system = ("system", "a key of anonymization.systems")
    metrics = ("--metrics-path", "DVC metrics JSON")
    out = ("--out-dir", "the output folder")
    asv = ("asv_dir", "anon-asv's folder")
    emotion = ("emotion_dir", "anon-emotion's folder")
    asr = ("asr_dir", "anon-asr's folder")
    anonymized = ("--anonymized-dir", "receives the anonymized speech")
    voice = (("voice_acoustic", "the MLMS acoustic model that speaks (model.pt)"),
             ("voice_duration", "the MLMS duration model (model.pt)"),
             ("linguistic_dir", "the MLMS linguistic folder (lexicon, phone spec)"),
             ("world_json", "the MLMS WORLD config (world.json)"))
    return [
        parser("anon-corpus", "corpus", "the synthetic LibriTTS of the anonymization DAG",
               out, ("--manifest", "the manifest written"), metrics),
        parser("anon-ssl", "ssl", "pretrain the SSL encoder (or read WavLM Large)", manifest,
               out),
        parser("anon-probes", "probes", "linear probes of every SSL layer; the layer used",
               ssl_dir, ("mlms_manifest", "the MLMS corpus manifest (phone alignments)"),
               ("--out-csv", "the probe table"), metrics),
        parser("anon-vocoder", "vocoder", "matching sets and the SSL-feature vocoder", ssl_dir,
               ("probes_metrics", "anon-probes's metrics"), manifest, out),
        parser("anon-features", "features", "the SSL features of every source utterance, once",
               ssl_dir, ("probes_metrics", "anon-probes's metrics"), manifest, iemocap, out),
        parser("anon-asv", "asv", "the ignorant attacker's ASV", manifest, out),
        parser("anon-emotion", "emotion", "the emotion recognizer's fold models", iemocap, out),
        parser("anon-asr", "asr", "the speech recognizer", manifest, out),
        parser("anon-system", "system", "anonymize LibriTTS and IEMOCAP with a system and "
               "evaluate it: EER (two attackers), UAR and WER", system, manifest, iemocap,
               ssl_dir, vocoder_dir, features_dir, asv, emotion, asr, anonymized, out, metrics),
        parser("anon-cascade", "cascade", "the cascaded ASR-TTS row (table 1, ID 4): "
               "anonymize and evaluate", manifest, iemocap, *voice, asv, emotion, asr,
               anonymized, out, metrics),
        parser("anon-admixture", "admixture", "a random admixture row: the two systems' "
               "anonymized utterances drawn per utterance, evaluated with the informed attacker",
               ("p", "the share of the first system, e.g. 0.2"), manifest, iemocap,
               ("first_anonymized", "the anonymized folder of admixture.first (the cascade)"),
               ("second_anonymized", "the anonymized folder of admixture.second (kNN-VC)"),
               ("second_evaluation", "the evaluation folder of admixture.second (its "
                "attacker is the informed one)"), asv, emotion, asr, anonymized, out, metrics),
        parser("anon-conversion", "conversion", "a WavLM-feature conversion row (table 1, IDs "
               "5-8): train the converter, anonymize and evaluate",
               ("variant", "a key of anonymization.conversion.variants"), manifest, iemocap,
               ssl_dir, vocoder_dir, features_dir, asv, emotion, asr,
               ("--model-dir", "receives the converter"), anonymized, out, metrics),
        parser("anon-report", "report", "table 1 and the privacy/utility figure",
               ("evaluations_dir", "the folder of anon-system's evaluation folders"), out, metrics),
        parser("anon-register", "register", "register the SSL encoder and the anonymizers",
               ssl_dir, vocoder_dir, asr, *voice,
               ("conversion_dir", "the folder of anon-conversion's converter folders"),
               ("report_metrics", "anon-report's metrics"),
               ("--out-path", "the registered versions (JSON)")),
    ]
