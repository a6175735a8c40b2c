"""The anonymization stages of dvc.yaml. Each takes params.yaml's `anonymization` section, parses
it once (`voxflow.anonymization.params`), logs what it uses to its MLflow run and calls the
library:

    anon-corpus      the LibriTTS of this DAG (synthesized at corpus.size), ingested
    anon-ssl         HuBERT-style pretraining of the SSL encoder (or WavLM Large from a file)
    anon-probes      linear probes of every layer: phones (MLMS alignments) and speakers
    anon-vocoder     matching sets of the target speakers; the HiFi-GAN on prematched frames
    anon-asv         the ignorant attacker's ASV, trained on original speech
    anon-emotion     the emotion recognizer's leave-one-session-out fold models
    anon-asr         the speech recognizer
    anon-system@<system>      LibriTTS and IEMOCAP anonymized by the system; the semi-informed
                              attacker trained; EER, UAR, WER (one row of table 1)
    anon-report      table 1 and the privacy/utility figure
    anon-register    the SSL encoder and every anonymizer in the MLflow registry
"""
from __future__ import annotations

import logging
from pathlib import Path

from voxflow.anonymization.anonymizers import MATCHING_SETS
from voxflow.anonymization.params import AnonymizationParams, anonymization_params
from voxflow.stage_io import read_json, write_metrics
from voxflow.tracking import stage_run

log = logging.getLogger(__name__)

ASV_FILE, ATTACKER_DIR = "asv.pt", "attacker"
EVALUATION_FILE = "evaluation.json"     # anon-system's: {"system", "metrics"}


def _setup(section: dict) -> AnonymizationParams:
    """The parsed section, torch's CPU threads set from it."""
    import torch

    params = anonymization_params(section)
    if params.threads > 0:
        torch.set_num_threads(params.threads)
    return params


def corpus(out_dir: Path, manifest: Path, metrics_path: Path, section: dict) -> dict:
    """The synthetic LibriTTS at `corpus.size` into out_dir/LibriTTS, ingested into `manifest`
    (+ its rejects); counts to `metrics_path`. With the real LibriTTS, ingest it instead
    (`voxflow ingest libritts ROOT --out MANIFEST`)."""
    import mlflow

    from voxflow.ingest import ingest
    from voxflow.synth.corpora import build_corpus

    params = _setup(section)
    with stage_run("anon-corpus", params.corpus):
        root = build_corpus("libritts", Path(out_dir), size=params.corpus.size,
                            seed=params.corpus.seed)
        table = ingest("libritts", root, Path(manifest))
        frame = table.to_pandas()
        metrics = {"utterances": len(frame), "speakers": int(frame["speaker"].nunique()),
                   "hours": float(frame["duration"].sum() / 3600)}
        mlflow.log_metrics(metrics)
        write_metrics(Path(metrics_path), metrics)
    return metrics


def ssl(manifest: Path, out_dir: Path, section: dict) -> Path:
    """The SSL encoder pretrained on the LibriTTS training speakers (HuBERT-style,
    `voxflow.anonymization.ssl.pretrain`), or WavLM Large read from `ssl.checkpoint`; saved to
    out_dir/ssl.pt."""
    from voxflow.anonymization import ssl as ssl_model
    from voxflow.anonymization.data import libritts_role, manifest_table, read_waves

    params = _setup(section)
    path = Path(out_dir) / ssl_model.SSL_FILE
    run_params = {"preset": params.preset, "seed": params.seed,
                  "checkpoint": params.ssl.checkpoint, "training": params.ssl_training}
    with stage_run("anon-ssl", run_params, inputs=[Path(manifest)]):
        if params.ssl.checkpoint:
            ssl_model.save_encoder(ssl_model.load_pretrained_wavlm(
                Path(params.ssl.checkpoint), params.ssl_model), path)
        else:
            _, waves = read_waves(libritts_role(manifest_table(Path(manifest)), "train"),
                                  "SSL data")
            ssl_model.pretrain(waves, Path(out_dir), params.ssl_model, params.ssl_training,
                               params.seed)
    log.info("anon-ssl: encoder in %s", path)
    return path


