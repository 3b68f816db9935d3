"""The PyTorch eager pipeline of a training run, with the edge runner's embed/melt interface,
so benchmarks and parity compare variants through one code path. Importing this module
registers the PyTorch variant kind with the benchmark (the edge wing never imports torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from glacier_edge.bench.variants import VariantSpec, register_kind
from glacier_edge.contracts import MODEL_FILE
from glacier_edge.signals.features import node_inputs
from glacier_edge.training.checkpoint import load_checkpoint
from glacier_edge.training.encoder import encode_frames, encoder_from_record
from glacier_edge.training.loop import predict


class TorchReference:
    """Encoder + PyG graph model of ``run_dir``, eager fp32 on the CPU."""

    label = "PyTorch eager fp32"
    provider = "cpu"

    def __init__(self, run_dir: Path, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.model, record = load_checkpoint(run_dir)
        self.task = record.config.task
        self.features = record.node_features
        self.encoder, _ = encoder_from_record(record.encoder)
        self.size_mb = (sum(p.numel() * p.element_size() for p in self.encoder.parameters())
                        + (Path(run_dir) / MODEL_FILE).stat().st_size) / 1e6

    @classmethod
    def from_spec(cls, spec: VariantSpec, bundle_dir: Path, threads: int | None) -> TorchReference:
        if spec.run_dir is None:
            raise ValueError("the PyTorch variant needs the training run")
        return cls(Path(spec.run_dir), threads)

    def embed(self, frames: np.ndarray) -> np.ndarray:
        return encode_frames(self.encoder, frames)

    def melt(self, embeddings: np.ndarray) -> np.ndarray:
        inputs = node_inputs(embeddings, None, self.features, None, self.task)
        return predict(self.model, inputs, self.task)


register_kind("torch", f"{__name__}:TorchReference")
