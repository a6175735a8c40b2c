"""params.yaml's `anonymization` section, parsed once by a stage (`anonymization_params`).

`preset` picks every model's size and training recipe (tiny: the CPU minutes of the embedded
default; paper: the reference sizes, WavLM Large among them); the `*_training` keys of the
section hold overrides of the preset's recipe, key by key. The recipes live beside their models:
`voxflow.anonymization.{ssl,vocoder,asv,emotion,asr}`'s MODELS and TRAINING.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from voxflow.anonymization import asr, asv, conversion, emotion, ssl, vocoder
from voxflow.anonymization.knnvc import KnnVCConfig
from voxflow.stage_io import parse, with_preset

KINDS = ("origin", "knnvc")
CASCADE = "cascade"             # the cascade's row of table 1
# a training section of params.yaml -> the module holding its model and recipe presets
MODULES = {"ssl_training": ssl, "vocoder_training": vocoder, "asv_training": asv,
           "emotion_training": emotion, "asr_training": asr, "conversion_training": conversion}
PRESETS = {preset: {part: asdict(module.TRAINING[preset]) for part, module in MODULES.items()}
           for preset in ("tiny", "paper")}


@dataclass(frozen=True)
class CorpusParams:
    size: str                   # the synthetic LibriTTS's size (vpc: 8 readers per gender in
    #                             dev-clean and test-clean, 24 training readers)
    seed: int


@dataclass(frozen=True)
class SSLParams:
    checkpoint: str | None      # a WavLM Large state dict file: used instead of pretraining
    layer: int | None           # the layer kNN-VC and the vocoder use; None: the best phone
    #                             layer of the trained model by the linear probes
    probe_share: float          # held-out share of each speaker's probe utterances


def admixture_row(p: float) -> str:
    """The name of the admixture row at `p`, as its anon-admixture@<p> stage writes it."""
    return f"admixture-{p:g}"


@dataclass(frozen=True)
class SystemParams:
    """An anonymizer: `origin` (none, table 1's row 0) or `knnvc` with its config."""
    kind: str
    knnvc: KnnVCConfig = KnnVCConfig()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"params.yaml anonymization.systems: kind {self.kind!r} is not "
                             f"one of {', '.join(KINDS)}")


@dataclass(frozen=True)
class CascadeParams:
    """The cascaded ASR-TTS row (table 1, ID 4; `voxflow.anonymization.cascade`)."""
    voice: str                  # the MLMS model that speaks (models/mlms/<voice>/model.pt)
    postfilter: bool            # the cepstral post-filter on its generated mel-cepstra
    whisper: str | None         # an openai-whisper checkpoint file (e.g. medium.en.pt) that
    #                             transcribes; None: the evaluation's recognizer (anon-asr)

    @property
    def whisper_file(self) -> Path | None:
        return Path(self.whisper) if self.whisper else None


@dataclass(frozen=True)
class ConversionParams:
    """The WavLM-feature conversion rows (table 1, IDs 5-8; `voxflow.anonymization.conversion`),
    one converter per variant, trained on kNN-VC's conversions towards one target speaker."""
    target: str | None          # the target speaker a (a LibriTTS training speaker); None: the
    #                             first of the matching sets in sorted order
    variants: dict[str, dict]   # row name -> its overrides of conversion_training (the
    #                             additions' weights and reconstruction share)


@dataclass(frozen=True)
class AdmixtureParams:
    """Random admixture rows (paper 003 section 2.4): per utterance `first` with probability p,
    `second` otherwise, one row `admixture-<p>` per p."""
    first: str                  # the cascade's row name, `cascade`
    second: str                 # a key of systems (kNN-VC): its semi-informed attacker is
    #                             also the informed attacker of every admixture
    p: tuple[float, ...]

    def __post_init__(self):
        bad = [p for p in self.p if not 0 < p < 1]
        if bad:
            raise ValueError(f"params.yaml anonymization.admixture.p: {bad} not in (0, 1) "
                             "(0 and 1 are the two systems' own rows)")


@dataclass(frozen=True)
class EvaluationParams:
    enrollment_per_speaker: int     # LibriTTS dev/test utterances per speaker enrolled
    dev_sessions: tuple[str, ...]   # IEMOCAP sessions of the dev set; the others are test
    resamples: int                  # bootstrap resamples of every interval
    probe_utterances: int           # MLMS corpus utterances per speaker probed (0: all)


