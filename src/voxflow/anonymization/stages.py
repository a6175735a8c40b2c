"""The anonymization stages of dvc.yaml. Each takes params.yaml's `anonymization` section, parses
it once (`voxflow.anonymization.params`), logs what it uses to its MLflow run and calls the
library:

    anon-corpus      the LibriTTS of this DAG (synthesized at corpus.size), ingested
    anon-ssl         HuBERT-style pretraining of the SSL encoder (or WavLM Large from a file)
    anon-probes      linear probes of every layer: phones (MLMS alignments) and speakers
    anon-vocoder     matching sets of the target speakers; the HiFi-GAN on prematched frames
    anon-features    the chosen layer's features of every LibriTTS and IEMOCAP utterance, once
                     for all the rows that encode them (kNN-VC's and the conversion's)
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voxflow.anonymization.anonymizers import MATCHING_SETS
from voxflow.anonymization.params import AnonymizationParams, anonymization_params
from voxflow.stage_io import read_json, write_metrics
from voxflow.threads import use_threads
from voxflow.tracking import stage_run

log = logging.getLogger(__name__)

ASV_FILE, ATTACKER_DIR = "asv.pt", "attacker"
EVALUATION_FILE = "evaluation.json"     # a row's: {"system", "metrics"}
VARIANT_FILE = "variant.json"           # beside a converter: {"variant", "target"}


def _setup(section: dict) -> AnonymizationParams:
    """The parsed section, torch's CPU threads set from it."""
    params = anonymization_params(section)
    use_threads(params.threads)
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
                  "vocoder": params.vocoder,
                  "griffin_lim_iterations": params.griffin_lim_iterations,
                  "training": params.vocoder_training}
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
                    "vocoder": params.vocoder,
                    "griffin_lim_iterations": params.griffin_lim_iterations},
                   Path(out_dir) / MATCHING_SETS)
        if inputs:
            train_vocoder(inputs, targets, Path(out_dir),
                          params.vocoder_model(inputs[0].shape[1]), params.vocoder_training,
                          params.seed)
    log.info("anon-vocoder: %s and matching sets in %s", params.vocoder, out_dir)
    return Path(out_dir)


def features(ssl_dir: Path, probes_metrics: Path, manifest: Path, iemocap_manifest: Path,
             out_dir: Path, section: dict) -> Path:
    """The chosen layer's SSL features of every LibriTTS and IEMOCAP utterance
    (`ssl.store_features`) to out_dir/features.pt: each row that anonymizes through the encoder
    looks its sources up there instead of encoding them again (the same numbers: a row's own
    pass would compute them alike). Unreadable files are left out (the rows report them)."""
    from voxflow.anonymization import ssl as ssl_model
    from voxflow.anonymization.data import manifest_table, read_waves

    params = _setup(section)
    layer = int(read_json(Path(probes_metrics))["layer"])
    path = Path(out_dir) / ssl_model.STORED_FEATURES
    with stage_run("anon-features", {"layer": layer},
                   inputs=[Path(ssl_dir), Path(probes_metrics), Path(manifest),
                           Path(iemocap_manifest)]):
        encoder = ssl_model.load_encoder(Path(ssl_dir) / ssl_model.SSL_FILE)
        waves = [wave for table in (manifest, iemocap_manifest)
                 for wave in read_waves(manifest_table(Path(table)), "source audio")[1]]
        ssl_model.store_features(encoder, waves, layer, path)
    log.info("anon-features: layer %d of %d utterances in %s", layer, len(waves), path)
    return path


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


def anonymizer(params: AnonymizationParams, system: str, ssl_dir: Path, vocoder_dir: Path,
               features_dir: Path | None = None):
    """The `Anonymizer` of `system` from the trained encoder, matching sets and vocoder (and
    anon-features's stored source features, given its folder)."""
    from voxflow.anonymization.anonymizers import Origin, load_knnvc_anonymizer
    from voxflow.anonymization.ssl import SSL_FILE, STORED_FEATURES

    settings = params.system(system)
    if settings.kind == "origin":
        return Origin()
    return load_knnvc_anonymizer(
        Path(ssl_dir) / SSL_FILE, Path(vocoder_dir), settings.knnvc,
        None if features_dir is None else Path(features_dir) / STORED_FEATURES)