def probes(ssl_dir: Path, mlms_manifest: Path, out_csv: Path, metrics_path: Path,
           section: dict) -> dict:
    """Linear probes (phones, speakers) of every layer of the trained encoder, of the same
    architecture randomly initialised and of MFCCs, on the MLMS corpus's aligned utterances
    (`voxflow.anonymization.probes`); the table to `out_csv`, the chosen layer (`ssl.layer`, or
    the trained encoder's best phone layer) and the best accuracies to `metrics_path`."""
    import mlflow

    from voxflow.anonymization import ssl as ssl_model
    from voxflow.anonymization.data import manifest_table, read_waves
    from voxflow.anonymization.probes import best_layer, held_out_split, probe_layers

    params = _setup(section)
    encoder = ssl_model.load_encoder(Path(ssl_dir) / ssl_model.SSL_FILE)
    random = ssl_model.new_encoder(encoder.config, params.seed + 1)
    table = manifest_table(Path(mlms_manifest))
    if params.evaluation.probe_utterances:
        table = table.groupby("speaker", sort=True).head(params.evaluation.probe_utterances)
    with stage_run("anon-probes", {"seed": params.seed, "share": params.ssl.probe_share},
                   inputs=[Path(ssl_dir), Path(mlms_manifest)]):
        table, waves = read_waves(table.reset_index(drop=True), "probe data")
        speakers = table["speaker"].tolist()
        result = probe_layers(
            {"ssl": lambda i: ssl_model.layer_features(encoder, waves[i]),
             "random": lambda i: ssl_model.layer_features(random, waves[i]),
             "mfcc": lambda i: [ssl_model.mfcc39(waves[i])]},
            speakers, table["phones"].tolist(),
            held_out_split(speakers, params.ssl.probe_share, params.seed), seed=params.seed)
        Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
        result.to_csv(out_csv, index=False)
        layer = params.ssl.layer if params.ssl.layer is not None else best_layer(result)
        metrics = {"layer": layer}
        for (features, task), rows in result.groupby(["features", "task"]):
            metrics[f"{task}/{features}/best"] = float(rows["accuracy"].max())
        metrics |= {f"{task}/ssl/chosen": float(result[(result.features == "ssl") &
                                                       (result.layer == layer) &
                                                       (result.task == task)].accuracy.iloc[0])
                    for task in ("phone", "speaker")}
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(out_csv))
        write_metrics(Path(metrics_path), metrics)
    return metrics


def vocoder(ssl_dir: Path, probes_metrics: Path, manifest: Path, out_dir: Path,
            section: dict) -> Path:
    """The target speakers' matching sets (every LibriTTS training speaker's features at the
    chosen layer, and for a mel vocoder their log-mels) to out_dir/matching_sets.pt, and a
    HiFi-GAN trained on their prematched frames (kNN-VC's recipe) to out_dir/vocoder.pt, unless
    `vocoder` is mel-griffin-lim, which trains nothing."""
    import numpy as np
    import torch

    from voxflow.anonymization import ssl as ssl_model
    from voxflow.anonymization.audio import HOP
    from voxflow.anonymization.data import libritts_role, manifest_table, read_waves
    from voxflow.anonymization.knnvc import prematch
    from voxflow.anonymization.vocoder import mel_frames, train_vocoder

    params = _setup(section)
    layer = int(read_json(Path(probes_metrics))["layer"])
    encoder = ssl_model.load_encoder(Path(ssl_dir) / ssl_model.SSL_FILE)
    run_params = {"preset": params.preset, "seed": params.seed, "layer": layer,
                  "vocoder": params.vocoder, "training": params.vocoder_training}
    with stage_run("anon-vocoder", run_params,
                   inputs=[Path(ssl_dir), Path(probes_metrics), Path(manifest)]):
        table, waves = read_waves(libritts_role(manifest_table(Path(manifest)), "train"),
                                  "vocoder data")
        feats = [ssl_model.features(encoder, wave, layer) for wave in waves]
        mels = ([mel_frames(wave) for wave in waves] if params.vocoder.startswith("mel-")
                else None)
        sets, values, inputs, targets = {}, {}, [], []
        for speaker, rows in table.groupby("speaker", sort=True):
            own = [feats[i] for i in rows.index]
            own_values = None if mels is None else [mels[i] for i in rows.index]
            sets[speaker] = torch.from_numpy(np.concatenate(own))
            if own_values is not None:
                values[speaker] = torch.from_numpy(np.concatenate(own_values))
            if params.vocoder == "mel-griffin-lim":
                continue
            for i, rebuilt in zip(rows.index, prematch(own, k=4, values=own_values)):
                if rebuilt is not None:
                    inputs.append(rebuilt)
                    targets.append(np.pad(waves[i], (0, HOP))[:len(rebuilt) * HOP])
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        torch.save({"layer": layer, "sets": sets, "values": values or None,
                    "vocoder": params.vocoder}, Path(out_dir) / MATCHING_SETS)
        if inputs:
            train_vocoder(inputs, targets, Path(out_dir),
                          params.vocoder_model(inputs[0].shape[1]), params.vocoder_training,
                          params.seed)
    log.info("anon-vocoder: %s and matching sets in %s", params.vocoder, out_dir)
    return Path(out_dir)