@dataclass(frozen=True)
class RegistryNames:
    model_name: str                 # each anonymizer is models:/<model_name>-<system>@candidate
    ssl_model_name: str             # the SSL encoder: models:/<ssl_model_name>@candidate


@dataclass(frozen=True)
class AnonymizationParams:
    preset: str
    seed: int
    threads: int                    # torch CPU threads of the stages (0: torch's default)
    corpus: CorpusParams
    ssl: SSLParams
    vocoder: str                    # what kNN-VC's matched frames carry and what makes audio
    #                                 of them (`vocoder.VOCODERS`): ssl-hifigan, mel-hifigan,
    #                                 mel-griffin-lim
    griffin_lim_iterations: int     # of mel-griffin-lim (momentum 0.99)
    ssl_training: ssl.SSLTrainConfig
    vocoder_training: vocoder.VocoderTrainConfig
    asv_training: asv.ASVTrainConfig
    emotion_training: emotion.EmotionTraining
    asr_training: asr.ASRTraining
    conversion_training: conversion.ConversionTraining
    systems: dict[str, SystemParams]
    cascade: CascadeParams
    conversion: ConversionParams
    admixture: AdmixtureParams
    evaluation: EvaluationParams
    registry: RegistryNames

    def __post_init__(self):
        if self.admixture.second not in self.systems or self.admixture.first != CASCADE:
            raise ValueError(f"params.yaml anonymization.admixture: first must be {CASCADE!r} "
                             f"and second a key of systems ({', '.join(self.systems)}), got "
                             f"{self.admixture.first!r} and {self.admixture.second!r}")
        if self.vocoder not in vocoder.VOCODERS:
            raise ValueError(f"params.yaml anonymization.vocoder: {self.vocoder!r} is not one "
                             f"of {', '.join(vocoder.VOCODERS)}")
        if self.griffin_lim_iterations < 1:
            raise ValueError(f"params.yaml anonymization.griffin_lim_iterations must be >= 1, "
                             f"got {self.griffin_lim_iterations}")

    @property
    def ssl_model(self) -> ssl.SSLConfig:
        return ssl.MODELS[self.preset]

    @property
    def asv_model(self) -> asv.ECAPAConfig:
        return asv.MODELS[self.preset]

    @property
    def emotion_model(self) -> emotion.EmotionConfig:
        return emotion.MODELS[self.preset]

    @property
    def asr_model(self) -> asr.ASRConfig:
        return asr.MODELS[self.preset]

    def vocoder_model(self, feature_dim: int) -> vocoder.VocoderConfig:
        """The preset's vocoder reading features of `feature_dim` (the SSL model's width, or
        the log-mels' 80)."""
        return vocoder.VocoderConfig.from_dict({**asdict(vocoder.MODELS[self.preset]),
                                                "feature_dim": feature_dim})

    @property
    def rows(self) -> list[str]:
        """Every row of table 1 in its order: the systems, the cascade, the admixtures, the
        conversion variants."""
        return [*self.systems, CASCADE, *(admixture_row(p) for p in self.admixture.p),
                *self.conversion.variants]

    def conversion_model(self, feature_dim: int) -> conversion.ConverterConfig:
        """The preset's converter of SSL features of `feature_dim`."""
        return replace(conversion.MODELS[self.preset], feature_dim=feature_dim)

    def conversion_variant(self, name: str) -> conversion.ConversionTraining:
        """The training of conversion variant `name`: conversion_training with its overrides."""
        if name not in self.conversion.variants:
            raise ValueError(f"unknown conversion variant {name!r}; params.yaml "
                             f"anonymization.conversion.variants has "
                             f"{', '.join(self.conversion.variants)}")
        return parse(conversion.ConversionTraining,
                     {**asdict(self.conversion_training), **self.conversion.variants[name]},
                     f"params.yaml anonymization.conversion.variants.{name}")

    def system(self, name: str) -> SystemParams:
        if name not in self.systems:
            raise ValueError(f"unknown anonymization system {name!r}; params.yaml "
                             f"anonymization.systems has {', '.join(self.systems)}")
        return self.systems[name]


def anonymization_params(section: dict) -> AnonymizationParams:
    return parse(AnonymizationParams, with_preset(section, PRESETS, "params.yaml anonymization"),
                 "params.yaml anonymization")