def _anonymize(params: AnonymizationParams, model, name: str, manifest: Path,
               iemocap_manifest: Path, out_dir: Path) -> dict:
    """Every LibriTTS and IEMOCAP utterance anonymized by `model` (row `name`) into
    out_dir/{libritts, iemocap} (`voxflow.anonymization.anonymizers.anonymize_table`); counts
    and real-time factors."""
    import time

    import pandas as pd

    from voxflow.anonymization.anonymizers import REJECTS, anonymize_table
    from voxflow.ingest.manifest import read_manifest

    metrics = {}
    for corpus, path in (("libritts", manifest), ("iemocap", iemocap_manifest)):
        table, root = read_manifest(Path(path))
        start = time.perf_counter()
        written = anonymize_table(model, table.to_pandas(), root, Path(out_dir) / corpus,
                                  params.seed, f"{name}: {corpus}")
        seconds = time.perf_counter() - start
        metrics |= {f"{corpus}/utterances": len(written),
                    f"{corpus}/rejected": len(pd.read_csv(Path(out_dir) / corpus / REJECTS)),
                    f"{corpus}/rtf": seconds / max(written["duration"].sum(), 1e-9)}
    return metrics


def system(system: str, manifest: Path, iemocap_manifest: Path, ssl_dir: Path,
           vocoder_dir: Path, features_dir: Path, asv_dir: Path, emotion_dir: Path,
           asr_dir: Path, anonymized_dir: Path, out_dir: Path, metrics_path: Path,
           section: dict) -> dict:
    """One row of table 1 (origin or a kNN-VC system): LibriTTS and IEMOCAP anonymized by
    `system` (their SSL features from anon-features's `features_dir`) into `anonymized_dir`
    (16 kHz wavs, anonymized.csv, rejects.csv per corpus), then its VPC 2024 evaluation
    (`_evaluate`) into `out_dir`; the metrics to `metrics_path`."""
    params = _setup(section)
    settings = params.system(system)
    model = anonymizer(params, system, Path(ssl_dir), Path(vocoder_dir), Path(features_dir))
    return _row(params, f"anon-system@{system}", system, {"settings": settings},
                [Path(p) for p in (manifest, iemocap_manifest, ssl_dir, vocoder_dir,
                                   features_dir)],
                lambda: _anonymize(params, model, system, manifest, iemocap_manifest,
                                   anonymized_dir),
                _Evaluation(manifest, iemocap_manifest, asv_dir, emotion_dir, asr_dir),
                Path(anonymized_dir), Path(out_dir), Path(metrics_path),
                train_attacker=settings.kind != "origin")


def cascade(manifest: Path, iemocap_manifest: Path, voice_acoustic: Path, voice_duration: Path,
            linguistic_dir: Path, world_json: Path, asv_dir: Path, emotion_dir: Path,
            asr_dir: Path, anonymized_dir: Path, out_dir: Path, metrics_path: Path,
            section: dict) -> dict:
    """Table 1's ID 4, the cascaded ASR-TTS row (`voxflow.anonymization.cascade`): the
    evaluation's recognizer (`asr_dir`), or Whisper from `cascade.whisper`, transcribes, the MLMS
    voice (its acoustic and duration models, linguistic folder and WORLD config) speaks;
    anonymized and evaluated as `system`."""
    from voxflow.anonymization.asr import MODEL_FILE
    from voxflow.anonymization.cascade import load_cascade
    from voxflow.anonymization.params import CASCADE

    params = _setup(section)
    voice = [Path(p) for p in (voice_acoustic, voice_duration, linguistic_dir, world_json)]
    whisper = params.cascade.whisper_file
    model = load_cascade(Path(asr_dir) / MODEL_FILE, *voice, params.cascade.postfilter, whisper)
    return _row(params, "anon-cascade", CASCADE, {"cascade": params.cascade},
                [Path(manifest), Path(iemocap_manifest), Path(asr_dir), *voice,
                 *([whisper] if whisper else [])],
                lambda: _anonymize(params, model, CASCADE, manifest, iemocap_manifest,
                                   anonymized_dir),
                _Evaluation(manifest, iemocap_manifest, asv_dir, emotion_dir, asr_dir),
                Path(anonymized_dir), Path(out_dir), Path(metrics_path))


