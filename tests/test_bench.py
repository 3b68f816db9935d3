"""`glacier-edge bench` runs and its JSON has the fields; no timing is asserted (machines are noisy)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from glacier_edge.bench.measure import run_watched
from glacier_edge.bench.stats import measure
from glacier_edge.cli import main


def test_latency_stats_on_a_fake_clock_exclude_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls of known duration (warm-ups 100 s each, then 1..30 ms): the figures are exact."""
    from glacier_edge.bench import stats as stats_module

    clock = [0.0]
    durations = iter([100.0, 100.0] + [ms / 1000 for ms in range(1, 31)])
    monkeypatch.setattr(stats_module.time, "perf_counter", lambda: clock[0])

    def call() -> None:
        clock[0] += next(durations)

    stats = measure(call, runs=30, warmup=2)
    assert stats.runs == 30
    assert (stats.min, stats.max) == pytest.approx((0.001, 0.030))
    assert stats.mean == pytest.approx(0.0155) and stats.p50 == pytest.approx(0.0155)
    assert stats.p90 == pytest.approx(0.0271) and stats.p99 == pytest.approx(0.02971)


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
    variants = {f"{v['spec']['kind']} {v['spec']['precision']}": v for v in data["by_frames"][0]["variants"]}
    assert set(variants) == {"torch fp32", "ort fp32", "ort int8"}
    assert [v["spec"]["is_reference"] for v in variants.values()].count(True) == 1
    assert variants["torch fp32"]["spec"]["is_reference"]
    for v in variants.values():
        assert v["frames"] == 4 and v["threads"] == 2
        for key in ("mean", "p50", "p90", "p95", "p99"):
            assert v["total"][key] > 0
        assert v["peak_rss_mb"] > 0
    assert variants["ort fp32"]["parity"]["melt_max_abs"] < 1e-4
    # The 0.005 bound is judged at export on the calibration sequences; here T = 4 cycled frames on
    # whatever CPU runs the test (AVX2 without VNNI measured 0.009): int8 must only not be broken.
    assert variants["ort int8"]["parity"]["melt_mae"] < 0.05
    assert set(data["cold_start"]) == {"glacier-edge run (ORT fp32)", "glacier-edge run (ORT int8)",
                                       "PyTorch eager path (import torch)"}
    assert data["by_frames"][0]["encoder_speedup_p50"]["ort_int8_vs_ort_fp32"] > 0
    assert len(data["by_frames"][0]["encoder_gflops_p50"]) == 3
    assert "encoder throughput at P50 (2.669 GFLOP/frame" in result.output  # counted: 2 × 1.3345 GMAC at 128 px


def test_a_failing_worker_ends_as_one_line(exported_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from glacier_edge.bench import variants

    monkeypatch.setitem(variants.VARIANT_KINDS, "ort", "glacier_edge.no_such_module:Nothing")
    result = CliRunner().invoke(main, ["bench", "--model", str(exported_bundle), "--frames", "2", "--runs", "3",
                                       "--cold-runs", "0"])
    assert result.exit_code == 2
    assert "benchmark of ORT fp32 on cpu failed (exit 1): ModuleNotFoundError: No module named" in result.output
    assert "Traceback" not in result.output


def test_bench_rejects_unknown_provider(exported_bundle: Path) -> None:
    result = CliRunner().invoke(main, ["bench", "--model", str(exported_bundle), "--providers", "tpu"])
    assert result.exit_code == 2 and "'tpu' is not one of 'cpu', 'cuda'" in result.output


def test_bench_compare_prints_bundles_side_by_side(tmp_path: Path) -> None:
    """`bench --compare`: every bundle's ORT variants in one table, in the order given, and the JSON
    holds one report per bundle (torch-free: the committed tiny bundle and a copy of it)."""
    import shutil

    tiny = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle"
    other = tmp_path / "tiny_copy"
    shutil.copytree(tiny, other)
    result = CliRunner().invoke(main, ["bench", "--model", str(tiny), "--compare", str(other), "--frames", "4",
                                       "--runs", "3", "--cold-runs", "0", "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Bundle "))
    assert "GFLOP/frame" in lines[header] and "cold run s" in lines[header]
    rows = [line.split(" | ") for line in lines[header + 2:]]
    assert [r[0].strip() for r in rows if "ORT fp32" in r[3]] == ["tiny_bundle", "tiny_copy"]
    assert {r[1].strip() for r in rows} == {"tiny-pool"}  # the fixture's own encoder name
    data = json.loads((tmp_path / "b.json").read_text())
    assert [Path(r["bundle"]).name for r in data["bundles"]] == ["tiny_bundle", "tiny_copy"]


def test_bench_compare_refuses_a_missing_bundle(tmp_path: Path) -> None:
    tiny = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle"
    result = CliRunner().invoke(main, ["bench", "--model", str(tiny), "--compare", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "does not exist" in result.output
