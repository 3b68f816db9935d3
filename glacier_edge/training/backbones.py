"""Frame backbones as specs (torchgeo-style): builder, ImageNet weights with their transforms,
embedding width and cost. The encoder, export, run record and bundle read everything from the
spec, so a second backbone is one entry in :data:`BACKBONES`, not edits across the code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn
from torchvision.models import ResNet50_Weights, WeightsEnum, resnet50

from glacier_edge.contracts import BackboneRecord
from glacier_edge.ingest.frames import FRAME_SIZE


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    title: str
    """How reports name it."""
    build: Callable[..., nn.Module]
    """torchvision builder: ``build(weights=None | enum)``; its classifier head is dropped."""
    imagenet: WeightsEnum
    """Pretrained weights; their ``transforms()`` give the normalisation baked into the encoder."""
    embedding_dim: int
    gflop_224: float
    """Multiply-adds ×2 per frame at 224×224 (torchvision's figure), scaled to FRAME_SIZE below."""

    def record(self) -> BackboneRecord:
        return BackboneRecord(self.name, self.embedding_dim, round(self.gflop_224 * (FRAME_SIZE / 224) ** 2, 2))


BACKBONES: dict[str, BackboneSpec] = {
    "resnet50": BackboneSpec("resnet50", "ResNet50", resnet50, ResNet50_Weights.IMAGENET1K_V1, 2048, 8.18),
}
DEFAULT_BACKBONE = "resnet50"