def asv(manifest: Path, out_dir: Path, section: dict) -> Path:
    """The ignorant attacker's ASV: ECAPA-TDNN trained on the original LibriTTS training
    speakers, to out_dir/asv.pt."""
    from voxflow.anonymization.asv import save_asv, train_asv
    from voxflow.anonymization.data import libritts_role, manifest_table, read_waves

    params = _setup(section)
    run_params = {"preset": params.preset, "seed": params.seed, "training": params.asv_training}
    with stage_run("anon-asv", run_params, inputs=[Path(manifest)]):
        table, waves = read_waves(libritts_role(manifest_table(Path(manifest)), "train"),
                                  "ASV data")
        model = train_asv(waves, table["speaker"].tolist(), Path(out_dir) / "checkpoints",
                          params.asv_model, params.asv_training, params.seed)
        save_asv(model, Path(out_dir) / ASV_FILE)
    return Path(out_dir) / ASV_FILE


def emotion(iemocap_manifest: Path, out_dir: Path, section: dict) -> Path:
    """The emotion recognizer's fold models (leave one IEMOCAP session out), trained on original
    speech, to out_dir/<session>/ser.pt."""
    from voxflow.anonymization.data import emotion_table, manifest_table, read_waves
    from voxflow.anonymization.emotion import train_folds

    params = _setup(section)
    run_params = {"preset": params.preset, "seed": params.seed,
                  "training": params.emotion_training}
    with stage_run("anon-emotion", run_params, inputs=[Path(iemocap_manifest)]):
        table, waves = read_waves(emotion_table(manifest_table(Path(iemocap_manifest))),
                                  "emotion data")
        train_folds(waves, table["emotion"].tolist(), table["split"].tolist(), Path(out_dir),
                    params.emotion_model, params.emotion_training, params.seed)
    return Path(out_dir)


def asr(manifest: Path, out_dir: Path, section: dict) -> Path:
    """The speech recognizer trained on the original LibriTTS training speakers (no dev
    selection: dev-clean is the evaluation's), to out_dir/asr.pt."""
    from voxflow.anonymization.asr import MODEL_FILE, train_asr
    from voxflow.anonymization.data import libritts_role, manifest_table, read_waves

    params = _setup(section)
    run_params = {"preset": params.preset, "seed": params.seed, "training": params.asr_training}
    with stage_run("anon-asr", run_params, inputs=[Path(manifest)]):
        table, waves = read_waves(libritts_role(manifest_table(Path(manifest)), "train"),
                                  "ASR data")
        train_asr(waves, table["text"].tolist(), Path(out_dir), params.asr_model,
                  params.asr_training, params.seed)
    return Path(out_dir) / MODEL_FILE


def anonymizer(params: AnonymizationParams, system: str, ssl_dir: Path, vocoder_dir: Path):
    """The `Anonymizer` of `system` from the trained encoder, matching sets and vocoder."""
    from voxflow.anonymization.anonymizers import Origin, load_knnvc_anonymizer
    from voxflow.anonymization.ssl import SSL_FILE

    settings = params.system(system)
    if settings.kind == "origin":
        return Origin()
    return load_knnvc_anonymizer(Path(ssl_dir) / SSL_FILE, Path(vocoder_dir), settings.knnvc)


def _anonymize(params: AnonymizationParams, system: str, manifest: Path,
               iemocap_manifest: Path, ssl_dir: Path, vocoder_dir: Path, out_dir: Path) -> dict:
    """Every LibriTTS and IEMOCAP utterance anonymized by `system` into out_dir/{libritts,
    iemocap} (`voxflow.anonymization.anonymizers.anonymize_table`); counts and real-time
    factors."""
    import time

    import pandas as pd

    from voxflow.anonymization.anonymizers import REJECTS, anonymize_table
    from voxflow.ingest.manifest import read_manifest

    model = anonymizer(params, system, Path(ssl_dir), Path(vocoder_dir))
    metrics = {}
    for corpus, path in (("libritts", manifest), ("iemocap", iemocap_manifest)):
        table, root = read_manifest(Path(path))
        start = time.perf_counter()
        written = anonymize_table(model, table.to_pandas(), root, Path(out_dir) / corpus,
                                  params.seed, f"{system}: {corpus}")
        seconds = time.perf_counter() - start
        metrics |= {f"{corpus}/utterances": len(written),
                    f"{corpus}/rejected": len(pd.read_csv(Path(out_dir) / corpus / REJECTS)),
                    f"{corpus}/rtf": seconds / max(written["duration"].sum(), 1e-9)}
    return metrics


