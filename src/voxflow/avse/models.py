"""MHCA-AVCRN (paper 001, section 2), its ablations and the audio-only CRN baseline
(Tan & Wang 2018), as one network class configured by `AVSEConfig.variant`.

Inputs: mel (batch, frames, n_mels), the noisy log-mel already normalised per bin with training
statistics; video (batch, frames / 4, n_mels, n_mels), mouth crops already scaled (the crop side
equals n_mels, 80 in the paper: row r of the video maps is matched to mel bin r); lengths
(batch,) valid mel frames of zero-padded utterances, or None. Output: the enhanced log-mel
(batch, frames, n_mels) in the input's normalisation, predicted as a residual on the noisy mel.

Architecture, with L = len(channels) levels, F_0 = n_mels and F_i = ceil(F_{i-1} / 2)
(80 -> 40 -> 20 -> 10 -> 5 [-> 3]); A, V, E are (batch, c_i, freq, frames) maps:

    audio stream   A_i = ConvBlock(A_{i-1}), stride 1 for i = 0 (reads the mel), 2 after: F_i
    video stream   per frame pooled to `video_width` columns, VideoBlock i (max-pool 2 for
                   i > 0, conv + BN + ELU): rows F_i, averaged over the image width and
                   repeated x4 to the mel frame rate -> V_i
    encoder        E_i = strided ConvBlock(cat(E_{i-1}, A_i, V_i)), E_{-1} = the mel: F_{i+1}
                   (the fusion part; E_i is the fused feature F_f of level i)
    bottleneck     E_{L-1} per frame flattened, 2 bidirectional LSTMs, linear back -> D_{L-1}
    decoder        D_{i-1} = DeconvBlock(skip_i(E_i, D_i)), the last one a plain transposed
                   convolution to 1 channel at F_0, added to the mel

skip_i is CRN's concatenation cat(D_i, E_i) (variants "no_mhca", "audio_only") or, in the MHCA
variants ("mhca", "no_balancing", "no_filtering"), `MHCASkip`: the same concatenation with D_i
gated by the 2-stage MHCA block, cat(TwoStageMHCA(F_f=E_i, F_d=D_i), E_i). Any number of frames
is accepted (the paper's 80 x 20 segments included); the time axis is never strided.
"audio_only" is the same encoder and decoder without the audio and video streams: E_i =
strided ConvBlock(E_{i-1}), CRN's encoder (Tan & Wang use a causal 2x3 kernel and unidirectional
LSTMs for real time; this offline one keeps the 3x3 kernel and bidirectional LSTMs of the
others, so that the comparison isolates the video).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from voxflow.avse.layers import (ConcatSkip, ConvBlock, DeconvBlock, MHCASkip,
                                 RecurrentBottleneck,
                                 TwoStageMHCA, VideoBlock, frame_mask, masked,
                                 upsampling_deconv)

VARIANTS = ("mhca", "no_mhca", "no_balancing", "no_filtering", "audio_only")
MEL_FRAMES_PER_VIDEO_FRAME = 4      # 100 Hz mel (hop 160 at 16 kHz) over 25 fps video


@dataclass(frozen=True)
class AVSEConfig:
    """Sizes of `AVSENet`. The paper gives none: `paper()` takes CRN's (Tan & Wang 2018)."""
    # "mhca" full MHCA-AVCRN; "no_mhca" concatenation skips; "no_balancing" MHCA without
    # eq. 1-2; "no_filtering" MHCA without eq. 3-4; "audio_only" Tan & Wang's CRN
    variant: str = "mhca"
    # output channels of each encoder level (audio, video and fused streams alike); the decoder
    # mirrors them. Each level halves the frequency axis
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    # attention heads of every MHCA block; each level's channels must divide by it
    heads: int = 4
    # LSTM units per direction in the bottleneck
    lstm_hidden: int = 384
    # stacked bidirectional LSTMs in the bottleneck (2 in the paper)
    lstm_layers: int = 2
    # mel bins of the input and output, also the side of the square video crops
    n_mels: int = 80
    # columns the crops are average-pooled to before the video stream (n_mels: none, as in
    # the paper). The rows are kept: they are matched to mel bins. The video stream costs in
    # proportion to it, most of the network's cost at full width
    video_width: int = 80

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown AV-SE variant {self.variant!r}; expected one of "
                             f"{', '.join(VARIANTS)}")
        if not 1 <= self.video_width <= self.n_mels:
            raise ValueError(f"video_width {self.video_width} is not in 1..n_mels "
                             f"({self.n_mels})")
        if not self.channels:
            raise ValueError("AVSEConfig.channels is empty: the encoder needs a level")
        if self.uses_mhca and any(c % self.heads for c in self.channels):
            raise ValueError(f"channels {self.channels} do not all divide into {self.heads} "
                             "heads")

    @property
    def uses_video(self) -> bool:
        return self.variant != "audio_only"

    @property
    def uses_mhca(self) -> bool:
        return self.variant in ("mhca", "no_balancing", "no_filtering")

    @classmethod
    def paper(cls, variant: str = "mhca") -> AVSEConfig:
        """CRN's sizes: five levels of 16-256 channels (80 bins -> 3 at the bottleneck, a
        768-wide frame) and LSTMs as wide as the flattened bottleneck (384 per direction), as
        CRN's 1024-unit LSTMs on its 256 x 4 bottleneck; full-width crops; 4 heads (the paper
        gives no count; 16-256 channels: 4-64 per head)."""
        return cls(variant=variant)

    @classmethod
    def tiny(cls, variant: str = "mhca") -> AVSEConfig:
        """The same architecture, four narrow levels (80 bins -> 5) and crops pooled to 10
        columns, for CPU training in minutes."""
        return cls(variant=variant, channels=(4, 8, 16, 32), heads=2, lstm_hidden=64,
                   video_width=10)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AVSEConfig:
        """Inverse of `to_dict`, also after JSON (which turns the tuple into a list)."""
        return cls(**{**d, "channels": tuple(d["channels"])})