def admixture(p: str, manifest: Path, iemocap_manifest: Path, first_anonymized: Path,
              second_anonymized: Path, second_evaluation: Path, asv_dir: Path,
              emotion_dir: Path, asr_dir: Path, anonymized_dir: Path, out_dir: Path,
              metrics_path: Path, section: dict) -> dict:
    """The admixture row at `p` (paper 003 section 2.4): per utterance `admixture.first` with
    probability p, `admixture.second` otherwise, taken from their anonymized folders
    (`anonymizers.admix_folders`: the utterances the `Admixture` anonymizer would make),
    evaluated as `system`, plus the informed attacker: one who knows the admixture and attacks
    with the ASV trained on `second` alone (its semi-informed attacker, in
    `second_evaluation`)."""
    from voxflow.anonymization.anonymizers import admix_folders
    from voxflow.anonymization.params import admixture_row

    params = _setup(section)
    share, mix = float(p), params.admixture
    sources = [Path(first_anonymized), Path(second_anonymized)]
    informed = Path(second_evaluation) / ATTACKER_DIR / ASV_FILE

    def anonymize() -> dict:
        counts = {}
        for corpus in ("libritts", "iemocap"):
            written = admix_folders(*(source / corpus for source in sources),
                                    Path(anonymized_dir) / corpus, share, params.seed)
            counts[f"{corpus}/utterances"] = len(written)
            counts[f"{corpus}/{mix.first}_share"] = float(written["from_first"].mean())
        return counts

    return _row(params, f"anon-admixture@{p}", admixture_row(share),
                {"p": share, "first": mix.first, "second": mix.second},
                [Path(manifest), Path(iemocap_manifest), *sources, informed], anonymize,
                _Evaluation(manifest, iemocap_manifest, asv_dir, emotion_dir, asr_dir),
                Path(anonymized_dir), Path(out_dir), Path(metrics_path), informed=informed)


