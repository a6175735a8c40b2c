"""CTC speech recognition for the VoicePrivacy 2024 utility metric: WER of a recognizer trained
on ORIGINAL LibriSpeech/LibriTTS speech and run on anonymized speech (paper 003, table 1,
"Utility - WER", libri-dev and libri-test).

The network: stride-2 1-D convolutions over 80-bin fbank (`voxflow.anonymization.audio.fbank`)
that shorten the time axis 2x or 4x, bidirectional LSTMs, a linear layer to the tokens and the
CTC blank (Graves et al. 2006), greedy decoding (best path, repeats collapsed, blanks dropped).
Tokens are characters of the normalised text (`voxflow.evaluation.transcripts.normalize_text`:
a-z, apostrophe, space) or, as an option, whole words of a closed vocabulary (words never seen in
training cannot be recognised; on the tiny synthetic LibriTTS they learn slower than characters,
see `TRAINING`). The inventory is built
from the training transcripts and saved with the model; WER comes from
`voxflow.evaluation.transcripts.evaluate_transcripts` (jiwer, the same normalisation).

Documented departure: the VPC 2024 recognizer is a SpeechBrain wav2vec2-large model fine-tuned
with CTC on LibriSpeech; no pretrained weights exist here, so the "paper" preset is a
filterbank BiLSTM-CTC of the size of Eesen's character model (Miao et al. 2015: 4
bidirectional LSTM layers of 320 cells per direction), with a 2x convolutional subsampling in
front; "tiny" trains in CPU minutes.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from voxflow.anonymization.audio import N_MELS, fbank_features, pad_features
from voxflow.evaluation.report import Report
from voxflow.evaluation.transcripts import evaluate_transcripts, normalize_text
from voxflow.training.distributed import distributed_env
from voxflow.training.loop import TrainConfig, train
from voxflow.training.precision import CPUFloat32LSTM
from voxflow.training.selection import train_keeping_best

BLANK = "<blank>"           # the CTC blank, token 0
TOKEN_KINDS = ("chars", "words")
MODEL_FILE = "asr.pt"
TRANSCRIBE_BATCH = 16       # utterances per forward pass in `transcribe`


@dataclass(frozen=True)
class ASRConfig:
    """Sizes of the `CTCRecognizer` and its token kind."""
    tokens: str = "chars"       # "chars" (open vocabulary) or "words" (closed, the training's)
    subsampling: int = 2        # 2 or 4: time reduction of the stride-2 convolutions (10 ms in)
    conv_channels: int = 320    # width of the subsampling convolutions
    lstm_cells: int = 320       # per direction (Eesen: 320)
    lstm_layers: int = 4        # bidirectional layers (Eesen: 4)
    dropout: float = 0.1        # between the LSTM layers

    def __post_init__(self):
        if self.tokens not in TOKEN_KINDS:
            raise ValueError(f"tokens must be one of {TOKEN_KINDS}, got {self.tokens!r}")
        if self.subsampling not in (2, 4):
            raise ValueError(f"subsampling must be 2 or 4, got {self.subsampling}")


@dataclass(frozen=True)
class ASRTraining:
    """Optimisation of the recognizer."""
    steps: int                  # optimizer steps
    batch_size: int             # whole utterances per step, zero-padded
    lr: float                   # Adam
    grad_clip: float            # max global gradient norm: CTC gradients spike early on
    validate_every: int         # steps between dev WERs (with a dev set; the best is kept)
    checkpoint_every: int       # steps between checkpoints (the loop's resumption)
    log_every: int              # steps between logged losses


MODELS = {
    # the synthetic LibriTTS: 4x subsampling leaves 25 frames/s for at most ~16 characters/s
    "tiny": ASRConfig(tokens="chars", subsampling=4, conv_channels=128, lstm_cells=128,
                      lstm_layers=2, dropout=0.0),
    "paper": ASRConfig(),
}
TRAINING = {
    # ~0.4 s per step on one core. Tiny LibriTTS (96 training utterances), WER / CER on dev-clean
    # + test-clean: 300 steps 0.85 / 0.24, 375 steps (160 s) 0.77 / 0.19, still falling; word
    # tokens emitted only blanks after 300 steps (WER 1.0)
    "tiny": ASRTraining(steps=600, batch_size=8, lr=2e-3, grad_clip=5.0, validate_every=200,
                        checkpoint_every=200, log_every=25),
    "paper": ASRTraining(steps=100_000, batch_size=32, lr=1e-3, grad_clip=5.0,
                         validate_every=2000, checkpoint_every=2000, log_every=100),
}


@dataclass(frozen=True)
class Tokenizer:
    """Normalised text <-> token ids; `units[0]` is the blank."""
    kind: str                   # "chars" or "words"
    units: tuple[str, ...]      # the blank, then the sorted characters or words

    @classmethod
    def from_texts(cls, texts: Sequence[str], kind: str) -> Tokenizer:
        """The inventory of the (normalised) training transcripts."""
        found: set[str] = set()
        for text in texts:
            found.update(split_units(text, kind))
        return cls(kind, (BLANK, *sorted(found)))

    def encode(self, text: str) -> list[int]:
        """Token ids of the normalised `text`; ValueError naming a unit not in the inventory."""
        index = {unit: i for i, unit in enumerate(self.units)}
        units = split_units(text, self.kind)
        unknown = [u for u in units if u not in index]
        if unknown:
            raise ValueError(f"{text!r}: {self.kind[:-1]} {unknown[0]!r} is not in the token "
                             "inventory")
        return [index[u] for u in units]

    def decode(self, ids: Sequence[int]) -> str:
        """The text of token ids (blanks must be removed first, e.g. by `greedy_ctc`)."""
        return ("" if self.kind == "chars" else " ").join(self.units[i] for i in ids)


def split_units(text: str, kind: str) -> list[str]:
    """The normalised text as characters (spaces included) or words."""
    normalised = normalize_text(text)
    return list(normalised) if kind == "chars" else normalised.split()


def greedy_ctc(log_probs: torch.Tensor) -> list[int]:
    """Best-path decoding of (frames, tokens) scores: the most likely token per frame, repeats
    collapsed, blanks (token 0) dropped."""
    best = log_probs.argmax(dim=-1).tolist()
    return [token for i, token in enumerate(best)
            if token != 0 and (i == 0 or token != best[i - 1])]


def ctc_frames_needed(ids: Sequence[int]) -> int:
    """Fewest frames CTC needs for a label sequence: one per token, plus a blank between two
    equal neighbours."""
    return len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))


def subsampled_lengths(lengths: torch.Tensor, subsampling: int) -> torch.Tensor:
    """Frame counts after log2(subsampling) convolutions of kernel 3, stride 2, padding 1."""
    for _ in range(int(math.log2(subsampling))):
        lengths = (lengths - 1) // 2 + 1
    return lengths


class CTCRecognizer(nn.Module):
    """fbank (batch, frames, 80) and frame counts (batch,) -> CTC log-probabilities (batch,
    frames / subsampling, tokens) in float32 and their frame counts (batch,)."""

    def __init__(self, config: ASRConfig, tokenizer: Tokenizer):
        super().__init__()
        if tokenizer.kind != config.tokens:
            raise ValueError(f"a {tokenizer.kind} tokenizer for a {config.tokens} model")
        self.config, self.tokenizer = config, tokenizer
        layers: list[nn.Module] = []
        width = N_MELS
        for _ in range(int(math.log2(config.subsampling))):
            layers += [nn.Conv1d(width, config.conv_channels, 3, stride=2, padding=1), nn.ReLU()]
            width = config.conv_channels
        self.subsample = nn.Sequential(*layers)
        self.lstm = CPUFloat32LSTM(width, config.lstm_cells, config.lstm_layers,
                                   batch_first=True, bidirectional=True,
                                   dropout=config.dropout if config.lstm_layers > 1 else 0.0)
        self.output = nn.Linear(2 * config.lstm_cells, len(tokenizer.units))

    def forward(self, features: torch.Tensor, lengths: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.subsample(features.transpose(1, 2)).transpose(1, 2)
        lengths = subsampled_lengths(lengths, self.config.subsampling)
        # the backward direction starts at each utterance's own last frame
        x = self.lstm.padded_outputs(x, lengths)
        return F.log_softmax(self.output(x).float(), dim=-1), lengths


def ctc_batches(features: list[torch.Tensor], targets: list[list[int]], batch_size: int):
    """The loop's `sample_batch`: `batch_size` whole utterances drawn uniformly; returns
    (features, lengths, concatenated targets, target lengths)."""

    def sample(generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        chosen = torch.randint(len(features), (batch_size,), generator=generator).tolist()
        return (*pad_features([features[i] for i in chosen]),
                torch.tensor([t for i in chosen for t in targets[i]], dtype=torch.long),
                torch.tensor([len(targets[i]) for i in chosen]))

    return sample


def ctc_loss(model: nn.Module, batch: tuple) -> tuple[torch.Tensor, dict]:
    """The loop's loss: CTC (float32), each utterance's divided by its target length, averaged
    over the batch."""
    features, lengths, targets, target_lengths = batch
    log_probs, frames = model(features, lengths)
    loss = F.ctc_loss(log_probs.transpose(0, 1), targets, frames, target_lengths, blank=0)
    return loss, {}


def train_asr(waves: Sequence[np.ndarray], texts: Sequence[str], out_dir: Path,
              model: ASRConfig, training: ASRTraining, seed: int,
              dev: tuple[Sequence[np.ndarray], Sequence[str]] | None = None) -> CTCRecognizer:
    """A recognizer trained on 16 kHz `waves` and their transcripts, the token inventory built
    from `texts`; checkpoints in out_dir/checkpoints and the model in out_dir/asr.pt. With `dev`
    (waves, texts), the dev WER is measured every `validate_every` steps and the weights of the
    lowest are kept (the history is saved with the model)."""
    if len(waves) != len(texts):
        raise ValueError(f"{len(waves)} waveforms but {len(texts)} transcripts")
    tokenizer = Tokenizer.from_texts(texts, model.tokens)
    features = fbank_features(waves)
    targets = [tokenizer.encode(text) for text in texts]
    for i, (feature, ids) in enumerate(zip(features, targets)):
        frames = int(subsampled_lengths(torch.tensor(len(feature)), model.subsampling))
        if frames < ctc_frames_needed(ids):
            raise ValueError(f"utterance {i}: {frames} frames after {model.subsampling}x "
                             f"subsampling, too few for its {len(ids)} {model.tokens} "
                             f"({texts[i]!r}); use subsampling 2 or drop it")
    out_dir = Path(out_dir)
    torch.manual_seed(seed)                 # the initial weights: same seed, same model
    recognizer = CTCRecognizer(model, tokenizer)
    loop = TrainConfig(steps=training.steps, checkpoint_every=training.checkpoint_every,
                       log_every=training.log_every, validate_every=training.validate_every,
                       seed=seed, lr=training.lr, grad_clip=training.grad_clip)
    sampler = ctc_batches(features, targets, training.batch_size)
    if dev is None:
        validation = train(recognizer, ctc_loss, sampler, out_dir / "checkpoints", loop).validation
    else:
        dev_features, dev_texts = fbank_features(dev[0]), list(dev[1])
        ids = [str(i) for i in range(len(dev_texts))]

        def dev_wer(m: nn.Module) -> float:
            hypotheses = transcribe_features(m, dev_features)
            return evaluate_transcripts(dict(zip(ids, dev_texts)),
                                        dict(zip(ids, hypotheses))).metrics["wer"]

        # the history's values are dev WERs, under train_keeping_best's name "dev_mse"
        validation = train_keeping_best(recognizer, ctc_loss, sampler, out_dir, loop, dev_wer)
    save_asr(recognizer, out_dir / MODEL_FILE, validation)
    return recognizer.eval()


def save_asr(model: CTCRecognizer, path: Path, validation: list[dict] | None = None) -> Path:
    """Sizes, token inventory, weights and the training's validation history in one file (rank 0
    only under torchrun)."""
    if distributed_env().is_main:
        torch.save({"config": asdict(model.config), "units": list(model.tokenizer.units),
                    "state": model.state_dict(), "validation": validation or []}, path)
    return Path(path)


def load_asr(path: Path) -> CTCRecognizer:
    """A recognizer saved by `save_asr`, in eval mode."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    config = ASRConfig(**saved["config"])
    model = CTCRecognizer(config, Tokenizer(config.tokens, tuple(saved["units"])))
    model.load_state_dict(saved["state"])
    return model.eval()


