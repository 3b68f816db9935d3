"""Measuring variants: each in its own fresh process (its peak RSS is its own, and no variant
inherits another's threads, arenas or torch), plus cold starts of whole commands."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from glacier_edge.bench.stats import LatencyStats, measure
from glacier_edge.bench.variants import VARIANT_KINDS, Variant, VariantSpec
from glacier_edge.errors import GlacierEdgeError
from glacier_edge.ingest.frames import FrameSequence


class BenchmarkError(GlacierEdgeError):
    """A benchmark worker or timed command failed; the message carries its last stderr line."""


@dataclass(frozen=True)
class ParityLabel:
    label: str
    against: str | None = None
    melt_mae: float | None = None
    melt_max_abs: float | None = None


@dataclass(frozen=True)
class VariantResult:
    spec: VariantSpec
    provider: str
    """The provider the session really got."""
    threads: int | None
    frames: int
    size_mb: float
    encoder: LatencyStats
    graph: LatencyStats
    total: LatencyStats
    peak_rss_mb: float | None
    melt: tuple[float, ...]
    parity: ParityLabel = ParityLabel("reference")

    @property
    def label(self) -> str:
        return self.spec.label

    def ms_per_frame(self, quantile: str = "p50") -> float:
        return getattr(self.total, quantile) * 1000 / self.frames

    def frames_per_second(self) -> float:
        return self.frames / self.total.p50


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


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][-300:] if lines else "no output"


def measure_variant(variant: Variant, frames: np.ndarray, *, runs: int, warmup: int) -> dict[str, object]:
    """Encoder, graph and end-to-end latency on ``frames`` in this process (the worker's job)."""
    embeddings = variant.embed(frames)
    encoder = measure(lambda: variant.embed(frames), runs=runs, warmup=warmup)
    graph = measure(lambda: variant.melt(embeddings), runs=runs, warmup=warmup)
    total = measure(lambda: variant.melt(variant.embed(frames)), runs=runs, warmup=1)
    return {"provider": variant.provider, "size_mb": variant.size_mb, "encoder": asdict(encoder),
            "graph": asdict(graph), "total": asdict(total), "melt": variant.melt(embeddings).tolist()}


def frames_of_length(sequence: FrameSequence, count: int) -> np.ndarray:
    """The sequence's frames cycled to ``count`` frames (real-looking imagery at any T)."""
    return np.ascontiguousarray(sequence.frames[np.arange(count) % sequence.num_frames])


def parity_label(result: VariantResult, reference: VariantResult | None) -> ParityLabel:
    """Output agreement with the reference over every frame's computed melt (frame 0 included:
    parity is about the computation)."""
    if reference is None or result is reference:
        return ParityLabel("reference")
    delta = np.abs(np.asarray(result.melt) - np.asarray(reference.melt))
    if result.spec.precision == "int8":
        return ParityLabel(f"MAE {delta.mean():.1e}", reference.label, melt_mae=float(delta.mean()))
    return ParityLabel(f"max|Δ| {delta.max():.0e}", reference.label, melt_max_abs=float(delta.max()))


def run_variants(specs: list[VariantSpec], bundle_dir: Path, frames: int, *, runs: int, warmup: int,
                 threads: int | None, echo: Callable[[str], None]) -> list[VariantResult]:
    """Measure each variant in a fresh ``python -m glacier_edge.bench.worker`` process."""
    results: list[VariantResult] = []
    for index, spec in enumerate(specs, start=1):
        echo(f"[{index}/{len(specs)}] {spec.label} on {spec.provider}, T={frames}, {runs} runs after {warmup} warm-up")
        job = {"spec": asdict(spec), "target": VARIANT_KINDS[spec.kind], "bundle": str(bundle_dir),
               "frames": frames, "runs": runs, "warmup": warmup, "threads": threads}
        watched = run_watched([sys.executable, "-m", "glacier_edge.bench.worker", json.dumps(job)])
        if watched.returncode != 0:
            raise BenchmarkError(f"benchmark of {spec.label} on {spec.provider} failed (exit {watched.returncode}): "
                                 f"{_last_line(watched.stderr)}")
        out = json.loads(watched.stdout.strip().splitlines()[-1])
        results.append(VariantResult(
            spec, out["provider"], threads, frames, out["size_mb"],
            *(LatencyStats(**out[stage]) for stage in ("encoder", "graph", "total")),
            watched.peak_rss_mb, tuple(out["melt"])))
    reference = next((r for r in results if r.spec.is_reference), results[0] if results else None)
    return [replace(result, parity=parity_label(result, reference)) for result in results]


@dataclass(frozen=True)
class ColdStart:
    runs: int
    wall_s_median: float
    wall_s_min: float
    wall_s_max: float
    peak_rss_mb_max: float


def cold_start(command: Sequence[str], runs: int) -> ColdStart:
    """Median wall time and peak RSS of ``runs`` fresh processes."""
    walls, rss = [], []
    for _ in range(runs):
        watched = run_watched(command)
        if watched.returncode != 0:
            raise BenchmarkError(f"cold-start command exited {watched.returncode}: {_last_line(watched.stderr)}")
        walls.append(watched.wall_s)
        rss.append(watched.peak_rss_mb or float("nan"))
    return ColdStart(runs, float(np.median(walls)), float(np.min(walls)), float(np.max(walls)),
                     float(np.nanmax(rss)))
