"""Latency, memory and cold-start measurement (numpy + ORT; torch only for its own variant).

Reported the way ONNX Runtime's perf test does: after warm-up, mean and P50/P90/P95/P99, with
provider and thread count stated. Variants are measured in one process, one after another, so
their ratios compare like with like on a noisy machine.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from glacier_edge.bundle import Bundle
from glacier_edge.frames import FrameSequence, read_sequence
from glacier_edge.latency import LatencyStats, measure
from glacier_edge.runtime import EdgeModel, encoder_role_for

RESNET50_GFLOP_PER_FRAME = 2.67
"""Multiply-adds ×2 of ResNet50 at 128×128 (4.1 GFLOP at 224×224, scaled by (128/224)²)."""


class Variant(Protocol):
    variant: str
    provider: str
    size_mb: float

    def embed(self, frames: np.ndarray) -> np.ndarray: ...

    def melt(self, embeddings: np.ndarray) -> np.ndarray: ...


class OrtVariant:
    """An EdgeModel under the Variant interface."""

    def __init__(self, bundle: Bundle, precision: str, provider: str, threads: int | None) -> None:
        self.model = EdgeModel(bundle, provider=provider, threads=threads, precision=precision)
        self.variant = f"ORT {precision}"
        self.provider = self.model.provider
        files = bundle.manifest["files"]
        models = bundle.manifest["models"]
        self.size_mb = (files[models[encoder_role_for(precision)]["file"]]["bytes"]
                        + files[models["graphsage"]["file"]]["bytes"]) / 1e6

    def embed(self, frames: np.ndarray) -> np.ndarray:
        return self.model.embed(frames)

    def melt(self, embeddings: np.ndarray) -> np.ndarray:
        return self.model.melt(embeddings)


@dataclass
class VariantResult:
    variant: str
    provider: str
    threads: int | None
    frames: int
    size_mb: float
    encoder: LatencyStats
    graph: LatencyStats
    total: LatencyStats
    peak_rss_mb: float | None
    melt: np.ndarray = field(repr=False)
    parity: dict[str, float] = field(default_factory=dict)

    def ms_per_frame(self, quantile: str = "p50") -> float:
        return getattr(self.total, quantile) * 1000 / self.frames

    def frames_per_second(self) -> float:
        return self.frames / self.total.p50

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "provider": self.provider, "threads": self.threads, "frames": self.frames,
                "size_mb": round(self.size_mb, 2), "encoder_ms": self.encoder.to_ms(), "graph_ms": self.graph.to_ms(),
                "total_ms": self.total.to_ms(), "ms_per_frame_p50": self.ms_per_frame("p50"),
                "ms_per_frame_p95": self.ms_per_frame("p95"), "frames_per_second": self.frames_per_second(),
                "peak_rss_mb": self.peak_rss_mb, "parity": self.parity}


@dataclass(frozen=True)
class WatchedRun:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float | None


def run_watched(command: Sequence[str], env: dict[str, str] | None = None, interval_s: float = 0.002) -> WatchedRun:
    """Run a fresh process and sample its own peak RSS (VmHWM in /proc/PID/status).

    ``ru_maxrss`` from wait4 cannot be used: Linux carries the parent's high-water mark into a
    forked child across exec, so every child of a large benchmark process would report the
    parent's peak. The last VmHWM read before exit is the child's own peak (sampled every 2 ms).
    """
    start = time.perf_counter()
    process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    peak: list[float] = []
    done = threading.Event()

    def sample() -> None:
        status = Path(f"/proc/{process.pid}/status")
        while not done.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak.append(int(line.split()[1]) / 1024)
            except OSError:
                return
            time.sleep(interval_s)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    return WatchedRun(process.returncode, stdout, stderr, wall, max(peak) if peak else None)


def measure_variant(variant: Variant, frames: np.ndarray, *, runs: int, warmup: int,
                    threads: int | None) -> VariantResult:
    """Encoder, graph and end-to-end (encoder + graph) latency on ``frames``, in this process."""
    embeddings = variant.embed(frames)
    encoder = measure(lambda: variant.embed(frames), runs=runs, warmup=warmup)
    graph = measure(lambda: variant.melt(embeddings), runs=runs, warmup=warmup)
    total = measure(lambda: variant.melt(variant.embed(frames)), runs=runs, warmup=1)
    return VariantResult(variant.variant, variant.provider, threads, len(frames), variant.size_mb, encoder, graph,
                         total, None, variant.melt(embeddings))


def frames_of_length(sequence: FrameSequence, count: int) -> np.ndarray:
    """The sequence's frames cycled to ``count`` frames (real imagery at any T)."""
    return np.ascontiguousarray(sequence.frames[np.arange(count) % sequence.num_frames])


def decode_latency(path: Path, runs: int) -> LatencyStats:
    return measure(lambda: read_sequence(path), runs=runs, warmup=1)


def cold_start(command: Sequence[str], runs: int) -> dict[str, float]:
    """Median wall time and peak RSS of ``runs`` fresh processes."""
    walls, rss = [], []
    for _ in range(runs):
        watched = run_watched(command)
        if watched.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {watched.returncode}: {watched.stderr.strip()[-300:]}")
        walls.append(watched.wall_s)
        rss.append(watched.peak_rss_mb or float("nan"))
    return {"runs": runs, "wall_s_median": float(np.median(walls)), "wall_s_min": float(np.min(walls)),
            "wall_s_max": float(np.max(walls)), "peak_rss_mb_max": float(np.nanmax(rss))}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def system_header(threads: int | None) -> dict[str, Any]:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": threads or os.cpu_count(),
            "onnxruntime": ort.__version__, "torch": _version("torch"), "python": platform.python_version(),
            "ort_providers": ort.get_available_providers()}


