"""`glacier-edge bench`: every variant × provider × T, per stage, plus cold start, in one run."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from glacier_edge.bench.measure import ColdStart, VariantResult, cold_start, run_variants
from glacier_edge.bench.stats import measure
from glacier_edge.bench.system import SystemInfo, system_info
from glacier_edge.bench.tables import compare_table, stage_table, variants_table
from glacier_edge.bench.variants import VARIANT_KINDS, variant_table
from glacier_edge.contracts import ROLE_ENCODER_INT8, ROLE_GNN, RUN_FILE
from glacier_edge.edge.bundle import Bundle, load_bundle, read_manifest
from glacier_edge.edge.runtime import create_session
from glacier_edge.errors import ProviderError
from glacier_edge.ingest.frames import read_sequence
from glacier_edge.ingest.samples import sample_sequence_path

Echo = Callable[[str], None]


@dataclass(frozen=True)
class FramesResult:
    frames: int
    variants: tuple[VariantResult, ...]
    encoder_gflops_p50: dict[str, float]
    encoder_speedup_p50: dict[str, float]


@dataclass(frozen=True)
class BenchReport:
    """What `bench --json` writes."""

    system: SystemInfo
    bundle: str
    runs: int
    decode_ms: dict[str, float]
    by_frames: tuple[FramesResult, ...]
    cold_start: dict[str, ColdStart] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def torch_available() -> bool:
    return all(importlib.util.find_spec(name) for name in ("torch", "torchvision", "torch_geometric"))


def _reference_run(bundle: Bundle) -> Path | None:
    """The training run, when the torch wing registered its PyTorch variant kind (the caller
    imports :mod:`glacier_edge.training.reference` where torch is installed; this wing never
    imports it) and the run is still where export found it."""
    run_dir = Path(bundle.manifest.training.run_dir)
    if "torch" not in VARIANT_KINDS or not (run_dir / RUN_FILE).is_file():
        return None
    return run_dir


def _provider_usable(bundle: Bundle, provider: str, echo: Echo) -> bool:
    if provider == "cpu":
        return True
    try:
        create_session(bundle.model_path(ROLE_GNN), provider)
        return True
    except ProviderError as exc:
        echo(f"skipping provider {provider}: {exc}")
        return False


def _speedups(measured: list[VariantResult]) -> dict[str, float]:
    def find(kind: str, precision: str) -> VariantResult | None:
        return next((r for r in measured if (r.spec.kind, r.spec.precision, r.provider) == (kind, precision, "cpu")),
                    None)

    fp32, int8, eager = find("ort", "fp32"), find("ort", "int8"), find("torch", "fp32")
    ratios = {}
    if fp32 and eager:
        ratios["ort_fp32_vs_torch_eager"] = eager.encoder.p50 / fp32.encoder.p50
    if fp32 and int8:
        ratios["ort_int8_vs_ort_fp32"] = fp32.encoder.p50 / int8.encoder.p50
    return ratios


def run_bench(bundle_dir: Path, *, frame_counts: Sequence[int], providers: Sequence[str], threads: int | None,
              runs: int, cold_runs: int, echo: Echo) -> tuple[BenchReport, str]:
    """Measure and return (the report's record, the printed report)."""
    bundle = load_bundle(bundle_dir)
    sample = sample_sequence_path()
    sequence = read_sequence(sample)
    run_dir = _reference_run(bundle)
    system = system_info(threads)
    gflop = bundle.manifest.encoder.backbone.gflop_per_frame
    lines = [system.line(), f"encoder: {bundle.weights_label}"]
    echo("measuring decode+resize of the sample GIF")
    decode = measure(lambda: read_sequence(sample), runs=runs, warmup=1)
    usable = [p for p in providers if _provider_usable(bundle, p, echo)]
    by_frames = []
    for count in frame_counts:
        measured = run_variants(variant_table(bundle, usable, run_dir), bundle_dir, count, runs=runs, warmup=3,
                                threads=threads, echo=echo)
        ratios = _speedups(measured)
        throughput = {f"{r.label} on {r.provider}": gflop * count / r.encoder.p50 for r in measured}
        by_frames.append(FramesResult(count, tuple(measured), throughput, ratios))
        lines += ["", f"T = {count} frames (sample frames cycled), per frame = (encoder + graph) / T",
                  variants_table(measured), "", stage_table(measured, decode, sequence.num_frames),
                  f"encoder throughput at P50 ({gflop} GFLOP/frame; int8 counts int8 operations): "
                  + ", ".join(f"{name} {value:.0f} GFLOP/s" for name, value in throughput.items())]
        if ratios:
            lines.append("encoder speed-up (P50, same run): " + ", ".join(
                f"{name.replace('_', ' ')} ×{value:.2f}" for name, value in ratios.items()))
    cold = _cold(bundle, run_dir, cold_runs, echo) if cold_runs else {}
    if cold:
        lines += ["", f"cold start: fresh process on the sample ({sequence.num_frames} frames), median of "
                  f"{cold_runs} after one warm-up run"]
        lines += [f"  {name:34s} wall {c.wall_s_median:.2f} s (min {c.wall_s_min:.2f}) peak RSS "
                  f"{c.peak_rss_mb_max:.0f} MB" for name, c in cold.items()]
    report = BenchReport(system, str(bundle_dir), runs, {"frames": sequence.num_frames, **decode.to_ms()},
                         tuple(by_frames), cold)
    return report, "\n".join(lines)


def compare_bundles(bundle_dirs: Sequence[Path], *, frames: int, threads: int | None, runs: int, cold_runs: int,
                    echo: Echo) -> tuple[list[BenchReport], str]:
    """`bench --compare`: each bundle measured as `bench` measures one (ORT variants on the CPU at
    ``frames`` frames, then the cold `run`), one after another in this process, and one table."""
    reports, rows = [], []
    for bundle_dir in bundle_dirs:
        echo(f"measuring {bundle_dir}")
        report, _ = run_bench(bundle_dir, frame_counts=(frames,), providers=["cpu"], threads=threads, runs=runs,
                              cold_runs=cold_runs, echo=echo)
        reports.append(report)
        backbone = read_manifest(Path(bundle_dir)).encoder.backbone  # run_bench verified the files already
        for result in report.by_frames[0].variants:
            cold = report.cold_start.get(f"glacier-edge run (ORT {result.spec.precision})") \
                if result.spec.kind == "ort" else report.cold_start.get("PyTorch eager path (import torch)")
            rows.append((Path(bundle_dir).name, backbone.name, backbone.gflop_per_frame, result, cold))
    text = "\n".join([system_info(threads).line(), f"T = {frames} frames (sample frames cycled), per frame = "
                      "(encoder + graph) / T; cold run: fresh `glacier-edge run` on the sample, median of "
                      f"{cold_runs}", compare_table(rows)])
    return reports, text


def run_command_line(sequence: Path, bundle_dir: Path, precision: str) -> list[str]:
    """The `glacier-edge run` a station would type, as a fresh interpreter."""
    return [sys.executable, "-m", "glacier_edge.cli", "run", str(sequence), "--model", str(bundle_dir),
            "--precision", precision, "--format", "json"]


def torch_cold_command(sequence: Path, run_dir: Path) -> list[str]:
    """The same prediction through PyTorch (import torch + encoder + PyG) in a fresh interpreter."""
    code = ("import sys; from pathlib import Path; from glacier_edge.ingest.frames import read_sequence; "
            "from glacier_edge.training.reference import TorchReference; "
            "r = TorchReference(Path(sys.argv[2])); f = read_sequence(sys.argv[1]).frames; r.melt(r.embed(f))")
    return [sys.executable, "-c", code, str(sequence), str(run_dir)]


def _cold(bundle: Bundle, run_dir: Path | None, runs: int, echo: Echo) -> dict[str, ColdStart]:
    sample = sample_sequence_path()
    commands = {"glacier-edge run (ORT fp32)": run_command_line(sample, bundle.directory, "fp32")}
    if bundle.has_model(ROLE_ENCODER_INT8):
        commands["glacier-edge run (ORT int8)"] = run_command_line(sample, bundle.directory, "int8")
    if run_dir is not None:
        commands["PyTorch eager path (import torch)"] = torch_cold_command(sample, run_dir)
    out = {}
    for name, command in commands.items():
        echo(f"cold start: {name}")
        cold_start(command, 1)  # builds the per-machine ORT cache, as a station's first run does
        out[name] = cold_start(command, runs)
    return out