def level_sizes(n_mels: int, levels: int) -> list[int]:
    """Frequency sizes F_0 = n_mels, ..., F_levels, each ceil(previous / 2)."""
    sizes = [n_mels]
    for _ in range(levels):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


class VideoStream(nn.Module):
    """Mouth crops (batch, video_frames, n_mels, n_mels) -> one map per level,
    (batch, channels[i], F_i, 4 * video_frames): each frame average-pooled to `width` columns,
    through the max-pooling blocks, each block's output averaged over the image width (rows
    F_i, as the audio level's frequencies) and repeated over the 4 mel frames of its video
    frame."""

    def __init__(self, channels: tuple[int, ...], width: int):
        super().__init__()
        self.width = width
        self.blocks = nn.ModuleList(
            VideoBlock(channels[i - 1] if i else 1, c, pool=i > 0) for i, c in enumerate(channels))

    def forward(self, video: torch.Tensor, mask: torch.Tensor | None = None
                ) -> list[torch.Tensor]:
        batch, video_frames, height, width = video.shape
        h = nn.functional.adaptive_avg_pool2d(
            video.reshape(batch * video_frames, 1, height, width), (height, self.width))
        maps = []
        for block in self.blocks:
            h = block(h)
            rows = h.mean(dim=-1).reshape(batch, video_frames, *h.shape[1:3])
            rows = rows.permute(0, 2, 3, 1).repeat_interleave(MEL_FRAMES_PER_VIDEO_FRAME, dim=-1)
            maps.append(masked(rows, mask))
        return maps


class AudioStream(nn.Module):
    """Mel map (batch, 1, n_mels, frames) -> one map per level, (batch, channels[i], F_i,
    frames): a stride-1 ConvBlock, then strided ones."""

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        self.blocks = nn.ModuleList(
            ConvBlock(channels[i - 1] if i else 1, c, freq_stride=2 if i else 1)
            for i, c in enumerate(channels))

    def forward(self, mel_map: torch.Tensor, mask: torch.Tensor | None = None
                ) -> list[torch.Tensor]:
        maps, h = [], mel_map
        for block in self.blocks:
            h = block(h, mask)
            maps.append(h)
        return maps


