"""`glacier-edge bench` runs and its JSON has the fields; no timing is asserted (machines are noisy)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from glacier_edge.benchmark import run_watched
from glacier_edge.cli import main
from glacier_edge.latency import measure


def test_latency_stats_are_ordered() -> None:
    stats = measure(lambda: sum(range(1000)), runs=30, warmup=2)
    assert stats.runs == 30
    assert stats.min <= stats.p50 <= stats.p90 <= stats.p95 <= stats.p99 <= stats.max


def test_watched_process_reports_its_own_peak_rss_not_the_parents() -> None:
    big = bytearray(300 * 1024 * 1024)  # the parent grows by 300 MB; a child must not inherit that figure
    watched = run_watched([sys.executable, "-c", "import time; b = bytearray(60 * 2**20); time.sleep(0.3)"])
    del big
    assert watched.returncode == 0
    assert watched.peak_rss_mb is not None and 60 <= watched.peak_rss_mb < 200


def test_bench_prints_table_and_writes_json(exported_bundle: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "--model", str(exported_bundle), "--frames", "4", "--runs", "3",
                                       "--cold-runs", "1", "--threads", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "Variant              | Provider | Size (MB) |" in result.output
    data = json.loads(out.read_text())
    assert data["system"]["cores"] >= 1 and data["system"]["onnxruntime"]
    variants = {v["variant"]: v for v in data["by_frames"][0]["variants"]}
    assert set(variants) == {"PyTorch eager fp32", "ORT fp32", "ORT int8"}
    for v in variants.values():
        assert v["frames"] == 4 and v["threads"] == 2
        for key in ("mean", "p50", "p90", "p95", "p99"):
            assert v["total_ms"][key] > 0
        assert v["peak_rss_mb"] > 0
    assert variants["ORT fp32"]["parity"]["melt_max_abs"] < 1e-4
    assert variants["ORT int8"]["parity"]["melt_mae"] < 0.005
    assert set(data["cold_start"]) == {"glacier-edge run (ORT fp32)", "glacier-edge run (ORT int8)",
                                       "PyTorch eager path (import torch)"}
    assert data["by_frames"][0]["encoder_speedup_p50"]["ort_int8_vs_ort_fp32"] > 0
    assert set(data["by_frames"][0]["encoder_gflops_p50"]) == set(variants)
    assert "encoder throughput at P50 (2.67 GFLOP/frame" in result.output


def test_bench_rejects_unknown_provider(exported_bundle: Path) -> None:
    result = CliRunner().invoke(main, ["bench", "--model", str(exported_bundle), "--providers", "tpu"])
    assert result.exit_code == 2 and "unknown provider" in result.output
