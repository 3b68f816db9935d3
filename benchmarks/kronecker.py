#!/usr/bin/env python3
"""Issue 21 groundwork: how to aggregate over a spatio-temporal graph of T frames × R regions
without materialising a (T·R)² adjacency. With temporal edges linking the same region across
frames (A_t, T×T) and spatial edges linking adjacent regions within a frame (A_s, R×R), the
graph's adjacency is A_t ⊗ I_R + I_T ⊗ A_s, so one mean-aggregation step is two small matrix
products on the (T, R, F) node features instead of one (T·R)×(T·R) product.

Measured here for T = 64 and R = 16, 64, 256 (a 4-neighbour grid; F = 128 features, float32,
numpy's BLAS, median of 20): time per aggregation and the adjacency's memory. Saved to
benchmarks/results/kronecker.{txt,json}.

    python benchmarks/kronecker.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from glacier_edge.bench.system import system_info
from glacier_edge.fileio import write_json_atomic, write_text_atomic

RESULTS = Path(__file__).resolve().parent / "results"
T, FEATURES, RUNS = 64, 128, 20


def temporal(t: int) -> np.ndarray:
    """Bidirectional chain over frames (the nowcast graph), row-normalised."""
    a = np.eye(t, k=1) + np.eye(t, k=-1)
    return (a / a.sum(axis=1, keepdims=True)).astype(np.float32)


def spatial(r: int) -> np.ndarray:
    """4-neighbour grid over √R × √R regions, row-normalised."""
    side = int(round(np.sqrt(r)))
    index = np.arange(r).reshape(side, side)
    a = np.zeros((r, r), np.float32)
    for di, dj in ((0, 1), (1, 0)):
        left, right = index[: side - di, : side - dj].ravel(), index[di:, dj:].ravel()
        a[left, right] = a[right, left] = 1
    return (a / a.sum(axis=1, keepdims=True)).astype(np.float32)


def timed(function, *args: np.ndarray) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def kronecker_step(a_t: np.ndarray, a_s: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(A_t ⊗ I + I ⊗ A_s) applied to (T, R, F) features, without the (T·R)² matrix."""
    return np.einsum("ts,srf->trf", a_t, x) + np.einsum("rq,tqf->trf", a_s, x)


def dense_step(adjacency: np.ndarray, flat: np.ndarray) -> np.ndarray:
    return adjacency @ flat


def main() -> None:
    rows = []
    for r in (16, 64, 256):
        a_t, a_s = temporal(T), spatial(r)
        x = np.random.default_rng(0).standard_normal((T, r, FEATURES)).astype(np.float32)
        kron = timed(kronecker_step, a_t, a_s, x)
        dense_bytes = (T * r) ** 2 * 4
        dense_seconds = None
        if dense_bytes <= 2 * 1024**3:
            adjacency = np.kron(a_t, np.eye(r, dtype=np.float32)) + np.kron(np.eye(T, dtype=np.float32), a_s)
            flat = x.reshape(T * r, FEATURES)
            dense_seconds = timed(dense_step, adjacency, flat)
            same = np.allclose(dense_step(adjacency, flat).reshape(T, r, FEATURES), kronecker_step(a_t, a_s, x),
                               atol=1e-5)
            assert same, "the Kronecker form must equal the dense product"
        rows.append({"T": T, "R": r, "nodes": T * r, "dense_adjacency_mb": dense_bytes / 1e6,
                     "kronecker_adjacency_kb": (T * T + r * r) * 4 / 1e3, "dense_ms": None if dense_seconds is None
                     else dense_seconds * 1000, "kronecker_ms": kron * 1000})
        print(rows[-1])
    lines = [system_info(None).line(), "",
             "| T | R | nodes | dense adjacency | A_t and A_s | dense A·X (ms) | A_t ⊗ I + I ⊗ A_s (ms) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        dense = "—" if row["dense_ms"] is None else f"{row['dense_ms']:.1f}"
        lines.append(f"| {row['T']} | {row['R']} | {row['nodes']} | {row['dense_adjacency_mb']:.0f} MB | "
                     f"{row['kronecker_adjacency_kb']:.0f} kB | {dense} | {row['kronecker_ms']:.2f} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "kronecker.txt", table + "\n")
    write_json_atomic(RESULTS / "kronecker.json", {"rows": rows})


if __name__ == "__main__":
    sys.exit(main())