class AVSENet(nn.Module):
    """`forward(mel, video=None, lengths=None)`: mel (batch, frames, n_mels), video
    (batch, frames / 4, n_mels, n_mels) for every variant but "audio_only" (which takes none),
    lengths (batch,) valid mel frames or None -> enhanced log-mel (batch, frames, n_mels).

    The output is mel + a correction whose last layer starts at zero, so the untrained network
    returns its input, a better start than a random spectrum for MSE training.

    Padding: with `lengths`, padded frames are zero in every feature map and in the output
    (whatever the padded input frames hold), the LSTMs run packed and the attention averages
    over valid positions, so in eval mode the valid frames equal those of the utterance run
    alone (up to rounding). In training mode batch normalisation's statistics include the
    padded zeros (they then differ slightly). The loss must skip the padded frames: `mel_mse`.
    Without `lengths`, padding is read as signal."""

    def __init__(self, config: AVSEConfig):
        super().__init__()
        self.config = config
        channels = config.channels
        self.freqs = level_sizes(config.n_mels, len(channels))
        self.audio = AudioStream(channels) if config.uses_video else None
        self.video = VideoStream(channels, config.video_width) if config.uses_video else None
        streams = 2 if config.uses_video else 0     # audio and video maps read per level
        self.encoder = nn.ModuleList(
            ConvBlock((channels[i - 1] if i else 1) + streams * c, c, freq_stride=2)
            for i, c in enumerate(channels))
        self.bottleneck = RecurrentBottleneck(channels[-1], self.freqs[-1], config.lstm_hidden,
                                              config.lstm_layers)
        self.skips = nn.ModuleList(self._skip(c) for c in channels)
        self.decoder = nn.ModuleList(
            DeconvBlock(self.skips[i].channel_factor * channels[i], channels[i - 1])
            for i in range(1, len(channels)))
        self.output = upsampling_deconv(self.skips[0].channel_factor * channels[0], 1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def _skip(self, channels: int) -> nn.Module:
        variant = self.config.variant
        if not self.config.uses_mhca:
            return ConcatSkip()
        return MHCASkip(TwoStageMHCA(channels, self.config.heads,
                                     balancing=variant != "no_balancing",
                                     filtering=variant != "no_filtering"))

    def forward(self, mel: torch.Tensor, video: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        self._check(mel, video, lengths)
        frames = mel.shape[1]
        mask = frame_mask(lengths, frames, mel)
        # (batch, 1, n_mels, frames), zero on the padding whatever the padded frames hold
        mel_map = masked(mel.transpose(1, 2)[:, None], mask)
        streams = [[] for _ in self.config.channels]
        if self.config.uses_video:
            streams = list(zip(self.audio(mel_map, mask), self.video(video, mask)))
        fused, h = [], mel_map
        for block, level_streams in zip(self.encoder, streams):
            h = block(torch.cat([h, *level_streams], dim=1), mask)
            fused.append(h)
        d = self.bottleneck(h, lengths, mask)
        for i in range(len(fused) - 1, 0, -1):
            d = self.decoder[i - 1](self.skips[i](fused[i], d, mask), self.freqs[i], mask)
        d = self.skips[0](fused[0], d, mask)
        correction = masked(self.output(d, output_size=(self.freqs[0], frames)), mask)
        return (mel_map + correction)[:, 0].transpose(1, 2)

    def _check(self, mel: torch.Tensor, video: torch.Tensor | None,
               lengths: torch.Tensor | None) -> None:
        n_mels = self.config.n_mels
        if mel.ndim != 3 or mel.shape[-1] != n_mels:
            raise ValueError(f"mel has shape {tuple(mel.shape)}; expected (batch, frames, "
                             f"{n_mels})")
        batch, frames = mel.shape[:2]
        if not self.config.uses_video:
            if video is not None:
                raise ValueError("the audio_only variant takes no video")
        elif video is None:
            raise ValueError(f"the {self.config.variant} variant needs the video")
        else:
            expected = (batch, frames // MEL_FRAMES_PER_VIDEO_FRAME, n_mels, n_mels)
            if frames % MEL_FRAMES_PER_VIDEO_FRAME or tuple(video.shape) != expected:
                raise ValueError(
                    f"video has shape {tuple(video.shape)} for {frames} mel frames; expected "
                    f"{MEL_FRAMES_PER_VIDEO_FRAME} mel frames per video frame and "
                    f"(batch, video_frames, {n_mels}, {n_mels}) crops")
        if lengths is not None and (lengths.shape != (batch,) or lengths.min() < 1
                                    or lengths.max() > frames):
            raise ValueError(f"lengths {lengths.tolist()} do not fit {batch} utterances of at "
                             f"most {frames} frames")


def mel_mse(enhanced: torch.Tensor, clean: torch.Tensor,
            lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over the valid frames (all frames without `lengths`) and bins, in
    float32 whatever precision the network ran in: enhanced, clean (batch, frames, n_mels),
    lengths (batch,) -> scalar."""
    error = (enhanced.float() - clean.float()).square()
    if lengths is None:
        return error.mean()
    valid = torch.arange(error.shape[1], device=error.device) < lengths.to(error.device)[:, None]
    return error[valid].mean()