def conversion(variant: str, manifest: Path, iemocap_manifest: Path, ssl_dir: Path,
               vocoder_dir: Path, features_dir: Path, asv_dir: Path, emotion_dir: Path,
               asr_dir: Path, model_dir: Path, anonymized_dir: Path, out_dir: Path,
               metrics_path: Path, section: dict) -> dict:
    """A WavLM-feature conversion row (table 1, IDs 5-8; paper 003 section 2.2): the converter
    of `conversion.variants[variant]` trained (`conversion.train_converter`, into `model_dir`)
    on the LibriTTS training utterances paired with their kNN-VC conversions towards the one
    target speaker (`conversion.target`), the target's own utterances its reconstruction pairs
    and units; then anonymized (`anonymizers.ConversionAnonymizer`) and evaluated as
    `system`. The SSL features of its sources come from anon-features's `features_dir`."""
    import torch

    from voxflow.anonymization import ssl as ssl_model
    from voxflow.anonymization.anonymizers import conversion_target, load_conversion_anonymizer
    from voxflow.anonymization.conversion import CONVERTER_FILE, train_converter
    from voxflow.anonymization.data import libritts_role, manifest_table, read_waves
    from voxflow.anonymization.knnvc import KnnVCConfig, knn_match

    params = _setup(section)
    training = params.conversion_variant(variant)
    matching = torch.load(Path(vocoder_dir) / MATCHING_SETS, weights_only=True)
    target = conversion_target(matching, params.conversion.target)

    def anonymize() -> dict:
        encoder = ssl_model.load_encoder(Path(ssl_dir) / ssl_model.SSL_FILE)
        stored_file = Path(features_dir) / ssl_model.STORED_FEATURES
        stored = ssl_model.load_stored_features(stored_file, matching["layer"])
        table, waves = read_waves(libritts_role(manifest_table(Path(manifest)), "train"),
                                  "conversion data")
        feats = [ssl_model.features(encoder, wave, matching["layer"], stored) for wave in waves]
        speakers = table["speaker"].tolist()
        sources = [(f, s) for f, s in zip(feats, speakers) if s != target]
        train_converter([f for f, _ in sources],
                        [knn_match(torch.from_numpy(f), matching["sets"][target],
                                   KnnVCConfig().k).numpy() for f, _ in sources],
                        [s for _, s in sources],
                        [f for f, s in zip(feats, speakers) if s == target], Path(model_dir),
                        params.conversion_model(feats[0].shape[1]), training, params.seed)
        write_metrics(Path(model_dir) / VARIANT_FILE, {"variant": variant, "target": target})
        model = load_conversion_anonymizer(Path(ssl_dir) / ssl_model.SSL_FILE, Path(vocoder_dir),
                                           Path(model_dir) / CONVERTER_FILE, target, stored_file)
        return _anonymize(params, model, variant, manifest, iemocap_manifest, anonymized_dir)

    return _row(params, f"anon-conversion@{variant}", variant,
                {"target": target, "training": training},
                [Path(p) for p in (manifest, iemocap_manifest, ssl_dir, vocoder_dir,
                                   features_dir)], anonymize,
                _Evaluation(manifest, iemocap_manifest, asv_dir, emotion_dir, asr_dir),
                Path(anonymized_dir), Path(out_dir), Path(metrics_path))


@dataclass(frozen=True)
class _Evaluation:
    """The evaluation's inputs: the original corpora and the models trained on them."""
    manifest: Path
    iemocap_manifest: Path
    asv_dir: Path
    emotion_dir: Path
    asr_dir: Path


def _row(params: AnonymizationParams, stage: str, name: str, run_params: dict,
         inputs: list[Path], anonymize: Callable[[], dict], evaluation: _Evaluation,
         anonymized_dir: Path, out_dir: Path, metrics_path: Path, train_attacker: bool = True,
         informed: Path | None = None) -> dict:
    """One row of table 1 under the MLflow run of `stage` (dvc.yaml's name): `anonymize()` (its
    counts), then `_evaluate`; the metrics to `metrics_path` and, with the row's name, to
    out_dir/evaluation.json; scored trials, predictions and transcripts as CSV beside them."""
    import mlflow

    run_params = {"system": name, "seed": params.seed, **run_params,
                  "evaluation": params.evaluation}
    inputs = [*inputs, *(Path(p) for p in (evaluation.asv_dir, evaluation.emotion_dir,
                                           evaluation.asr_dir))]
    with stage_run(stage, run_params, inputs=inputs):
        metrics = {f"anonymization/{key}": value for key, value in anonymize().items()}
        metrics |= _evaluate(params, name, anonymized_dir, evaluation, out_dir, train_attacker,
                             informed)
        mlflow.log_metrics(metrics)
    write_metrics(metrics_path, metrics)
    return metrics


