"""`glacier-edge bench`: every variant × provider × T, per stage, plus cold start, in one run."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from glacier_edge.benchmark import (
    RESNET50_GFLOP_PER_FRAME,
    VariantResult,
    cold_start,
    decode_latency,
    ort_spec,
    run_command_line,
    run_variants,
    stage_table,
    system_header,
    table,
    torch_cold_command,
    torch_spec,
)
from glacier_edge.bundle import load_bundle
from glacier_edge.errors import ProviderError
from glacier_edge.frames import read_sequence, sample_sequence_path
from glacier_edge.runtime import create_session

Echo = Callable[[str], None]


def torch_available() -> bool:
    return all(importlib.util.find_spec(name) for name in ("torch", "torchvision", "torch_geometric"))


def _run_dir(bundle_manifest: dict[str, Any]) -> Path | None:
    run_dir = Path(bundle_manifest.get("training", {}).get("run_dir", ""))
    return run_dir if (run_dir / "run.json").is_file() else None


def _provider_usable(bundle_dir: Path, provider: str, echo: Echo) -> bool:
    if provider == "cpu":
        return True
    try:
        create_session(bundle_dir / "graphsage.onnx", provider)
        return True
    except ProviderError as exc:
        echo(f"skipping provider {provider}: {exc}")
        return False


def run_bench(bundle_dir: Path, *, frame_counts: Sequence[int], providers: Sequence[str], threads: int | None,
              runs: int, cold_runs: int, echo: Echo) -> tuple[dict[str, Any], str]:
    """Measure and return (JSON-ready results, the printed report)."""
    bundle = load_bundle(bundle_dir)
    sample = sample_sequence_path()
    sequence = read_sequence(sample)
    run_dir = _run_dir(bundle.manifest) if torch_available() else None
    header = system_header(threads)
    report_lines = [
        f"CPU: {header['cpu']} | cores {header['cores']} | threads {header['threads']} | onnxruntime "
        f"{header['onnxruntime']} | torch {header['torch'] or 'not installed'} | encoder: {bundle.weights_label}",
    ]
    results: dict[str, Any] = {"system": header, "bundle": str(bundle_dir), "runs": runs, "by_frames": []}
    echo("measuring decode+resize of the sample GIF")
    decode = decode_latency(sample, runs)
    results["decode_ms"] = {"frames": sequence.num_frames, **decode.to_ms()}
    usable = [p for p in providers if _provider_usable(bundle_dir, p, echo)]
    for count in frame_counts:
        specs = []
        for provider in usable:
            specs.append(ort_spec("fp32", provider))
            if bundle.has_model("encoder_int8"):
                specs.append(ort_spec("int8", provider))
        if run_dir is not None:
            specs.append(torch_spec(run_dir))
        measured: list[VariantResult] = run_variants(specs, bundle_dir, count, runs=runs, warmup=3, threads=threads,
                                                     echo=echo)
        ordered = sorted(measured, key=lambda r: (not r.variant.startswith("PyTorch"), r.provider, r.variant))
        results["by_frames"].append({"frames": count, "variants": [r.to_dict() for r in ordered]})
        report_lines += ["", f"T = {count} frames (sample frames cycled), per frame = (encoder + graph) / T",
                         table(ordered), "", stage_table(ordered, decode, sequence.num_frames)]
        fp32 = next((r for r in measured if r.variant == "ORT fp32" and r.provider == "cpu"), None)
        int8 = next((r for r in measured if r.variant == "ORT int8" and r.provider == "cpu"), None)
        eager = next((r for r in measured if r.variant.startswith("PyTorch")), None)
        ratios = {}
        if fp32 and eager:
            ratios["ort_fp32_vs_torch_eager"] = eager.encoder.p50 / fp32.encoder.p50
        if fp32 and int8:
            ratios["ort_int8_vs_ort_fp32"] = fp32.encoder.p50 / int8.encoder.p50
        throughput = {r.variant: RESNET50_GFLOP_PER_FRAME * count / r.encoder.p50 for r in ordered}
        results["by_frames"][-1]["encoder_gflops_p50"] = throughput
        report_lines.append(f"encoder throughput at P50 ({RESNET50_GFLOP_PER_FRAME} GFLOP/frame; int8 counts int8 "
                            "operations): " + ", ".join(f"{name} {value:.0f} GFLOP/s" for name, value in
                                                        throughput.items()))
        if ratios:
            results["by_frames"][-1]["encoder_speedup_p50"] = ratios
            report_lines.append("encoder speed-up (P50, same run): " + ", ".join(
                f"{name.replace('_', ' ')} ×{value:.2f}" for name, value in ratios.items()))
    if cold_runs:
        results["cold_start"] = _cold(bundle_dir, bundle.has_model("encoder_int8"), run_dir, cold_runs, echo)
        report_lines += ["", f"cold start: fresh process on the sample ({sequence.num_frames} frames), median of "
                         f"{cold_runs} after one warm-up run"]
        for name, cold in results["cold_start"].items():
            report_lines.append(f"  {name:34s} wall {cold['wall_s_median']:.2f} s (min {cold['wall_s_min']:.2f}) "
                                f"peak RSS {cold['peak_rss_mb_max']:.0f} MB")
    return results, "\n".join(report_lines)


def _cold(bundle_dir: Path, has_int8: bool, run_dir: Path | None, runs: int, echo: Echo) -> dict[str, Any]:
    sample = sample_sequence_path()
    commands = {"glacier-edge run (ORT fp32)": run_command_line(sample, bundle_dir, "fp32")}
    if has_int8:
        commands["glacier-edge run (ORT int8)"] = run_command_line(sample, bundle_dir, "int8")
    if run_dir is not None:
        commands["PyTorch eager path (import torch)"] = torch_cold_command(sample, run_dir)
    out = {}
    for name, command in commands.items():
        echo(f"cold start: {name}")
        cold_start(command, 1)  # builds the per-machine ORT cache, as a station's first run does
        out[name] = cold_start(command, runs)
    return out
