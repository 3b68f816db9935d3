"""Latency statistics the way ONNX Runtime's perf test reports them: after warm-up, mean,
min/max and P50/P90/P95/P99 of repeated runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Seconds per call."""

    runs: int
    mean: float
    min: float
    max: float
    p50: float
    p90: float
    p95: float
    p99: float

    def to_ms(self) -> dict[str, float]:
        return {key: (value * 1000 if key != "runs" else value) for key, value in asdict(self).items()}


def measure(call: Callable[[], object], *, runs: int = 20, warmup: int = 3) -> LatencyStats:
    """Time ``call`` ``runs`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    samples = np.empty(runs)
    for index in range(runs):
        start = time.perf_counter()
        call()
        samples[index] = time.perf_counter() - start
    p50, p90, p95, p99 = np.percentile(samples, [50, 90, 95, 99])
    return LatencyStats(runs, float(samples.mean()), float(samples.min()), float(samples.max()),
                        float(p50), float(p90), float(p95), float(p99))
