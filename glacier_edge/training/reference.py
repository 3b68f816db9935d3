"""The PyTorch eager pipeline of a training run, with the edge runner's embed/melt interface,
so benchmarks and parity compare variants through one code path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from glacier_edge.features import node_inputs
from glacier_edge.training.checkpoint import load_checkpoint
from glacier_edge.training.encoder import build_encoder, encode_frames
from glacier_edge.training.loop import predict


class TorchReference:
    """ResNet50 encoder + PyG SAGEConv model of ``run_dir``, eager fp32 on the CPU."""

    variant = "PyTorch eager fp32"
    provider = "cpu"

    def __init__(self, run_dir: Path, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.model, info = load_checkpoint(run_dir)
        self.task = info.get("task", "nowcast")
        features = info.get("node_features") or {}
        self.metadata_names, self.metadata_neutral = features.get("metadata", []), features.get("neutral", [])
        self.encoder, _ = build_encoder(info["encoder"]["weights"])
        self.size_mb = (sum(p.numel() * p.element_size() for p in self.encoder.parameters())
                        + (Path(run_dir) / "model.pt").stat().st_size) / 1e6

    def embed(self, frames: np.ndarray) -> np.ndarray:
        return encode_frames(self.encoder, frames)

    def melt(self, embeddings: np.ndarray) -> np.ndarray:
        inputs = node_inputs(embeddings, None, self.metadata_names, self.metadata_neutral)
        return predict(self.model, inputs, self.task)