def _evaluate(params: AnonymizationParams, name: str, anonymized_dir: Path,
              inputs: _Evaluation, out_dir: Path, train_attacker: bool,
              informed: Path | None) -> dict:
    """The evaluation of the anonymized folder: the semi-informed attacker's ASV trained on the
    anonymized training speakers (out_dir/attacker; without `train_attacker`, for `origin`, the
    ignorant one, the same data and seed), EERs of the ignorant, semi-informed and (given its
    ASV file) informed attackers, UAR and WER; its metrics."""
    import mlflow
    import pandas as pd

    from voxflow.anonymization import evaluation
    from voxflow.anonymization.anonymizers import read_anonymized
    from voxflow.anonymization.asr import MODEL_FILE, load_asr
    from voxflow.anonymization.asv import load_asv, make_trials, save_asv, train_asv
    from voxflow.anonymization.data import (emotion_table, libritts_role, manifest_table,
                                            read_waves, trial_table)
    from voxflow.anonymization.emotion import load_ser

    seed, resamples = params.seed, params.evaluation.resamples
    out_dir.mkdir(parents=True, exist_ok=True)
    anonymized = read_anonymized(anonymized_dir / "libritts")
    ignorant = load_asv(Path(inputs.asv_dir) / ASV_FILE)
    if train_attacker:
        train, train_waves = read_waves(libritts_role(anonymized, "train"), "attacker data")
        attacker = train_asv(train_waves, train["speaker"].tolist(),
                             out_dir / ATTACKER_DIR / "checkpoints", params.asv_model,
                             params.asv_training, seed)
    else:
        attacker = ignorant
    save_asv(attacker, out_dir / ATTACKER_DIR / ASV_FILE)

    trials_rows, trial_waves = read_waves(trial_table(anonymized), "anonymized trials")
    enrollment, trials = make_trials(trials_rows, seed,
                                     params.evaluation.enrollment_per_speaker)
    original = manifest_table(Path(inputs.manifest))
    original_rows, original_waves = read_waves(
        original[original["utt_id"].isin(enrollment["utt_id"])], "original enrollment")
    heard = dict(zip(trials_rows["utt_id"], trial_waves))
    attackers = [("ignorant", ignorant, heard | dict(zip(original_rows["utt_id"],
                                                         original_waves))),
                 ("semi-informed", attacker, heard)]
    if informed is not None:
        attackers.append(("informed", load_asv(informed), heard))
    metrics, scored = {}, []
    for attacker_name, model, waves in attackers:
        values, table = evaluation.privacy(attacker_name, model, enrollment, trials, waves,
                                           resamples, seed)
        metrics |= values
        scored.append(table)

    ser_rows, ser_waves = read_waves(
        emotion_table(read_anonymized(anonymized_dir / "iemocap")), "anonymized IEMOCAP")
    models = {path.parent.name: load_ser(path)
              for path in sorted(Path(inputs.emotion_dir).glob("*/ser.pt"))}
    values, predictions = evaluation.emotion_utility(
        models, ser_rows, ser_waves, params.evaluation.dev_sessions, resamples, seed)
    metrics |= values

    values, transcripts = evaluation.content_utility(
        load_asr(Path(inputs.asr_dir) / MODEL_FILE), trials_rows, trial_waves, resamples, seed)
    metrics |= values

    pd.concat(scored).to_csv(out_dir / "trials.csv", index=False)
    predictions.to_csv(out_dir / "emotions.csv", index=False)
    transcripts.to_csv(out_dir / "transcripts.csv", index=False)
    write_metrics(out_dir / EVALUATION_FILE, {"system": name, "metrics": metrics})
    for file in (EVALUATION_FILE, "trials.csv", "emotions.csv", "transcripts.csv"):
        mlflow.log_artifact(str(out_dir / file), "evaluation")
    return metrics


def report(evaluations_dir: Path, out_dir: Path, metrics_path: Path, section: dict) -> dict:
    """Table 1 (`voxflow.anonymization.report`) from the rows' evaluations (the folders under
    `evaluations_dir`, each naming its row in evaluation.json) in table 1's order
    (`AnonymizationParams.rows`), with figure 4 of the admixtures, to out_dir (report.md,
    results.csv, privacy_utility.png, admixture.csv, admixture.png); every row's metrics,
    prefixed with its name, to `metrics_path`."""
    import mlflow

    from voxflow.anonymization.params import admixture_row
    from voxflow.anonymization.report import write_report

    params = _setup(section)
    found = {saved["system"]: saved["metrics"] for saved in (
        read_json(path) for path in sorted(Path(evaluations_dir).glob(f"*/{EVALUATION_FILE}")))}
    missing = [row for row in params.rows if row not in found]
    if missing:
        raise ValueError(f"{evaluations_dir}: no evaluation of row(s) {', '.join(missing)} "
                         f"(found {', '.join(found) or 'none'})")
    ordered = {row: found[row] for row in params.rows}
    mix = params.admixture
    sweep = {p: admixture_row(p) for p in mix.p}
    with stage_run("anon-report", {"rows": list(ordered)}, inputs=[Path(evaluations_dir)]):
        write_report(ordered, Path(out_dir), admixture=(sweep, mix.first, mix.second))
        metrics = {f"{row}/{key}": value for row, values in ordered.items()
                   for key, value in values.items()}
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(out_dir), "report")
    write_metrics(Path(metrics_path), metrics)
    return metrics


