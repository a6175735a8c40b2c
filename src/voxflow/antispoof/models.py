"""Networks of the Siamese spoofing detector (the Siamese spoofing paper, section 3.2-3.3): the
embedding backbones (LCNN, ResNet18, SENet18/34/50), the MLP classifier trained on their
embeddings, and the "original" backbone + linear head trained with cross-entropy (table 2).

Shapes: features (batch, frames, dims) as the front-ends give them, seen by every backbone as a
one-channel image (batch, 1, dims, frames); embeddings (batch, embedding_dim); logits
(batch, 2), class 1 bona fide and class 0 spoof. Every backbone ends in adaptive average pooling
to `pooled` (so any number of frames gives the same size) and one linear layer to the embedding,
the paper's "fully connected layer to obtain a 512-dimensional embedding". `tiny()` keeps every
architecture's depth with channel counts divided by 8.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SPOOF, BONAFIDE = 0, 1


@dataclass(frozen=True)
class BackboneConfig:
    """`width_divisor` divides every channel count of the architecture (1 at paper size);
    `se_reduction` is the squeeze-excitation bottleneck ratio (16 in Hu et al.)."""
    embedding_dim: int = 512
    width_divisor: int = 1
    pooled: tuple[int, int] = (4, 4)
    se_reduction: int = 16

    @classmethod
    def paper(cls) -> BackboneConfig:
        return cls()

    @classmethod
    def tiny(cls) -> BackboneConfig:
        return cls(embedding_dim=32, width_divisor=8, pooled=(2, 2), se_reduction=4)

    @classmethod
    def from_dict(cls, d: dict) -> BackboneConfig:
        """Inverse of `dataclasses.asdict` (also after JSON, which turns tuples into lists)."""
        return cls(**{**d, "pooled": tuple(d["pooled"])})


@dataclass(frozen=True)
class ClassifierConfig:
    """Section 3.3: 512 -> 256 (batch norm, ReLU) -> 2."""
    input_dim: int = 512
    hidden_dim: int = 256
    classes: int = 2

    @classmethod
    def paper(cls) -> ClassifierConfig:
        return cls()

    @classmethod
    def tiny(cls) -> ClassifierConfig:
        return cls(input_dim=32, hidden_dim=16)


class MaxFeatureMap(nn.Module):
    """Max-Feature-Map (Wu et al. 2018, eq. 2): (batch, 2C, ...) -> (batch, C, ...), the
    element-wise maximum of the first and second halves of the channels. A competitive
    activation: each output keeps the stronger of two learnt features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] % 2:
            raise ValueError(f"Max-Feature-Map needs an even number of channels, got {x.shape[1]}")
        first, second = x.chunk(2, dim=1)
        return torch.maximum(first, second)


