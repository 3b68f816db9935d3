"""ResNet50 frame encoder with its preprocessing inside the module.

Input is uint8 (N, 128, 128, 3) exactly as :func:`glacier_edge.frames.read_sequence` returns
it; cast, scaling, ImageNet normalisation and NHWC→NCHW happen in ``forward``, so the exported
ONNX graph carries them too and training and the edge cannot drift apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.models import ResNet50_Weights, resnet50

from glacier_edge.errors import BadInputError, WeightsUnavailableError
from glacier_edge.fileio import sha256_file

EMBEDDING_DIM = 2048
RANDOM_INIT_SEED = 0
"""Random-init encoders are always drawn with this seed, so 'random' names one fixed encoder."""

_IMAGENET = ResNet50_Weights.IMAGENET1K_V1


@dataclass(frozen=True)
class EncoderWeights:
    """Which weights an encoder carries, as recorded in checkpoints, manifests and reports."""

    weights_id: str
    """``imagenet``, ``random`` or ``file:<sha256>``."""
    pretrained: bool
    description: str
    spec: str
    """What to pass to :func:`build_encoder` to rebuild exactly this encoder."""

    def label(self) -> str:
        return self.description if self.pretrained else f"{self.description} — NOT PRETRAINED"


class FrameEncoder(nn.Module):
    """uint8 frames (N, H, W, 3) → float32 embeddings (N, 2048).

    Shapes:
        frames: (N, H, W, 3) uint8, RGB.
        output: (N, 2048) float32, the ResNet50 global-average-pooled features (fc removed).
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        backbone.fc = nn.Identity()
        self.backbone = backbone
        mean, std = _IMAGENET.transforms().mean, _IMAGENET.transforms().std
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        pixels = frames.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        return self.backbone((pixels - self.mean) / self.std)


def imagenet_cache_path() -> Path:
    """Where torchvision looks for the cached ImageNet checkpoint ($TORCH_HOME/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(_IMAGENET.url)


def build_encoder(weights: str) -> tuple[FrameEncoder, EncoderWeights]:
    """Build the frozen encoder for ``auto``, ``imagenet``, ``random`` or a ResNet50 state dict path.

    ``auto`` takes ImageNet when torchvision's cache holds it and random init otherwise (never
    a download), which is what an offline station box can do.
    """
    if weights == "auto":
        weights = "imagenet" if imagenet_cache_path().is_file() else "random"
    if weights == "imagenet":
        try:
            backbone = resnet50(weights=_IMAGENET)
        except Exception as exc:  # torch.hub raises URLError, HTTPError, OSError, RuntimeError
            raise WeightsUnavailableError(
                f"ImageNet ResNet50 weights are not cached at {imagenet_cache_path()} and could not "
                f"be downloaded ({type(exc).__name__}); use --weights random (not pretrained) or "
                "copy resnet50-0676ba61.pth there"
            ) from exc
        info = EncoderWeights("imagenet", True, "ResNet50 ImageNet IMAGENET1K_V1", "imagenet")
    elif weights == "random":
        with torch.random.fork_rng():
            torch.manual_seed(RANDOM_INIT_SEED)
            backbone = resnet50(weights=None)
        info = EncoderWeights("random", False, f"ResNet50 random init (seed {RANDOM_INIT_SEED})", "random")
    else:
        path = Path(weights)
        if not path.is_file():
            raise BadInputError(f"--weights {weights}: expected imagenet, random or a .pth file")
        backbone = resnet50(weights=None)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            missing, unexpected = backbone.load_state_dict(state, strict=False)
        except Exception as exc:
            raise BadInputError(f"{path}: not a ResNet50 state dict ({exc})") from exc
        missing = [key for key in missing if not key.startswith("fc.")]
        if missing or unexpected:
            raise BadInputError(
                f"{path}: not a ResNet50 state dict (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        digest = sha256_file(path)
        info = EncoderWeights(f"file:{digest}", True, f"ResNet50 from {path.name} (sha256 {digest[:12]})",
                              str(path.resolve()))
    encoder = FrameEncoder(backbone).eval()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return encoder, info


def encode_frames(encoder: FrameEncoder, frames: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Embed uint8 frames (N, H, W, 3) in batches; returns float32 (N, 2048)."""
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(frames), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(frames[start : start + batch_size]))
            outputs.append(encoder(batch).numpy())
    return np.concatenate(outputs).astype(np.float32)