def system(system: str, manifest: Path, iemocap_manifest: Path, ssl_dir: Path,
           vocoder_dir: Path, asv_dir: Path, emotion_dir: Path, asr_dir: Path,
           anonymized_dir: Path, out_dir: Path, metrics_path: Path, section: dict) -> dict:
    """One row of table 1: LibriTTS and IEMOCAP anonymized by `system` into `anonymized_dir`
    (16 kHz wavs, anonymized.csv, rejects.csv per corpus), then its VPC 2024 evaluation
    (`voxflow.anonymization.evaluation`) into `out_dir`: the semi-informed attacker's ASV
    trained on the anonymized training speakers (out_dir/attacker; for `origin` the ignorant
    one, the same data and seed), EERs of both attackers, UAR and WER; the metrics to
    `metrics_path` and, with the system's name, to out_dir/evaluation.json; scored trials,
    predictions and transcripts as CSV beside them."""
    import mlflow

    params = _setup(section)
    inputs = [Path(p) for p in (manifest, iemocap_manifest, ssl_dir, vocoder_dir, asv_dir,
                                emotion_dir, asr_dir)]
    with stage_run(f"anon-system@{system}", {"system": system, "seed": params.seed,
                                             "settings": params.system(system),
                                             "evaluation": params.evaluation}, inputs=inputs):
        metrics = {f"anonymization/{key}": value for key, value in _anonymize(
            params, system, manifest, iemocap_manifest, ssl_dir, vocoder_dir,
            anonymized_dir).items()}
        metrics |= _evaluate(params, system, Path(anonymized_dir), Path(manifest),
                             Path(iemocap_manifest), Path(asv_dir), Path(emotion_dir),
                             Path(asr_dir), Path(out_dir))
        mlflow.log_metrics(metrics)
    write_metrics(Path(metrics_path), metrics)
    return metrics


def _evaluate(params: AnonymizationParams, system: str, anonymized_dir: Path, manifest: Path,
              iemocap_manifest: Path, asv_dir: Path, emotion_dir: Path, asr_dir: Path,
              out_dir: Path) -> dict:
    """The evaluation of `system`'s anonymized folder (see `system`); its metrics."""
    import mlflow
    import pandas as pd

    from voxflow.anonymization import evaluation
    from voxflow.anonymization.anonymizers import read_anonymized
    from voxflow.anonymization.asr import MODEL_FILE, load_asr
    from voxflow.anonymization.asv import load_asv, make_trials, save_asv, train_asv
    from voxflow.anonymization.data import (emotion_table, libritts_role, manifest_table,
                                            read_waves, trial_table)
    from voxflow.anonymization.emotion import load_ser

    settings, seed, resamples = params.system(system), params.seed, params.evaluation.resamples
    out_dir.mkdir(parents=True, exist_ok=True)
    anonymized = read_anonymized(anonymized_dir / "libritts")
    ignorant = load_asv(Path(asv_dir) / ASV_FILE)
    if settings.kind == "origin":
        attacker = ignorant
    else:
        train, train_waves = read_waves(libritts_role(anonymized, "train"), "attacker data")
        attacker = train_asv(train_waves, train["speaker"].tolist(),
                             out_dir / ATTACKER_DIR / "checkpoints", params.asv_model,
                             params.asv_training, seed)
    save_asv(attacker, out_dir / ATTACKER_DIR / ASV_FILE)

    trials_rows, trial_waves = read_waves(trial_table(anonymized), "anonymized trials")
    enrollment, trials = make_trials(trials_rows, seed,
                                     params.evaluation.enrollment_per_speaker)
    original = manifest_table(Path(manifest))
    original_rows, original_waves = read_waves(
        original[original["utt_id"].isin(enrollment["utt_id"])], "original enrollment")
    heard = dict(zip(trials_rows["utt_id"], trial_waves))
    ignorant_heard = heard | dict(zip(original_rows["utt_id"], original_waves))
    metrics, scored = {}, []
    for name, model, waves in (("ignorant", ignorant, ignorant_heard),
                               ("semi-informed", attacker, heard)):
        values, table = evaluation.privacy(name, model, enrollment, trials, waves,
                                           resamples, seed)
        metrics |= values
        scored.append(table)

    ser_rows, ser_waves = read_waves(
        emotion_table(read_anonymized(anonymized_dir / "iemocap")), "anonymized IEMOCAP")
    models = {path.parent.name: load_ser(path)
              for path in sorted(Path(emotion_dir).glob("*/ser.pt"))}
    values, predictions = evaluation.emotion_utility(
        models, ser_rows, ser_waves, params.evaluation.dev_sessions, resamples, seed)
    metrics |= values

    values, transcripts = evaluation.content_utility(
        load_asr(Path(asr_dir) / MODEL_FILE), trials_rows, trial_waves, resamples, seed)
    metrics |= values

    pd.concat(scored).to_csv(out_dir / "trials.csv", index=False)
    predictions.to_csv(out_dir / "emotions.csv", index=False)
    transcripts.to_csv(out_dir / "transcripts.csv", index=False)
    write_metrics(out_dir / EVALUATION_FILE, {"system": system, "metrics": metrics})
    for name in (EVALUATION_FILE, "trials.csv", "emotions.csv", "transcripts.csv"):
        mlflow.log_artifact(str(out_dir / name), "evaluation")
    return metrics


