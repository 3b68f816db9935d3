"""The frame encoder (a backbone from :mod:`.backbones`, ResNet50 by default) with its
preprocessing inside the module.

Input is uint8 (N, 128, 128, 3) exactly as :func:`glacier_edge.ingest.frames.read_sequence` returns
it; cast, scaling, ImageNet normalisation and NHWC→NCHW happen in ``forward``, so the exported
ONNX graph carries them too and training and the edge cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from glacier_edge.contracts import ENCODER_BATCH, EncoderRecord
from glacier_edge.errors import BadInputError, WeightsUnavailableError
from glacier_edge.fileio import sha256_file
from glacier_edge.training.backbones import BACKBONES, DEFAULT_BACKBONE, BackboneSpec

RANDOM_INIT_SEED = 0
"""Random-init encoders are always drawn with this seed, so 'random' names one fixed encoder."""


class FrameEncoder(nn.Module):
    """uint8 frames (N, H, W, 3) → float32 embeddings (N, D), D the backbone's embedding width.

    Shapes:
        frames: (N, H, W, 3) uint8, RGB.
        output: (N, D) float32, the backbone's global-average-pooled features (head removed;
        D = 2048 for ResNet50).
    """

    def __init__(self, backbone: nn.Module, spec: BackboneSpec) -> None:
        super().__init__()
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.embedding_dim = spec.embedding_dim
        mean, std = spec.imagenet.transforms().mean, spec.imagenet.transforms().std
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def normalised(self, frames: torch.Tensor) -> torch.Tensor:
        pixels = frames.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        return (pixels - self.mean) / self.std

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalised(frames))

    def feature_cells(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embeddings (N, D), cells (N, C, D)): the last stage's feature map, row by row (C = 16 at
        128 px), and its mean, which is what ``forward`` returns (global average pooling): one pass
        gives the frame's and every region's embedding."""
        features = self.normalised(frames)
        for child in list(self.backbone.children())[:-2]:  # ResNet: everything before avgpool and fc
            features = child(features)
        cells = features.flatten(2).transpose(1, 2)
        return cells.mean(dim=1), cells


class CellEncoder(nn.Module):
    """The encoder with both outputs, for a bundle with the per-region model: uint8 frames (N, H, W, 3)
    → embeddings (N, D) and feature-map cells (N, C, D)."""

    def __init__(self, encoder: FrameEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.embedding_dim = encoder.embedding_dim

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder.feature_cells(frames)


def imagenet_cache_path(backbone: str = DEFAULT_BACKBONE) -> Path:
    """Where torchvision looks for the cached ImageNet checkpoint ($TORCH_HOME/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(BACKBONES[backbone].imagenet.url)


def build_encoder(weights: str, backbone: str = DEFAULT_BACKBONE) -> tuple[FrameEncoder, EncoderRecord]:
    """Build the frozen encoder for ``auto``, ``imagenet``, ``random`` or a state dict path.

    ``auto`` takes ImageNet when torchvision's cache holds it and random init otherwise (never
    a download), which is what an offline station box can do.
    """
    spec = BACKBONES[backbone]
    if weights == "auto":
        weights = "imagenet" if imagenet_cache_path(backbone).is_file() else "random"
    if weights == "imagenet":
        try:
            network = spec.build(weights=spec.imagenet)
        except Exception as exc:  # torch.hub raises URLError, HTTPError, OSError, RuntimeError
            raise WeightsUnavailableError(
                f"ImageNet {spec.name} weights are not cached at {imagenet_cache_path(backbone)} and could not "
                f"be downloaded ({type(exc).__name__}); use --weights random (not pretrained) or "
                f"copy {imagenet_cache_path(backbone).name} there"
            ) from exc
        identity = ("imagenet", True, f"{spec.title} ImageNet {spec.imagenet.name}", "imagenet")
    elif weights == "random":
        with torch.random.fork_rng():
            torch.manual_seed(RANDOM_INIT_SEED)
            network = spec.build(weights=None)
        identity = ("random", False, f"{spec.title} random init (seed {RANDOM_INIT_SEED})", "random")
    else:
        path = Path(weights)
        if not path.is_file():
            raise BadInputError(f"--weights {weights}: expected imagenet, random or a .pth file")
        network = spec.build(weights=None)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            missing, unexpected = network.load_state_dict(state, strict=False)
        except Exception as exc:
            raise BadInputError(f"{path}: not a {spec.title} state dict ({exc})") from exc
        missing = [key for key in missing if not key.startswith("fc.")]
        if missing or unexpected:
            raise BadInputError(
                f"{path}: not a {spec.title} state dict (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        digest = sha256_file(path)
        identity = (f"file:{digest}", True, f"{spec.title} from {path.name} (sha256 {digest[:12]})",
                    str(path.resolve()))
    weights_id, pretrained, description, rebuild = identity
    encoder = FrameEncoder(network, spec).eval()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return encoder, EncoderRecord(spec.record(), rebuild, weights_id, pretrained, description)



def encode_frames(encoder: FrameEncoder, frames: np.ndarray, batch_size: int = ENCODER_BATCH) -> np.ndarray:
    """Embed uint8 frames (N, H, W, 3) in batches on the encoder's device; returns float32 (N, D)."""
    return _in_batches(encoder, encoder, frames, batch_size)


def encode_cells(encoder: FrameEncoder, frames: np.ndarray, batch_size: int = ENCODER_BATCH) -> np.ndarray:
    """Feature-map cells of uint8 frames (N, H, W, 3): float32 (N, C, D), in batches."""
    return _in_batches(encoder, lambda batch: encoder.feature_cells(batch)[1], frames, batch_size)


def _in_batches(encoder: FrameEncoder, function: Callable[[torch.Tensor], torch.Tensor], frames: np.ndarray,
                batch_size: int) -> np.ndarray:
    device = next(encoder.parameters()).device
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(frames), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(frames[start : start + batch_size])).to(device)
            outputs.append(function(batch).cpu().numpy())
    return np.concatenate(outputs).astype(np.float32)
