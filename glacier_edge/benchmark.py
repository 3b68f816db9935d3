"""Latency measurement of bundle variants (numpy + ORT only); `demo` and `bench` share it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glacier_edge.bundle import Bundle
from glacier_edge.frames import read_sequence
from glacier_edge.graph import dense_adjacency
from glacier_edge.latency import LatencyStats, measure
from glacier_edge.runtime import EdgeModel, encoder_role_for


@dataclass(frozen=True)
class StageLatency:
    """Per-stage latency of one variant on one sequence length."""

    variant: str
    provider: str
    threads: int | None
    frames: int
    size_mb: float
    decode: LatencyStats | None
    encoder: LatencyStats
    graph: LatencyStats
    total: LatencyStats

    def ms_per_frame(self, stats: LatencyStats, quantile: str = "p50") -> float:
        return getattr(stats, quantile) * 1000 / self.frames

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "provider": self.provider, "threads": self.threads, "frames": self.frames,
                "size_mb": self.size_mb,
                **{f"{name}_ms": getattr(self, name).to_ms() for name in ("decode", "encoder", "graph", "total")
                   if getattr(self, name) is not None}}


def bundle_variant_latency(bundle: Bundle, precision: str, frames: np.ndarray, *, provider: str = "cpu",
                           threads: int | None = None, runs: int = 20, warmup: int = 3,
                           sequence_path: Path | None = None) -> StageLatency:
    """Time encoder, graph (adjacency + GNN) and, when a file is given, decode+resize."""
    model = EdgeModel(bundle, provider=provider, threads=threads, precision=precision)
    embeddings = model.embed(frames)
    encoder = measure(lambda: model.embed(frames), runs=runs, warmup=warmup)
    graph = measure(lambda: model.melt(embeddings), runs=runs, warmup=warmup)
    decode = None
    if sequence_path is not None:
        decode = measure(lambda: read_sequence(sequence_path), runs=runs, warmup=1)

    def whole() -> None:
        if sequence_path is not None:
            read_sequence(sequence_path)
        model.melt(model.embed(frames))

    total = measure(whole, runs=runs, warmup=1)
    size = bundle.manifest["files"][bundle.manifest["models"][encoder_role_for(precision)]["file"]]["bytes"]
    size += bundle.manifest["files"][bundle.manifest["models"]["graphsage"]["file"]]["bytes"]
    return StageLatency(f"ORT {precision}", model.provider, threads, len(frames), size / 1e6, decode, encoder, graph,
                        total)


def graph_only_latency(model: EdgeModel, frames: int, runs: int) -> LatencyStats:
    """Adjacency build + dense GNN at T frames (random embeddings): the T² part."""
    embeddings = np.random.default_rng(frames).normal(13, 12, (frames, 2048)).astype(np.float32)
    return measure(lambda: model.melt(embeddings), runs=runs, warmup=2)


def adjacency_build_seconds(frames: int) -> float:
    start = time.perf_counter()
    dense_adjacency(frames)
    return time.perf_counter() - start
