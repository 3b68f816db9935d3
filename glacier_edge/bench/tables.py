"""The printed tables: one a person reads at a glance (after `yolo benchmark`), and per-stage
latency as ONNX Runtime's perf test reports it (mean, P50/P90/P95/P99)."""

from __future__ import annotations

from glacier_edge.bench.measure import ColdStart, VariantResult
from glacier_edge.bench.stats import LatencyStats


def variants_table(results: list[VariantResult]) -> str:
    header = (f"{'Variant':20s} | {'Provider':8s} | {'Size (MB)':>9s} | {'parity':>14s} | {'ms/frame P50':>12s} | "
              f"{'P95':>6s} | {'frames/s':>8s} | {'RSS (MB)':>8s}")
    lines = [header, "-" * len(header)]
    for r in results:
        rss = f"{r.peak_rss_mb:8.0f}" if r.peak_rss_mb is not None else f"{'n/a':>8s}"
        lines.append(f"{r.label:20s} | {r.provider:8s} | {r.size_mb:9.1f} | {r.parity.label:>14s} | "
                     f"{r.ms_per_frame('p50'):12.2f} | {r.ms_per_frame('p95'):6.2f} | {r.frames_per_second():8.1f} | "
                     f"{rss}")
    return "\n".join(lines)


def compare_table(rows: list[tuple[str, str, float, VariantResult, ColdStart | None]]) -> str:
    """`bench --compare`: the variants table with the bundle, its encoder and GFLOP per frame in
    front and the cold `run` behind, one row per bundle × variant, all measured in one run."""
    header = (f"{'Bundle':18s} | {'Encoder':18s} | {'GFLOP/frame':>11s} | {'Variant':20s} | {'Size (MB)':>9s} | "
              f"{'parity':>14s} | {'ms/frame P50':>12s} | {'P95':>6s} | {'frames/s':>8s} | {'cold run s':>10s} | "
              f"{'cold RSS MB':>11s}")
    lines = [header, "-" * len(header)]
    for bundle, encoder, gflop, r, cold in rows:
        wall = f"{cold.wall_s_median:10.2f}" if cold else f"{'—':>10s}"
        rss = f"{cold.peak_rss_mb_max:11.0f}" if cold else f"{'—':>11s}"
        lines.append(f"{bundle[-18:]:18s} | {encoder[:18]:18s} | {gflop:11.3f} | {r.label:20s} | {r.size_mb:9.1f} | "
                     f"{r.parity.label:>14s} | {r.ms_per_frame('p50'):12.2f} | {r.ms_per_frame('p95'):6.2f} | "
                     f"{r.frames_per_second():8.1f} | {wall} | {rss}")
    return "\n".join(lines)


def stage_table(results: list[VariantResult], decode: LatencyStats | None, decode_frames: int) -> str:
    """Per-stage latency in ms for the whole T-frame sequence."""
    header = f"{'stage':40s} {'T':>4s} {'mean':>8s} {'P50':>8s} {'P90':>8s} {'P95':>8s} {'P99':>8s}"
    lines = [header, "-" * len(header)]

    def row(name: str, frames: int, stats: LatencyStats) -> str:
        ms = stats.to_ms()
        return (f"{name:40s} {frames:4d} {ms['mean']:8.2f} {ms['p50']:8.2f} {ms['p90']:8.2f} {ms['p95']:8.2f} "
                f"{ms['p99']:8.2f}")

    if decode is not None:
        lines.append(row("decode+resize (sample GIF)", decode_frames, decode))
    for r in results:
        for stage, label in (("encoder", "encoder"), ("graph", "graph build + GNN"), ("total", "encoder + graph")):
            lines.append(row(f"{r.label} {label}", r.frames, getattr(r, stage)))
    return "\n".join(lines)
