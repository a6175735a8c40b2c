"""Self-supervised speech features trained in-project: a WavLM encoder pretrained as HuBERT.

The encoder is torchaudio's WavLM (Chen et al. 2022, built by `torchaudio.models.wavlm_model`):
a convolutional feature extractor with WavLM's kernels and strides (one frame per 320 samples,
20 ms, `audio.HOP`) and a transformer with gated relative position bias. `SSLEncoder` returns the
hidden states of every layer (0: the projected conv features, the transformer's input; i: layer
i), as kNN-VC (Baas et al. 2023) takes WavLM Large's layer 6.

Pretraining follows HuBERT (Hsu et al. 2021): the targets are k-means units of 39-d MFCCs at the
encoder's frame grid (iteration 1) or of the previous iteration's model's `label_layer` features
(later iterations, a new model each time); spans of the transformer input are replaced by a
learned mask embedding as in wav2vec 2.0 (Baevski et al. 2020: each frame starts a span of 10
with probability 0.08); the masked frames' units are predicted by cosine similarity between the
projected last layer and learned unit embeddings over a temperature of 0.1, with cross-entropy.
Not implemented: WavLM's utterance mixing (denoising) and HuBERT's conv gradient scaling.

At paper size (`MODELS["paper"]`, WavLM Large) no pretraining is run: `load_pretrained_wavlm`
loads the weights torchaudio's WAVLM_LARGE bundle downloads, a state dict of the same model.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchaudio.models import wavlm_model
from torchaudio.models.wav2vec2.components import LayerNorm as ChannelLayerNorm
from tqdm import tqdm

from voxflow.anonymization.audio import HOP, RATE
from voxflow.features.spectral import mfcc
from voxflow.parallel import progress_disabled

log = logging.getLogger(__name__)

SSL_FILE = "ssl.pt"
STORED_FEATURES = "features.pt"     # `store_features`'s file in the anon-features folder
# WavLM's conv feature extractor, (kernel, stride) per layer: 400-sample receptive field, 320 hop
CONV_GEOMETRY = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))
RECEPTIVE_FIELD = 400       # samples seen by one frame: frame t covers samples HOP*t .. HOP*t+400
IGNORED = -1                # unit target of padded frames


def frame_count(samples: int) -> int:
    """Frames the encoder gives for `samples` samples (0 below one receptive field)."""
    return max(0, (samples - RECEPTIVE_FIELD) // HOP + 1)


@dataclass
class SSLConfig:
    conv_channels: int        # channels of every conv extractor layer (WavLM: 512)
    dim: int                  # transformer width (encoder_embed_dim)
    layers: int               # transformer layers
    heads: int                # attention heads
    ffn_dim: int              # feed-forward hidden width
    pos_conv_kernel: int      # frames of the convolutional position embedding (WavLM: 128)
    pos_conv_groups: int      # its groups (WavLM: 16)
    num_buckets: int = 320    # relative-position buckets of the gated attention bias (WavLM)
    max_distance: int = 800   # frames beyond which relative positions share a bucket (WavLM)
    extractor_mode: str = "layer_norm"  # per-frame LayerNorm in every conv block (WavLM Large)
    conv_bias: bool = False   # biases in the conv extractor (WavLM: none)
    layer_norm_first: bool = True  # pre-LN transformer layers (WavLM Large)
    projection_dropout: float = 0.0  # after the conv features' projection to `dim`
    attention_dropout: float = 0.0   # on the attention weights
    ffn_dropout: float = 0.0         # inside the feed-forward block
    dropout: float = 0.0             # on every residual branch
    layer_drop: float = 0.0          # probability of skipping a layer in training (LayerDrop)
    normalize_waveform: bool = True  # each utterance to zero mean, unit variance (WavLM Large)

    def __post_init__(self):
        for name in ("conv_channels", "dim", "layers", "heads", "ffn_dim", "pos_conv_kernel",
                     "pos_conv_groups"):
            if getattr(self, name) < 1:
                raise ValueError(f"SSLConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.dim % self.heads or self.dim % self.pos_conv_groups:
            raise ValueError(f"SSLConfig.dim {self.dim} must be divisible by heads {self.heads} "
                             f"and pos_conv_groups {self.pos_conv_groups}")
        if self.extractor_mode not in ("layer_norm", "group_norm"):
            raise ValueError(f"SSLConfig.extractor_mode must be 'layer_norm' or 'group_norm', got "
                             f"{self.extractor_mode!r}")


MODELS = {
    # ~1.4 M parameters: 1200 steps of 8 two-second crops in about 7 minutes on one CPU core;
    # no dropout, as so few steps on a small corpus need none
    "tiny": SSLConfig(conv_channels=64, dim=192, layers=4, heads=4, ffn_dim=384,
                      pos_conv_kernel=32, pos_conv_groups=8),
    # WavLM Large, torchaudio.models.wavlm_large() (~316 M parameters)
    "paper": SSLConfig(conv_channels=512, dim=1024, layers=24, heads=16, ffn_dim=4096,
                       pos_conv_kernel=128, pos_conv_groups=16, projection_dropout=0.1,
                       attention_dropout=0.1, ffn_dropout=0.0, dropout=0.1, layer_drop=0.1),
}


@dataclass
class SSLTrainConfig:
    steps: int = 300                # optimizer steps per iteration
    batch_size: int = 8             # crops per step
    crop_s: float = 2.0             # seconds per crop (shorter utterances are padded)
    lr: float = 5e-4                # peak Adam learning rate (HuBERT Base: 5e-4)
    warmup_share: float = 0.08      # linear warm-up over this share of the steps, then linear
    #                                 decay to 0 (HuBERT's schedule)
    grad_clip: float | None = 10.0  # max global gradient norm (fairseq's HuBERT recipe: 10)
    units: tuple[int, ...] = (50,)  # k-means K of each iteration; one iteration per entry
    #                                 (HuBERT Base: 100 on MFCCs, then 500 on layer 6)
    label_layer: int = 2            # layer of the previous iteration's model clustered for the
    #                                 next (HuBERT Base: 6 of 12)
    mask_prob: float = 0.08         # probability that a frame starts a masked span (HuBERT)
    mask_span: int = 10             # frames per masked span (HuBERT)
    projection_dim: int = 64        # of the output projection and unit embeddings (HuBERT's
    #                                 final_dim: Base 256, Large 768)
    temperature: float = 0.1        # of the cosine-similarity logits (HuBERT)
    unmasked_weight: float = 0.0    # share of the loss on the unmasked frames' units, HuBERT's
    #                                 1 - alpha (HuBERT: 0, masked frames only; it found unmasked
    #                                 prediction worse given 400k steps, but in a few hundred
    #                                 it makes every frame's features carry its unit)
    kmeans_frames: int = 100_000    # frames drawn (seeded) to fit each k-means: bounds its cost
    checkpoint_every: int = 1000    # steps between checkpoints
    log_every: int = 50             # steps between MLflow metrics

    def __post_init__(self):
        self.units = tuple(int(k) for k in self.units)
        if not self.units or min(self.units) < 2:
            raise ValueError(f"SSLTrainConfig.units needs one K >= 2 per iteration, got "
                             f"{self.units}")
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"SSLTrainConfig.mask_prob must be in (0, 1), got {self.mask_prob}")
        if self.mask_span < 1:
            raise ValueError(f"SSLTrainConfig.mask_span must be >= 1, got {self.mask_span}")
        if frame_count(round(self.crop_s * RATE)) < self.mask_span:
            raise ValueError(f"SSLTrainConfig.crop_s {self.crop_s} s holds fewer frames than one "
                             f"mask span ({self.mask_span})")
        if not 0.0 <= self.unmasked_weight <= 1.0:
            raise ValueError(f"SSLTrainConfig.unmasked_weight must be in [0, 1], got "
                             f"{self.unmasked_weight}")
        if not 0.0 <= self.warmup_share < 1.0:
            raise ValueError(f"SSLTrainConfig.warmup_share must be in [0, 1), got "
                             f"{self.warmup_share}")

    @property
    def iterations(self) -> int:
        return len(self.units)


TRAINING = {
    # kNN-VC on its best layer, the matched frames' fbanks read by the ASR, 32 dev utterances:
    # CER 0.85 after 300 masked-only steps; with unmasked_weight 0.5: 0.61 after 300 steps,
    # 0.48 after 600, 0.34 after 1200 (matching on MFCCs: 0.26)
    "tiny": SSLTrainConfig(steps=1200, unmasked_weight=0.5),
    # HuBERT Large's recipe (Hsu et al. 2021): 400k steps, peak lr 1.5e-3, ~7200 s of audio per
    # step in crops of at most 250k samples; its labels come from HuBERT Base's 9th layer
    "paper": SSLTrainConfig(steps=400_000, batch_size=460, crop_s=15.6, lr=1.5e-3,
                            units=(100, 500), label_layer=9, projection_dim=768,
                            kmeans_frames=10_000_000, checkpoint_every=5000, log_every=200),
}


def mfcc39(wave: np.ndarray) -> np.ndarray:
    """(frames, 39) float32: 13 MFCCs with deltas and double deltas of 16 kHz audio, 25 ms
    windows every 20 ms, so frame t covers samples HOP*t .. HOP*t+400 like the encoder's frame t
    (the same frame count for audio of at least 400 samples)."""
    return mfcc(np.asarray(wave, np.float32), RATE, n_mfcc=13, win_s=RECEPTIVE_FIELD / RATE,
                hop_s=HOP / RATE, deltas=True)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """torch's CPU random state seeded with `seed` inside, restored after (weights are initialised
    from it without disturbing the caller's stream)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class ContiguousChannelLayerNorm(ChannelLayerNorm):
    """torchaudio's LayerNorm over the channels of (B, channels, frames), its output made
    contiguous. Why: the GELU after it in each conv block otherwise gets a channel-last input
    and a contiguous gradient, and PyTorch's CPU GELU backward on mixed strides takes 10x its
    time (a quarter of a pretraining step). The same parameters and state_dict."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return super().forward(input).contiguous()


def set_channel_norms(model: nn.Module, norm_type: type[ChannelLayerNorm]) -> None:
    """Each conv block's channel LayerNorm of torchaudio's WavLM `model` made a `norm_type`,
    its parameters kept; in group_norm mode there are none (its GroupNorm stays)."""
    for block in model.feature_extractor.conv_layers:
        if isinstance(block.layer_norm, ChannelLayerNorm):
            norm = norm_type(block.layer_norm.normalized_shape, eps=block.layer_norm.eps)
            norm.load_state_dict(block.layer_norm.state_dict())
            block.layer_norm = norm


class SSLEncoder(nn.Module):
    """WavLM encoder (torchaudio's Wav2Vec2Model, in `self.model`) giving every layer's output.

    forward(waves (B, samples), lengths (B,) | None, last_layer) -> [(B, frames, dim)] of layers
    0..last_layer (default: all, `config.layers + 1` tensors); frames = (samples - 400) // 320 + 1.
    Padded frames (beyond a row's length) are zero in layer 0 and ignored by the attention."""

    def __init__(self, config: SSLConfig):
        super().__init__()
        self.config = config
        self.model = wavlm_model(
            extractor_mode=config.extractor_mode,
            extractor_conv_layer_config=[(config.conv_channels, k, s) for k, s in CONV_GEOMETRY],
            extractor_conv_bias=config.conv_bias, encoder_embed_dim=config.dim,
            encoder_projection_dropout=config.projection_dropout,
            encoder_pos_conv_kernel=config.pos_conv_kernel,
            encoder_pos_conv_groups=config.pos_conv_groups, encoder_num_layers=config.layers,
            encoder_num_heads=config.heads, encoder_num_buckets=config.num_buckets,
            encoder_max_distance=config.max_distance,
            encoder_attention_dropout=config.attention_dropout,
            encoder_ff_interm_features=config.ffn_dim,
            encoder_ff_interm_dropout=config.ffn_dropout, encoder_dropout=config.dropout,
            encoder_layer_norm_first=config.layer_norm_first,
            encoder_layer_drop=config.layer_drop, aux_num_out=None)
        set_channel_norms(self.model, ContiguousChannelLayerNorm)

    def frontend(self, waves: torch.Tensor, lengths: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, samples) -> projected conv features (B, frames, dim), the transformer's input, and
        the padding mask (B, frames), True on padded frames (None without `lengths`)."""
        if waves.ndim != 2 or waves.shape[1] < RECEPTIVE_FIELD:
            raise ValueError(f"waves must be (batch, samples) with at least {RECEPTIVE_FIELD} "
                             f"samples, got shape {tuple(waves.shape)}")
        if self.config.normalize_waveform:
            waves = _normalize(waves, lengths)
        conv, frame_lengths = self.model.feature_extractor(waves, lengths)
        x = self.model.encoder.feature_projection(conv)
        if frame_lengths is None:
            return x, None
        padding = torch.arange(x.shape[1], device=x.device)[None, :] >= frame_lengths[:, None]
        return x.masked_fill(padding[..., None], 0.0), padding

    def encode(self, x: torch.Tensor, padding: torch.Tensor | None,
               last_layer: int | None = None) -> list[torch.Tensor]:
        """Transformer input (B, frames, dim) -> [x, layer 1, ..., layer last_layer].

        The layers are run here, not by torchaudio's `extract_features`: that passes padding as an
        attention mask, which torchaudio's WavLM attention refuses; it takes a key padding
        mask."""
        transformer = self.model.encoder.transformer
        # additive, in the float32 of the position bias it is added to (a bool mask warns)
        key_padding = None if padding is None else torch.zeros(
            padding.shape, device=x.device).masked_fill(padding, float("-inf"))
        hidden = [x]
        h = transformer._preprocess(x)          # + convolutional position embedding, dropout
        position_bias = None                    # made by layer 1, passed on to the others
        for layer in transformer.layers[:last_layer]:
            if not (self.training and torch.rand(1).item() < transformer.layer_drop):
                h, position_bias = layer(h, None, position_bias=position_bias,
                                         key_padding_mask=key_padding)
            hidden.append(h)
        return hidden

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor | None = None,
                last_layer: int | None = None) -> list[torch.Tensor]:
        return self.encode(*self.frontend(waves, lengths), last_layer)


def _normalize(waves: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Each row to zero mean and unit variance over its valid samples (padding stays 0), as the
    WavLM Large bundle's layer norm of the waveform (eps 1e-5)."""
    if lengths is None:
        return F.layer_norm(waves, waves.shape[1:])
    valid = (torch.arange(waves.shape[1], device=waves.device)[None, :]
             < lengths[:, None]).to(waves.dtype)
    count = valid.sum(dim=1, keepdim=True)
    mean = (waves * valid).sum(dim=1, keepdim=True) / count
    var = (((waves - mean) * valid) ** 2).sum(dim=1, keepdim=True) / count
    return (waves - mean) / torch.sqrt(var + 1e-5) * valid


def new_encoder(config: SSLConfig, seed: int) -> SSLEncoder:
    """A randomly initialised encoder; the same seed gives the same weights."""
    with seeded(seed):
        return SSLEncoder(config)


def _checked_wave(wave: np.ndarray, name: str = "wave") -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"{name} must be one channel (samples,), got shape {wave.shape}")
    if len(wave) < RECEPTIVE_FIELD:
        raise ValueError(f"{name} has {len(wave)} samples, fewer than one encoder frame "
                         f"({RECEPTIVE_FIELD})")
    if not np.isfinite(wave).all():
        raise ValueError(f"{name} holds NaN or infinite samples")
    return wave


def layer_features(encoder: SSLEncoder, wave: np.ndarray,
                   last_layer: int | None = None) -> list[np.ndarray]:
    """Hidden states of one 16 kHz utterance, [(frames, dim)] float32 for layers 0..last_layer
    (default all); eval mode, no gradients, on the encoder's device."""
    wave = _checked_wave(wave)
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        hidden = encoder(torch.from_numpy(wave)[None].to(device), last_layer=last_layer)
    encoder.train(was_training)
    return [h[0].float().cpu().numpy() for h in hidden]


def features(encoder: SSLEncoder, wave: np.ndarray, layer: int,
             stored: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """(frames, dim) float32 features of `layer` (0: conv features, i: transformer layer i) of
    one 16 kHz utterance (samples,). `stored`: this encoder's features of `layer` computed
    before ({wave_key: features}, `load_stored_features`); a waveform found there costs no
    encoder pass."""
    if not 0 <= layer <= encoder.config.layers:
        raise ValueError(f"layer must be in 0..{encoder.config.layers}, got {layer}")
    found = stored.get(wave_key(wave)) if stored else None
    return layer_features(encoder, wave, layer)[layer] if found is None else found


def wave_key(wave: np.ndarray) -> str:
    """The key of a 16 kHz waveform's stored features: a digest of its float32 samples, so only
    the very same samples find them."""
    samples = np.ascontiguousarray(wave, dtype=np.float32)
    return hashlib.blake2b(samples.tobytes(), digest_size=16).hexdigest()


def store_features(encoder: SSLEncoder, waves: Sequence[np.ndarray], layer: int,
                   path: Path) -> Path:
    """Each waveform's `features` of `layer`, {"layer": layer, "features": {wave_key: (frames,
    dim)}}, to `path`: the DAG computes its source utterances' features once (anon-features)
    for every anonymization row."""
    stored = {wave_key(wave): torch.from_numpy(features(encoder, wave, layer))
              for wave in tqdm(waves, desc="SSL features", unit="utt", leave=False,
                               disable=progress_disabled())}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"layer": layer, "features": stored}, path)
    return path


