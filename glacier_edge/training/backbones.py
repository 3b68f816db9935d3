"""Frame backbones as specs (torchgeo-style): builder, ImageNet weights with their transforms,
embedding width, where the classifier head sits and where the last feature map ends. The
encoder, export, run record and bundle read everything from the spec, so a backbone is one
entry in :data:`BACKBONES`, not edits across the code.

The family is the one a station picks from by cost (``benchmarks/backbones.py`` measures each):
ResNet50 (the design's model, the default), ResNet18 (the seed's references), MobileNetV3-Large
and -Small and EfficientNet-B0 (torchvision's small networks), and ``none``: no image embedding
at all, the ablation that says what an encoder adds. All five CNNs downsample by 32, so a
128-px frame gives the same 4×4 feature map for the per-region model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.swa_utils import update_bn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import (
    EfficientNet_B0_Weights,
    MobileNet_V3_Large_Weights,
    MobileNet_V3_Small_Weights,
    ResNet18_Weights,
    ResNet50_Weights,
    WeightsEnum,
    efficientnet_b0,
    mobilenet_v3_large,
    mobilenet_v3_small,
    resnet18,
    resnet50,
)
from torchvision.ops import StochasticDepth

from glacier_edge.contracts import BACKBONE_NAMES, BackboneRecord
from glacier_edge.ingest.frames import FRAME_SIZE
from glacier_edge.training.named_weights import IMAGENET_MEAN, IMAGENET_STD

NO_BACKBONE = "none"


class NoImage(nn.Module):
    """The ``none`` backbone: a zero-width embedding (N, 0), so node features are the
    station-known history (and metadata) alone; the frames still flow through for the OOD
    guard's colour term and the melt proxy, which are not the encoder's."""

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (N, 3, H, W) → (N, 0)."""
        return pixels[:, :0, 0, 0]


def _resnet_trunk(network: nn.Module) -> nn.Module:
    return nn.Sequential(*list(network.children())[:-2])  # everything before avgpool and fc


def _features_trunk(network: nn.Module) -> nn.Module:
    return network.features  # MobileNetV3, EfficientNet: features → avgpool → classifier


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    title: str
    """How reports name it."""
    build: Callable[..., nn.Module]
    """torchvision builder: ``build(weights=None | enum)``; its classifier head is dropped."""
    imagenet: WeightsEnum | None
    """Pretrained ImageNet weights (None for ``none``); their ``transforms()`` use the ImageNet mean
    and std that :data:`named_weights.IMAGENET_SCALING` bakes into the encoder (tested)."""
    embedding_dim: int
    head: str
    """Attribute of the classifier head, replaced by the identity (ResNet ``fc``, the others
    ``classifier``); the state dict keys under it are not loaded from weight files."""
    trunk: Callable[[nn.Module], nn.Module]
    """The network up to its last feature map (before global pooling): the per-region cells."""
    settle_random_batchnorm: bool = False
    """Random init only: set the BatchNorm statistics from seeded noise frames. Measured on the
    generated sample, torchvision's init of MobileNetV3 and EfficientNet-B0 with the default
    statistics (mean 0, variance 1) shrinks the embedding to 1e-7 (MobileNetV3) and 1e-12
    (EfficientNet-B0): fp32 parity tolerances then test nothing and int8 rounds it all to zero
    (centred cosine 0.001–0.003 against fp32). With settled statistics their embeddings are 10–55
    in norm, like the ResNets' (which keep their init: their caches and figures stay valid)."""

    def record(self, network: nn.Module | None = None, size: int = FRAME_SIZE) -> BackboneRecord:
        return BackboneRecord(self.name, self.embedding_dim,
                              round(2 * gmac_per_frame(network, size), 3) if network is not None else 0.0)


def gmac_per_frame(network: nn.Module, size: int = FRAME_SIZE) -> float:
    """Multiply-accumulates (×10⁹) of one ``size``-px RGB frame through ``network``, counted by
    PyTorch's own FlopCounterMode (convolutions and matrix products; 2 FLOPs per MAC) rather
    than scaled from a 224-px table: depthwise and squeeze-excitation layers scale differently."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 2e9


SETTLE_FRAMES = 64
SETTLE_KEY = "bn-noise64"
"""Part of a settled random encoder's cache and store key: a change of the settling changes it."""


def settle_batchnorm(network: nn.Module, seed: int, size: int = FRAME_SIZE) -> None:
    """BatchNorm running statistics from 64 seeded uniform-noise frames, ImageNet-normalised
    (torch.optim.swa_utils.update_bn: a cumulative average, then eval): deterministic, data-free.

    Measured against the alternatives (benchmarks/backbones.py, MobileNetV3-Small): statistics from
    the generated glacier made radar-like frames 100 % flagged but broke fp32 parity on
    uniform-noise frames (ORT vs PyTorch 1e-3 relative: such inputs then drive activations far
    beyond the settled range); glacier and noise together kept parity and flagged 34 %; noise alone
    keeps parity and int8 and flags 6 % — random features do not tell grey speckle from imagery
    whose statistics they were settled on. Pretrained weights are the remedy, not a cleverer init."""
    generator = torch.Generator().manual_seed(seed)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    batches = [(torch.rand(16, 3, size, size, generator=generator) - mean) / std
               for _ in range(SETTLE_FRAMES // 16)]
    # update_bn runs the network in train mode: EfficientNet's stochastic depth would drop blocks
    # at random (unseeded, and biasing the statistics), so it is off while the statistics settle
    dropping = [(m, m.p) for m in network.modules() if isinstance(m, StochasticDepth)]
    for module, _ in dropping:
        module.p = 0.0
    with torch.no_grad():
        update_bn(batches, network)
    for module, p in dropping:
        module.p = p
    network.eval()


def _no_image(weights: object = None) -> nn.Module:
    return NoImage()


BACKBONES: dict[str, BackboneSpec] = {
    "resnet50": BackboneSpec("resnet50", "ResNet50", resnet50, ResNet50_Weights.IMAGENET1K_V1, 2048, "fc",
                             _resnet_trunk),
    "resnet18": BackboneSpec("resnet18", "ResNet18", resnet18, ResNet18_Weights.IMAGENET1K_V1, 512, "fc",
                             _resnet_trunk),
    "mobilenet_v3_large": BackboneSpec("mobilenet_v3_large", "MobileNetV3-Large", mobilenet_v3_large,
                                       MobileNet_V3_Large_Weights.IMAGENET1K_V1, 960, "classifier", _features_trunk,
                                       settle_random_batchnorm=True),
    "mobilenet_v3_small": BackboneSpec("mobilenet_v3_small", "MobileNetV3-Small", mobilenet_v3_small,
                                       MobileNet_V3_Small_Weights.IMAGENET1K_V1, 576, "classifier", _features_trunk,
                                       settle_random_batchnorm=True),
    "efficientnet_b0": BackboneSpec("efficientnet_b0", "EfficientNet-B0", efficientnet_b0,
                                    EfficientNet_B0_Weights.IMAGENET1K_V1, 1280, "classifier", _features_trunk,
                                    settle_random_batchnorm=True),
    NO_BACKBONE: BackboneSpec(NO_BACKBONE, "no image embedding", _no_image, None, 0, "", lambda network: network),
    # ``none`` has no feature map: `train --frame-regions` refuses it (a region needs an embedding)
}
DEFAULT_BACKBONE = "resnet50"
assert tuple(BACKBONES) == BACKBONE_NAMES, "contracts.BACKBONE_NAMES lists the family for the CLI"