class _Backbone(nn.Module):
    """Shared input handling and head: (batch, frames, dims) -> (batch, embedding_dim)."""

    def __init__(self, channels: int, config: BackboneConfig):
        super().__init__()
        self.embedding_dim = config.embedding_dim
        self.pool = nn.AdaptiveAvgPool2d(config.pooled)
        self.fc = nn.Linear(channels * config.pooled[0] * config.pooled[1], config.embedding_dim)

    def trunk(self, image: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        image = features.transpose(1, 2)[:, None]
        return self.fc(self.pool(self.trunk(image)).flatten(1))


def _mfm_conv(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    """Convolution to 2 * out_channels, MFM to out_channels, batch norm."""
    return nn.Sequential(nn.Conv2d(in_channels, 2 * out_channels, kernel, padding=kernel // 2),
                         MaxFeatureMap(), nn.BatchNorm2d(out_channels))


class LCNN(_Backbone):
    """The convolutional front of the 9-layer Light CNN (Wu et al. 2018, LightCNN-9): a 5x5
    MFM convolution, then four groups of a 1x1 Network-in-Network MFM convolution and a 3x3 MFM
    convolution, MFM output widths 48, 96, 192, 128, 128, with 2x2 stride-2 max pooling after
    the first, second, third and fifth convolutions: 5 convolutions, 4 NIN layers, 4 poolings
    (section 3.2.1). Batch norm after each MFM follows the LCNN of Lavrentyeva et al. 2019, the
    ASVspoof 2019 system the paper's LCNN numbers come from; it lets the net train from scratch
    at the learning rates the other backbones use."""

    WIDTHS = (48, 96, 192, 128, 128)
    POOL_AFTER = (0, 1, 2, 4)

    def __init__(self, config: BackboneConfig = BackboneConfig()):
        widths = [w // config.width_divisor for w in self.WIDTHS]
        super().__init__(widths[-1], config)
        layers: list[nn.Module] = [_mfm_conv(1, widths[0], 5), nn.MaxPool2d(2, 2)]
        for i in range(1, len(widths)):
            layers += [_mfm_conv(widths[i - 1], widths[i - 1], 1),
                       _mfm_conv(widths[i - 1], widths[i], 3)]
            if i in self.POOL_AFTER:
                layers.append(nn.MaxPool2d(2, 2))
        self.layers = nn.Sequential(*layers)

    def trunk(self, image: torch.Tensor) -> torch.Tensor:
        return self.layers(image)


class SqueezeExcitation(nn.Module):
    """SE block (Hu et al. 2018): channel weights from the globally averaged activations through
    a C -> C / r -> C bottleneck (ReLU, sigmoid), multiplied back onto the channels."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * weights[:, :, None, None]


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                         nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm (He et al. 2016); with `se_reduction` the SE block
    rescales the residual branch before the addition (SE-ResNet)."""
    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int, se_reduction: int | None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = SqueezeExcitation(planes, se_reduction) if se_reduction else nn.Identity()
        self.shortcut = _shortcut(in_channels, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.se(self.bn2(self.conv2(h)))
        return F.relu(h + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride here), 1x1 expand to 4 * planes (He et al. 2016), SE on the
    residual branch as in `BasicBlock`."""
    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int, se_reduction: int | None):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.se = SqueezeExcitation(out, se_reduction) if se_reduction else nn.Identity()
        self.shortcut = _shortcut(in_channels, out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.se(self.bn3(self.conv3(h)))
        return F.relu(h + self.shortcut(x))


class ResNet(_Backbone):
    """ResNet of He et al. 2016 on a one-channel input: 7x7 stride-2 convolution, 3x3 stride-2
    max pooling, four stages of `blocks` residual blocks with 64, 128, 256, 512 planes (stride 2
    from the second stage on). `se=True` makes it the SENet (SE-ResNet) of Hu et al. 2018."""

    PLANES = (64, 128, 256, 512)

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], blocks: tuple[int, ...],
                 se: bool, config: BackboneConfig = BackboneConfig()):
        planes = [p // config.width_divisor for p in self.PLANES]
        super().__init__(planes[-1] * block.expansion, config)
        self.stem = nn.Sequential(nn.Conv2d(1, planes[0], 7, 2, 3, bias=False),
                                  nn.BatchNorm2d(planes[0]), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        reduction = config.se_reduction if se else None
        stages, channels = [], planes[0]
        for i, (width, count) in enumerate(zip(planes, blocks)):
            stage = []
            for j in range(count):
                stage.append(block(channels, width, 2 if i and not j else 1, reduction))
                channels = width * block.expansion
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)

    def trunk(self, image: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(image))


BACKBONES: dict[str, Callable[[BackboneConfig], _Backbone]] = {
    "lcnn": LCNN,
    "resnet18": lambda config: ResNet(BasicBlock, (2, 2, 2, 2), False, config),
    "senet18": lambda config: ResNet(BasicBlock, (2, 2, 2, 2), True, config),
    "senet34": lambda config: ResNet(BasicBlock, (3, 4, 6, 3), True, config),
    "senet50": lambda config: ResNet(Bottleneck, (3, 4, 6, 3), True, config),
}


def build_backbone(name: str, config: BackboneConfig = BackboneConfig()) -> _Backbone:
    """One of `BACKBONES` (lcnn, resnet18, senet18, senet34, senet50): features (batch, frames,
    dims) -> embeddings (batch, config.embedding_dim)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; one of {', '.join(BACKBONES)}")
    return BACKBONES[name](config)


class MLPClassifier(nn.Module):
    """The back-end of section 3.3: embeddings (batch, input_dim) -> logits (batch, classes),
    a hidden fully connected layer with batch norm and ReLU, an output layer without."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.hidden = nn.Linear(config.input_dim, config.hidden_dim)
        self.norm = nn.BatchNorm1d(config.hidden_dim)
        self.output = nn.Linear(config.hidden_dim, config.classes)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.output(F.relu(self.norm(self.hidden(embeddings))))


class OriginalNetwork(nn.Module):
    """Table 2's "original" model: the backbone and a linear 2-class layer on its embedding,
    trained end to end with cross-entropy: features (batch, frames, dims) -> logits (batch, 2)."""

    def __init__(self, backbone: _Backbone):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.embedding_dim, 2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(features))


def countermeasure_score(logits: torch.Tensor) -> torch.Tensor:
    """(batch, 2) logits -> (batch,) CM score, the log-odds of bona fide (bona fide minus spoof
    logit, equal to the difference of the log-softmax outputs): higher means bona fide, the
    ASVspoof convention that EER and t-DCF code expect."""
    return logits[:, BONAFIDE] - logits[:, SPOOF]