def load_stored_features(path: Path, layer: int) -> dict[str, np.ndarray]:
    """`store_features`'s {wave_key: (frames, dim)}; ValueError if `path` holds another
    layer's."""
    saved = _read(path, "stored SSL features")
    if not isinstance(saved, Mapping) or not {"layer", "features"} <= saved.keys():
        raise ValueError(f"{path}: not stored SSL features (needs 'layer' and 'features')")
    if saved["layer"] != layer:
        raise ValueError(f"{path}: holds layer {saved['layer']}'s features, layer {layer} wanted")
    return {key: value.numpy() for key, value in saved["features"].items()}


# --- saving and loading -------------------------------------------------------------------

def save_encoder(encoder: SSLEncoder, path: Path) -> Path:
    """{"config": SSLConfig fields, "state": torchaudio model state dict} at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in encoder.model.state_dict().items()}
    torch.save({"config": asdict(encoder.config), "state": state}, path)
    return path


def _load_state(encoder: SSLEncoder, state, path: Path) -> SSLEncoder:
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    try:
        result = encoder.model.load_state_dict(state, strict=False)
    except RuntimeError as err:             # tensors of other shapes
        raise ValueError(f"{path}: the weights do not fit {encoder.config}: {err}") from err
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{path}: the keys do not match a WavLM encoder with {encoder.config}: "
                         f"missing {result.missing_keys[:5]} ({len(result.missing_keys)}), "
                         f"unexpected {result.unexpected_keys[:5]} "
                         f"({len(result.unexpected_keys)})")
    return encoder.eval()


def _read(path: Path, what: str):
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no {what} there")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:                # torch raises several kinds for a foreign file
        raise ValueError(f"{path}: cannot read {what} ({err})") from err


def load_encoder(path: Path) -> SSLEncoder:
    """The encoder `save_encoder` (or `pretrain`) wrote, in eval mode on the CPU."""
    saved = _read(path, "saved SSL encoder")
    if not isinstance(saved, Mapping) or not {"config", "state"} <= saved.keys():
        raise ValueError(f"{path}: not a saved SSL encoder (needs 'config' and 'state')")
    return _load_state(new_encoder(SSLConfig(**saved["config"]), 0), saved["state"], Path(path))


def load_pretrained_wavlm(path: Path, config: SSLConfig = MODELS["paper"]) -> SSLEncoder:
    """WavLM weights from a torchaudio state dict file, e.g. the one
    `torchaudio.pipelines.WAVLM_LARGE.get_model()` downloads to
    $TORCH_HOME/hub/checkpoints/wavlm_large.pth (older files' weight_g / weight_v names of the
    position convolution are converted by torch). Eval mode, on the CPU."""
    state = _read(path, "WavLM weights (torchaudio's WAVLM_LARGE bundle downloads them to "
                        "$TORCH_HOME/hub/checkpoints/wavlm_large.pth)")
    return _load_state(new_encoder(config, 0), state, Path(path))


# --- HuBERT pretraining -------------------------------------------------------------------

def span_mask(frames: torch.Tensor, total: int, prob: float, span: int,
              generator: torch.Generator) -> torch.Tensor:
    """(B, total) bool mask of spans over the first frames[b] frames of each row: every frame
    that leaves room for a whole span starts one with probability `prob` (a row without any
    gets one), so an inner frame is masked with probability 1 - (1 - prob) ** span."""
    if int(frames.min()) < span or int(frames.max()) > total:
        raise ValueError(f"every row needs {span}..{total} valid frames for masking, got "
                         f"{frames.tolist()}")
    rows = len(frames)
    can_start = torch.arange(total)[None, :] <= (frames[:, None] - span)
    starts = (torch.rand(rows, total, generator=generator) < prob) & can_start
    fallback = (torch.rand(rows, generator=generator) * (frames - span + 1)).long()
    empty = torch.nonzero(~starts.any(dim=1)).flatten()
    starts[empty, fallback[empty]] = True
    # frame t is masked when a span starts in t - span + 1 .. t
    started = F.pad(starts.long().cumsum(dim=1), (span, 0))
    return (started[:, span:] - started[:, :-span]) > 0


class HuBERTPretrainer(nn.Module):
    """An SSLEncoder with HuBERT's masked-prediction head.

    forward(waves (B, samples), lengths (B,), mask (B, frames) bool) -> logits (B, frames, units)
    float32: the masked frames of the transformer input are the learned mask embedding; logits
    are cosine similarities of the projected last layer to the unit embeddings / temperature."""

    def __init__(self, encoder: SSLEncoder, units: int, projection_dim: int, temperature: float):
        super().__init__()
        dim = encoder.config.dim
        self.encoder = encoder
        self.temperature = temperature
        self.mask_embedding = nn.Parameter(torch.empty(dim).uniform_())   # as torchaudio's
        self.projection = nn.Linear(dim, projection_dim)
        self.unit_embeddings = nn.Parameter(torch.empty(units, projection_dim).uniform_())

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor | None,
                mask: torch.Tensor) -> torch.Tensor:
        x, padding = self.encoder.frontend(waves, lengths)
        if mask.shape != x.shape[:2]:
            raise ValueError(f"mask must be (batch, frames) = {tuple(x.shape[:2])}, got "
                             f"{tuple(mask.shape)}")
        x = torch.where(mask[..., None], self.mask_embedding.to(x.dtype), x)
        last = self.encoder.encode(x, padding)[-1]
        transformer = self.encoder.model.encoder.transformer
        if not transformer.layer_norm_first:   # a pre-LN model's final LayerNorm (torchaudio's
            last = transformer.layer_norm(last)  # Transformer.forward applies it after the layers)
        with torch.autocast(last.device.type, enabled=False):   # logits / 0.1 need float32
            projected = F.normalize(self.projection(last.float()), dim=-1)
            units = F.normalize(self.unit_embeddings.float(), dim=-1)
            return projected @ units.T / self.temperature


@dataclass(frozen=True)
class UnitPredictionLoss:
    """The training loop's loss: cross-entropy of the units of the unpadded frames, HuBERT's
    L = alpha * L_masked + (1 - alpha) * L_unmasked with 1 - alpha = `unmasked_weight`."""
    unmasked_weight: float = 0.0

    def __call__(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        logits = model(batch["waves"], batch["lengths"], batch["mask"])
        valid = batch["units"] != IGNORED
        loss, logs = 0.0, {}
        for name, chosen, weight in (
                ("masked", batch["mask"] & valid, 1.0 - self.unmasked_weight),
                ("unmasked", ~batch["mask"] & valid, self.unmasked_weight)):
            if weight == 0 or not chosen.any():
                continue
            chosen_logits, targets = logits[chosen], batch["units"][chosen]
            loss = loss + weight * F.cross_entropy(chosen_logits, targets)
            logs[f"{name}_accuracy"] = (chosen_logits.argmax(dim=-1) == targets
                                        ).float().mean().detach()
        return loss, logs


def fit_units(frame_sets: list[np.ndarray], k: int, max_frames: int, seed: int
              ) -> list[np.ndarray]:
    """k-means units (int64 per frame) of each utterance's (frames, dim) features: standardised
    (MFCC's c0 would otherwise dominate the distances), MiniBatchKMeans fitted on at most
    `max_frames` frames drawn with `seed`."""
    from sklearn.cluster import MiniBatchKMeans

    stacked = np.concatenate(frame_sets).astype(np.float64)
    if len(stacked) < k:
        raise ValueError(f"{len(stacked)} frames cannot make {k} k-means units")
    mean, std = stacked.mean(axis=0), stacked.std(axis=0) + 1e-8
    rng = np.random.default_rng(seed)
    fit_on = stacked[rng.choice(len(stacked), min(max_frames, len(stacked)), replace=False)]
    kmeans = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
    kmeans.fit((fit_on - mean) / std)
    return [kmeans.predict((f.astype(np.float64) - mean) / std).astype(np.int64)
            for f in frame_sets]


def crop_sampler(waves: list[np.ndarray], units: list[np.ndarray],
                 training: SSLTrainConfig) -> Callable[[torch.Generator], dict]:
    """sample_batch for the loop: `batch_size` random crops of `crop_s` seconds starting on the
    frame grid (so the utterance's frame units line up), shorter utterances zero-padded, and
    their span masks. Batch: waves (B, samples), lengths (B,), units (B, frames) with IGNORED on
    padded frames, mask (B, frames)."""
    crop = round(training.crop_s * RATE)
    frames = frame_count(crop)

    def sample(generator: torch.Generator) -> dict:
        picks = torch.randint(len(waves), (training.batch_size,), generator=generator).tolist()
        batch_waves = torch.zeros(training.batch_size, crop)
        batch_units = torch.full((training.batch_size, frames), IGNORED, dtype=torch.long)
        lengths = torch.zeros(training.batch_size, dtype=torch.long)
        for row, index in enumerate(picks):
            wave = waves[index]
            starts = max(0, (len(wave) - crop) // HOP + 1)
            start = int(torch.randint(starts, (1,), generator=generator)) if starts else 0
            piece = wave[start * HOP:start * HOP + crop]
            valid = frame_count(len(piece))
            batch_waves[row, :len(piece)] = torch.from_numpy(piece)
            batch_units[row, :valid] = torch.from_numpy(units[index][start:start + valid])
            lengths[row] = len(piece)
        valid_frames = torch.tensor([frame_count(int(n)) for n in lengths])
        mask = span_mask(valid_frames, frames, training.mask_prob, training.mask_span, generator)
        return {"waves": batch_waves, "lengths": lengths, "units": batch_units, "mask": mask}

    return sample


def warmup_then_decay(steps: int, warmup_share: float) -> Callable[[int], float]:
    """LR factor of HuBERT's schedule: linear warm-up to 1, then linear decay to 0 at `steps`."""
    warmup = max(1, round(warmup_share * steps))
    return lambda step: (step + 1) / warmup if step < warmup else max(
        0.0, (steps - step) / max(1, steps - warmup))


def pretrain(waves: list[np.ndarray], out_dir: Path, model: SSLConfig,
             training: SSLTrainConfig, seed: int) -> SSLEncoder:
    """HuBERT pretraining of an encoder of size `model` on 16 kHz utterances (samples,).

    Iteration 1 predicts k-means units of MFCCs, each later one (a new model) units of the
    previous model's `training.label_layer`. Checkpoints in out_dir/checkpoints/iteration-N (a
    rerun resumes); the final encoder is saved to out_dir/ssl.pt (`load_encoder`) and returned
    in eval mode."""
    from voxflow.training import TrainConfig
    from voxflow.training.loop import train

    min_samples = RECEPTIVE_FIELD + (training.mask_span - 1) * HOP
    waves = [_checked_wave(w, f"waves[{i}]") for i, w in enumerate(waves)]
    if not waves:
        raise ValueError("pretraining needs at least one utterance")
    short = [i for i, w in enumerate(waves) if len(w) < min_samples]
    if short:
        raise ValueError(f"pretraining needs utterances of at least {min_samples} samples (one "
                         f"mask span); too short: waves{short[:10]}")
    if training.iterations > 1 and not 1 <= training.label_layer <= model.layers:
        raise ValueError(f"label_layer must be in 1..{model.layers}, got {training.label_layer}")
    out_dir = Path(out_dir)
    targets = [mfcc39(w) for w in waves]
    encoder = None
    for iteration, k in enumerate(training.units, start=1):
        if encoder is not None:
            targets = [features(encoder, w, training.label_layer) for w in waves]
        units = fit_units(targets, k, training.kmeans_frames, seed)
        with seeded(seed + iteration):
            trainer = HuBERTPretrainer(SSLEncoder(model), k, training.projection_dim,
                                       training.temperature)
        loop = TrainConfig(steps=training.steps, checkpoint_every=training.checkpoint_every,
                           log_every=training.log_every, seed=seed, lr=training.lr,
                           grad_clip=training.grad_clip)
        schedule = warmup_then_decay(training.steps, training.warmup_share)
        log.info("SSL pretraining iteration %d of %d: %d units", iteration,
                 training.iterations, k)
        train(trainer, UnitPredictionLoss(training.unmasked_weight),
              crop_sampler(waves, units, training),
              out_dir / "checkpoints" / f"iteration-{iteration}", loop,
              scheduler_factory=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, schedule))
        encoder = trainer.encoder.eval()
    save_encoder(encoder, out_dir / SSL_FILE)
    return encoder