def register(ssl_dir: Path, vocoder_dir: Path, asr_dir: Path, voice_acoustic: Path,
             voice_duration: Path, linguistic_dir: Path, world_json: Path, conversion_dir: Path,
             report_metrics: Path, out_path: Path, section: dict) -> dict:
    """Log the SSL encoder as the pyfunc `registry.ssl_model_name` and every anonymizer as
    `<registry.model_name>-<row>`: each kNN-VC system, the cascade (the recognizer of
    `asr_dir` and the MLMS voice's files), the admixture (`-admixture`, both, at the first p of
    `admixture.p`, another p a predict parameter) and each conversion variant (the converters
    in the folders under `conversion_dir`, each naming its variant in variant.json); register
    each @candidate, tagged with its row's averages; the versions to `out_path` (DVC metrics)
    and returned."""
    import torch

    from voxflow import registry
    from voxflow.anonymization.params import CASCADE, admixture_row
    from voxflow.anonymization.pyfunc import CascadeFiles, log_anonymizer, log_ssl

    params = _setup(section)
    metrics = read_json(Path(report_metrics))
    names = params.registry
    cascade_files = CascadeFiles(Path(asr_dir), Path(voice_acoustic), Path(voice_duration),
                                 Path(linguistic_dir), Path(world_json),
                                 params.cascade.postfilter, params.cascade.whisper_file)
    folders = {"ssl_dir": Path(ssl_dir), "vocoder_dir": Path(vocoder_dir)}
    p = params.admixture.p[0]
    anonymizers = {system: (system, {"knnvc": settings.knnvc, **folders})
                   for system, settings in params.systems.items() if settings.kind != "origin"}
    anonymizers[CASCADE] = (CASCADE, {"cascade": cascade_files})
    anonymizers["admixture"] = (admixture_row(p), {
        "knnvc": params.system(params.admixture.second).knnvc, **folders,
        "cascade": cascade_files, "p": p})
    for file in sorted(Path(conversion_dir).glob(f"*/{VARIANT_FILE}")):
        saved = read_json(file)
        anonymizers[saved["variant"]] = (saved["variant"], {
            "conversion": (file.parent, saved["target"]), **folders})
    missing = sorted(set(params.conversion.variants) - set(anonymizers))
    if missing:
        raise ValueError(f"{conversion_dir}: no converter of variant(s) {', '.join(missing)}")
    versions = {}
    with stage_run("anon-register", names,
                   inputs=[Path(ssl_dir), Path(vocoder_dir), Path(asr_dir), Path(voice_acoustic),
                           Path(voice_duration), Path(conversion_dir), Path(report_metrics)]):
        layer = int(torch.load(Path(vocoder_dir) / MATCHING_SETS, weights_only=True)["layer"])
        versions[names.ssl_model_name] = registry.register(
            log_ssl(Path(ssl_dir), layer), names.ssl_model_name, {"layer": layer})
        for system, (row, parts) in anonymizers.items():
            name = f"{names.model_name}-{system}"
            tags = {key.split("/", 1)[1]: value for key, value in metrics.items()
                    if key.startswith(f"{row}/") and key.endswith("/avg")}
            uri = log_anonymizer(system, params.seed, **parts)
            versions[name] = registry.register(uri, name, tags)
    decision = {"versions": versions}
    write_metrics(Path(out_path), decision)
    return decision