def run_command_line(sequence: Path, bundle_dir: Path, precision: str) -> list[str]:
    """The `glacier-edge run` a station would type, as a fresh interpreter."""
    return [sys.executable, "-m", "glacier_edge.cli", "run", str(sequence), "--model", str(bundle_dir),
            "--precision", precision, "--format", "json"]


def torch_cold_command(sequence: Path, run_dir: Path) -> list[str]:
    """The same prediction through PyTorch (import torch + ResNet50 + PyG) in a fresh interpreter."""
    code = ("import sys; from pathlib import Path; from glacier_edge.frames import read_sequence; "
            "from glacier_edge.training.reference import TorchReference; "
            "r = TorchReference(Path(sys.argv[2])); f = read_sequence(sys.argv[1]).frames; r.melt(r.embed(f))")
    return [sys.executable, "-c", code, str(sequence), str(run_dir)]


def table(results: list[VariantResult]) -> str:
    """One table a person reads at a glance (after `yolo benchmark`)."""
    header = (f"{'Variant':20s} | {'Provider':8s} | {'Size (MB)':>9s} | {'parity':>14s} | {'ms/frame P50':>12s} | "
              f"{'P95':>6s} | {'frames/s':>8s} | {'RSS (MB)':>8s}")
    lines = [header, "-" * len(header)]
    for r in results:
        parity = r.parity.get("label", "reference")
        rss = f"{r.peak_rss_mb:8.0f}" if r.peak_rss_mb is not None else f"{'n/a':>8s}"
        lines.append(f"{r.variant:20s} | {r.provider:8s} | {r.size_mb:9.1f} | {parity:>14s} | "
                     f"{r.ms_per_frame('p50'):12.2f} | {r.ms_per_frame('p95'):6.2f} | {r.frames_per_second():8.1f} | "
                     f"{rss}")
    return "\n".join(lines)


def stage_table(results: list[VariantResult], decode: LatencyStats | None, decode_frames: int) -> str:
    """Per-stage latency: mean, P50, P90, P95, P99 in ms for the whole T-frame sequence."""
    header = f"{'stage':40s} {'T':>4s} {'mean':>8s} {'P50':>8s} {'P90':>8s} {'P95':>8s} {'P99':>8s}"
    lines = [header, "-" * len(header)]

    def row(name: str, frames: int, stats: LatencyStats) -> str:
        ms = stats.to_ms()
        return (f"{name:40s} {frames:4d} {ms['mean']:8.2f} {ms['p50']:8.2f} {ms['p90']:8.2f} {ms['p95']:8.2f} "
                f"{ms['p99']:8.2f}")

    if decode is not None:
        lines.append(row("decode+resize (sample GIF)", decode_frames, decode))
    for r in results:
        for stage in ("encoder", "graph", "total"):
            label = {"graph": "graph build + GNN", "total": "encoder + graph"}.get(stage, stage)
            lines.append(row(f"{r.variant} {label}", r.frames, getattr(r, stage)))
    return "\n".join(lines)


def parity_label(result: VariantResult, reference: VariantResult | None) -> dict[str, Any]:
    """Output agreement with the reference (PyTorch when installed, else ORT fp32), over every
    frame's computed melt (frame 0 included: parity is about the computation)."""
    if reference is None or result is reference:
        return {"label": "reference"}
    delta = np.abs(result.melt - reference.melt)
    if "int8" in result.variant:
        return {"label": f"MAE {delta.mean():.1e}", "melt_mae": float(delta.mean()), "against": reference.variant}
    return {"label": f"max|Δ| {delta.max():.0e}", "melt_max_abs": float(delta.max()), "against": reference.variant}


def run_variants(specs: list[dict[str, Any]], bundle_dir: Path, frames: int, *, runs: int, warmup: int,
                 threads: int | None, echo: Callable[[str], None]) -> list[VariantResult]:
    """Measure each variant in its own fresh process (``python -m glacier_edge.bench_worker``):
    its peak RSS is then its own, and no variant inherits another's threads, arenas or torch.
    Parity is labelled against PyTorch when it was measured, else against the first variant."""
    results: list[VariantResult] = []
    for index, spec in enumerate(specs, start=1):
        echo(f"[{index}/{len(specs)}] {spec['label']}, T={frames}, {runs} runs after {warmup} warm-up")
        job = {**spec, "bundle": str(bundle_dir), "frames": frames, "runs": runs, "warmup": warmup,
               "threads": threads}
        watched = run_watched([sys.executable, "-m", "glacier_edge.bench_worker", json.dumps(job)])
        if watched.returncode != 0:
            raise RuntimeError(f"benchmark worker for {spec['label']} failed: {watched.stderr.strip()[-400:]}")
        out = json.loads(watched.stdout.strip().splitlines()[-1])
        results.append(VariantResult(
            out["variant"], out["provider"], threads, frames, out["size_mb"],
            *(LatencyStats(**out[stage]) for stage in ("encoder", "graph", "total")),
            watched.peak_rss_mb, np.asarray(out["melt"], dtype=np.float64)))
    reference = next((r for r in results if r.variant.startswith("PyTorch")), results[0] if results else None)
    for result in results:
        result.parity = parity_label(result, reference)
    return results


def ort_spec(precision: str, provider: str) -> dict[str, Any]:
    return {"kind": "ort", "precision": precision, "provider": provider, "label": f"ORT {precision} on {provider}"}


def torch_spec(run_dir: Path) -> dict[str, Any]:
    return {"kind": "torch", "run_dir": str(run_dir), "label": "PyTorch eager fp32 on cpu"}
