"""The frame encoder (a backbone from :mod:`.backbones`, ResNet50 by default) with its
preprocessing inside the module.

Input is uint8 (N, 128, 128, 3) exactly as :func:`glacier_edge.ingest.frames.read_sequence` returns
it; cast, scaling, the weights' own normalisation (ImageNet's, or a named remote-sensing weights',
:mod:`.named_weights`) and NHWC→NCHW happen in ``forward``, so the exported ONNX graph carries
them too and training and the edge cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from glacier_edge.contracts import ENCODER_BATCH, EncoderRecord, TrainConfig
from glacier_edge.errors import BadInputError, WeightsUnavailableError
from glacier_edge.fileio import sha256_file
from glacier_edge.ingest.frames import FRAME_SIZE
from glacier_edge.training.backbones import (
    BACKBONES,
    DEFAULT_BACKBONE,
    NO_BACKBONE,
    SETTLE_KEY,
    BackboneSpec,
    settle_batchnorm,
)
from glacier_edge.training.named_weights import IMAGENET_SCALING, NAMED_WEIGHTS, InputScaling

RANDOM_INIT_SEED = 0
"""Random-init encoders are always drawn with this seed, so 'random' names one fixed encoder."""


class FrameEncoder(nn.Module):
    """uint8 frames (N, H, W, 3) → float32 embeddings (N, D), D the backbone's embedding width.

    Shapes:
        frames: (N, H, W, 3) uint8, RGB.
        output: (N, D) float32, the backbone's global-average-pooled features (head removed;
        D = 2048 for ResNet50, 0 for ``none``).
    """

    def __init__(self, backbone: nn.Module, spec: BackboneSpec, scaling: InputScaling = IMAGENET_SCALING,
                 input_size: int = FRAME_SIZE) -> None:
        super().__init__()
        self.input_size = input_size
        if spec.head:
            setattr(backbone, spec.head, nn.Identity())
        self.backbone = backbone
        self.trunk_of = spec.trunk
        self.embedding_dim = spec.embedding_dim
        self.scaling = scaling
        self.register_buffer("mean", torch.tensor(scaling.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(scaling.std, dtype=torch.float32).view(1, 3, 1, 1))

    def normalised(self, frames: torch.Tensor) -> torch.Tensor:
        """Scaled pixels (N, 3, S, S), S = ``input_size``: the 128-px frames are resized (bilinear)
        inside the encoder when the weights want another scale (``--image-size``)."""
        pixels = frames.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        if self.input_size != pixels.shape[-1] or self.input_size != pixels.shape[-2]:
            pixels = F.interpolate(pixels, size=(self.input_size, self.input_size), mode="bilinear",
                                   align_corners=False)
        return (pixels - self.mean) / self.std

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalised(frames))

    def feature_cells(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embeddings (N, D), cells (N, C, D)): the last stage's feature map, row by row (C = 16 at
        128 px for every CNN of the family: all downsample by 32), and its mean, which is what
        ``forward`` returns (global average pooling): one pass gives the frame's and every
        region's embedding."""
        features = self.trunk_of(self.backbone)(self.normalised(frames))
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
    weights = BACKBONES[backbone].imagenet
    return Path(torch.hub.get_dir()) / "checkpoints" / (os.path.basename(weights.url) if weights else "-")


def backbone_spec(backbone: str) -> BackboneSpec:
    if backbone not in BACKBONES:
        raise BadInputError(f"--backbone {backbone}: expected one of {', '.join(BACKBONES)}")
    return BACKBONES[backbone]


def _weights_id(backbone: str, weights_id: str) -> str:
    """The cache and store key of the encoder: the default backbone's ids ('random', 'imagenet',
    'file:…') predate the family and stay as they were, so its caches and stores stay valid;
    another backbone's carry its name."""
    return weights_id if backbone == DEFAULT_BACKBONE else f"{backbone}:{weights_id}"