@torch.no_grad()
def transcribe_features(model: CTCRecognizer, features: Sequence[torch.Tensor]) -> list[str]:
    """Greedy CTC transcripts of (frames, 80) fbank tensors (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    texts: list[str] = []
    for start in range(0, len(features), TRANSCRIBE_BATCH):
        batch, lengths = pad_features(features[start:start + TRANSCRIBE_BATCH])
        log_probs, frames = model(batch.to(device), lengths.to(device))
        texts += [model.tokenizer.decode(greedy_ctc(scores[:n]))
                  for scores, n in zip(log_probs.cpu(), frames.tolist())]
    return texts


def transcribe(model: CTCRecognizer, waves: Sequence[np.ndarray]) -> list[str]:
    """Greedy CTC transcript of each 16 kHz waveform."""
    return transcribe_features(model, fbank_features(waves))


def wer(model: CTCRecognizer, waves: Sequence[np.ndarray], texts: Sequence[str],
        ids: Sequence[str]) -> Report:
    """`evaluate_transcripts` of the model's transcripts of `waves` against `texts` (utterance
    ids `ids`): corpus WER and CER, and the per-utterance table."""
    if not len(waves) == len(texts) == len(ids):
        raise ValueError(f"{len(waves)} waveforms, {len(texts)} transcripts and {len(ids)} ids: "
                         "expected one of each per utterance")
    if len(set(ids)) != len(ids):
        raise ValueError("utterance ids must be distinct")
    hypotheses = transcribe(model, waves)
    return evaluate_transcripts(dict(zip(ids, texts)), dict(zip(ids, hypotheses)))