def report(evaluations_dir: Path, out_dir: Path, metrics_path: Path, section: dict) -> dict:
    """Table 1 (`voxflow.anonymization.report`) from the systems' evaluations (the folders
    under `evaluations_dir`, each naming its system in evaluation.json), in the order of
    params.yaml's systems, to out_dir (report.md, results.csv, privacy_utility.png); every
    system's metrics, prefixed with its name, to `metrics_path`."""
    import mlflow

    from voxflow.anonymization.report import write_report

    params = _setup(section)
    found = {saved["system"]: saved["metrics"] for saved in
             (read_json(path) for path in sorted(Path(evaluations_dir).glob(f"*/{EVALUATION_FILE}")))}
    missing = sorted(set(params.systems) - set(found))
    if missing:
        raise ValueError(f"{evaluations_dir}: no evaluation of system(s) {', '.join(missing)} "
                         f"(found {', '.join(found) or 'none'})")
    ordered = {system: found[system] for system in params.systems}
    with stage_run("anon-report", {"systems": list(ordered)}, inputs=[Path(evaluations_dir)]):
        write_report(ordered, Path(out_dir))
        metrics = {f"{system}/{key}": value for system, values in ordered.items()
                   for key, value in values.items()}
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(out_dir), "report")
    write_metrics(Path(metrics_path), metrics)
    return metrics


def register(ssl_dir: Path, vocoder_dir: Path, report_metrics: Path, out_path: Path,
             section: dict) -> dict:
    """Log the SSL encoder as the pyfunc `registry.ssl_model_name` and every kNN-VC system as
    `<registry.model_name>-<system>`, register each @candidate (an anonymizer tagged with its
    evaluation's averages); the versions to `out_path` (DVC metrics) and returned."""
    import torch

    from voxflow import registry
    from voxflow.anonymization.pyfunc import log_anonymizer, log_ssl

    params = _setup(section)
    metrics = read_json(Path(report_metrics))
    names = params.registry
    versions = {}
    with stage_run("anon-register", names,
                   inputs=[Path(ssl_dir), Path(vocoder_dir), Path(report_metrics)]):
        layer = int(torch.load(Path(vocoder_dir) / MATCHING_SETS, weights_only=True)["layer"])
        versions[names.ssl_model_name] = registry.register(
            log_ssl(Path(ssl_dir), layer), names.ssl_model_name, {"layer": layer})
        for system, settings in params.systems.items():
            if settings.kind == "origin":
                continue
            name = f"{names.model_name}-{system}"
            tags = {key.split("/", 1)[1]: value for key, value in metrics.items()
                    if key.startswith(f"{system}/") and key.endswith("/avg")}
            uri = log_anonymizer(system, settings.knnvc, Path(ssl_dir), Path(vocoder_dir),
                                 params.seed)
            versions[name] = registry.register(uri, name, tags)
    decision = {"versions": versions}
    write_metrics(Path(out_path), decision)
    return decision