def _load_state(network: nn.Module, spec: BackboneSpec, path: Path) -> None:
    """Load a state dict file into ``network``: a bare state dict or one under 'state_dict' /
    'model', with an optional 'module.' or 'backbone.' prefix; the classifier head's keys are
    ignored. Any other missing or unexpected key refuses the file by name."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BadInputError(f"{path}: not a {spec.title} state dict ({exc})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict", state.get("model")), dict):
        state = state.get("state_dict", state.get("model"))
    if not isinstance(state, dict):
        raise BadInputError(f"{path}: not a {spec.title} state dict (it holds a {type(state).__name__})")
    for prefix in ("module.", "backbone."):
        if state and all(key.startswith(prefix) for key in state):
            state = {key[len(prefix):]: value for key, value in state.items()}
    head = f"{spec.head}." if spec.head else None
    state = {key: value for key, value in state.items() if not (head and key.startswith(head))}
    try:
        missing, unexpected = network.load_state_dict(state, strict=False)
    except Exception as exc:
        raise BadInputError(f"{path}: not a {spec.title} state dict ({str(exc).splitlines()[0]})") from exc
    missing = [key for key in missing if not (head and key.startswith(head))]
    if missing or unexpected:
        raise BadInputError(
            f"{path}: not a {spec.title} state dict (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


def build_encoder(weights: str, backbone: str = DEFAULT_BACKBONE, weights_file: str | Path | None = None,
                  image_size: int = FRAME_SIZE) -> tuple[FrameEncoder, EncoderRecord]:
    """Build the frozen encoder for ``auto``, ``imagenet``, ``random``, a named remote-sensing
    weights (:data:`NAMED_WEIGHTS`, with ``weights_file``) or a state dict path.

    ``auto`` takes ImageNet when torchvision's cache holds it and random init otherwise (never
    a download), which is what an offline station box can do. ``none`` (the backbone) has no
    weights: whatever ``weights`` says, it is recorded as 'none'. ``image_size``: the pixels the
    backbone sees (frames are resized inside the encoder; 128, the frame, by default).
    """
    if image_size % 32 or not 32 <= image_size <= 512:
        raise BadInputError(f"--image-size {image_size}: expected a multiple of 32 from 32 to 512 (the backbones "
                            "downsample by 32)")
    spec = backbone_spec(backbone)
    scaling = IMAGENET_SCALING
    if weights_file is not None and weights not in NAMED_WEIGHTS:
        raise BadInputError(f"--weights-file goes with named weights ({', '.join(NAMED_WEIGHTS)}), "
                            f"not --weights {weights}")
    if backbone == NO_BACKBONE:
        network = spec.build()
        identity = ("none", False, "no image embedding (history and graph only)", "none")
    elif weights in NAMED_WEIGHTS:
        named = NAMED_WEIGHTS[weights]
        if spec.name not in named.backbones:
            raise BadInputError(f"--weights {weights} is published for {', '.join(named.backbones)}, "
                                f"not --backbone {spec.name}")
        if weights_file is None or not Path(weights_file).is_file():
            raise BadInputError(f"--weights {weights} needs --weights-file PATH: the {named.title} {spec.title} "
                                f"checkpoint, downloaded from {named.files}"
                                + (f" ({weights_file} does not exist)" if weights_file is not None else ""))
        path = Path(weights_file)
        network = spec.build(weights=None)
        _load_state(network, spec, path)
        scaling = named.scaling
        digest = sha256_file(path)
        identity = (f"{weights}:file:{digest}", True,
                    f"{spec.title} {named.title} from {path.name} (sha256 {digest[:12]}; trained at "
                    f"{named.input_size} px)", weights)
    elif weights == "auto":
        return build_encoder("imagenet" if imagenet_cache_path(backbone).is_file() else "random", backbone,
                             image_size=image_size)
    elif weights == "imagenet":
        assert spec.imagenet is not None
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
        settled, weights_id = "", "random"
        if spec.settle_random_batchnorm:
            settle_batchnorm(network, RANDOM_INIT_SEED, image_size)
            # the key names the statistics too: caches of another definition must not be read
            settled, weights_id = ", BatchNorm statistics from seeded noise", f"random+{SETTLE_KEY}"
        identity = (weights_id, False, f"{spec.title} random init (seed {RANDOM_INIT_SEED}{settled})", "random")
    else:
        path = Path(weights)
        if not path.is_file():
            raise BadInputError(f"--weights {weights}: expected imagenet, random, {', '.join(NAMED_WEIGHTS)} "
                                "(with --weights-file) or a .pth file")
        network = spec.build(weights=None)
        _load_state(network, spec, path)
        digest = sha256_file(path)
        identity = (f"file:{digest}", True, f"{spec.title} from {path.name} (sha256 {digest[:12]})",
                    str(path.resolve()))
    weights_id, pretrained, description, rebuild = identity
    encoder = FrameEncoder(network, spec, scaling, image_size).eval()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    backbone_record = spec.record(encoder.backbone if spec.name != NO_BACKBONE else None, image_size)
    if image_size != FRAME_SIZE:
        weights_id, description = f"{weights_id}@{image_size}px", f"{description}, frames resized to {image_size} px"
    return encoder, EncoderRecord(backbone_record, rebuild, _weights_id(spec.name, weights_id), pretrained,
                                  description, str(Path(weights_file).resolve()) if rebuild in NAMED_WEIGHTS
                                  else None, scaling.name, image_size)


def encoder_for(config: TrainConfig) -> tuple[FrameEncoder, EncoderRecord]:
    """The encoder a training configuration names (backbone, weights, weights file)."""
    return build_encoder(config.weights, config.backbone, config.weights_file, config.image_size)


def encoder_from_record(record: EncoderRecord) -> tuple[FrameEncoder, EncoderRecord]:
    """Rebuild exactly the encoder a run or bundle recorded."""
    return build_encoder(record.weights, record.backbone.name, record.weights_file, record.input_size)


def encode_frames(encoder: FrameEncoder, frames: np.ndarray, batch_size: int = ENCODER_BATCH) -> np.ndarray:
    """Embed uint8 frames (N, H, W, 3) in batches on the encoder's device; returns float32 (N, D)."""
    return _in_batches(encoder, encoder, frames, batch_size)


def encode_cells(encoder: FrameEncoder, frames: np.ndarray, batch_size: int = ENCODER_BATCH) -> np.ndarray:
    """Feature-map cells of uint8 frames (N, H, W, 3): float32 (N, C, D), in batches."""
    return _in_batches(encoder, lambda batch: encoder.feature_cells(batch)[1], frames, batch_size)


def _in_batches(encoder: FrameEncoder, function: Callable[[torch.Tensor], torch.Tensor], frames: np.ndarray,
                batch_size: int) -> np.ndarray:
    device = encoder.mean.device  # a buffer every encoder has (``none`` has no parameters)
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(frames), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(frames[start : start + batch_size])).to(device)
            outputs.append(function(batch).cpu().numpy())
    return np.concatenate(outputs).astype(np.float32)
