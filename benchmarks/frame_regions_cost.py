#!/usr/bin/env python3
"""Issue 21: what melt per region costs, per frame, against the whole-frame model alone.

- station: ms per new image (warm, window 24) without the per-region model, with it on the 4×4
  grid (R = 16) and on an 8×8 label image (R = 64);
- run: a fresh `glacier-edge run` process over 24 frames, the same three ways (wall, median of 3);
- regions.onnx alone over (T = 64, R) node inputs at R = 16, 64, 256: the temporal and spatial
  means along their own axes (the Kronecker sum, never built; benchmarks/kronecker.py compares it
  with the dense (T·R)² product in numpy).

Two bundles from one seed: trained on the generated sample with and without --frame-regions
(random-init ResNet50, 30 epochs: cost does not depend on training quality). Ratios are measured
in one run on one CPU (printed). Saved to benchmarks/results/frame_regions_cost.{txt,json}.

    python benchmarks/frame_regions_cost.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from click.testing import CliRunner
from PIL import Image

from glacier_edge.bench.system import system_info
from glacier_edge.cli import main as cli_main
from glacier_edge.edge.runtime import session_options
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.samples import glacier_timelapse, write_frame_files
from glacier_edge.signals.graph import dense_adjacency
from glacier_edge.station.active_model import ActiveModel
from glacier_edge.station.engine import Engine, StationOptions
from glacier_edge.station.inbox import InboxFile, date_image
from glacier_edge.station.store import Store

RESULTS = Path(__file__).resolve().parent / "results"
CLI = [sys.executable, "-c", "from glacier_edge.cli import main; main()"]
WINDOW, EXTRA, FRAMES = 24, 12, 24


def bundle(work: Path, name: str, *flags: str) -> Path:
    runner = CliRunner()
    for args in (["train", *flags, "--epochs", "30", "--weights", "random", "--augmentations", "0", "--out",
                  str(work / f"{name}-run")], ["export", str(work / f"{name}-run"), "--out", str(work / name)]):
        result = runner.invoke(cli_main, args)
        assert result.exit_code == 0, result.output
    return work / name


def grid_mask(path: Path, size: tuple[int, int], cells: int) -> Path:
    """A label image of ``cells``×``cells`` equal rectangles (grey levels 1..cells²)."""
    width, height = size
    rows, cols = np.mgrid[0:height, 0:width]
    labels = (rows * cells // height) * cells + cols * cells // width + 1
    Image.fromarray(labels.astype(np.uint8)).save(path)
    return path


def station_ms(model: Path, files: list[Path], work: Path, regions_mask: Path | None) -> float:
    work.mkdir()
    store = Store(work / "station.db")
    engine = Engine(store, ActiveModel(model, work / "station.model", None, lambda _: None),
                    StationOptions(window=WINDOW, threads=2, regions_mask=regions_mask), lambda _: None)
    times = []
    for index, path in enumerate(files):
        stat = path.stat()
        image = date_image(InboxFile(path, stat.st_size, stat.st_mtime_ns))
        started = time.perf_counter()
        assert engine.take(image).outcome == "processed"
        if index >= WINDOW:
            times.append(time.perf_counter() - started)
    store.db.close()
    return statistics.median(times) * 1000


def run_ms(model: Path, files: list[Path], *extra: str) -> float:
    walls = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([*CLI, "run", *map(str, files), "--model", str(model), "--provider", "cpu", "--format",
                        "json", *extra], check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls) * 1000


def regions_onnx_ms(model: Path, regions: int, frames: int = 64) -> float:
    session = ort.InferenceSession(str(model / "regions.onnx"), session_options(2), providers=["CPUExecutionProvider"])
    width = session.get_inputs()[0].shape[-1]
    side = int(round(np.sqrt(regions)))
    index = np.arange(regions).reshape(side, side)
    spatial = np.zeros((regions, regions), np.float32)
    for di, dj in ((0, 1), (1, 0)):
        a, b = index[: side - di, : side - dj].ravel(), index[di:, dj:].ravel()
        spatial[a, b] = spatial[b, a] = 1
    feeds = {"x": np.random.default_rng(0).standard_normal((frames, regions, width)).astype(np.float32),
             "temporal": dense_adjacency(frames, "causal"), "spatial": spatial}
    session.run(None, feeds)
    times = []
    for _ in range(10):
        started = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        plain, regional = bundle(work, "plain"), bundle(work, "regional", "--frame-regions")
        files = write_frame_files(glacier_timelapse(WINDOW + EXTRA, seed=21), work / "frames")
        size = Image.open(files[0]).size
        mask64 = grid_mask(work / "grid8.png", size, 8)
        station = {"none": station_ms(plain, files, work / "s0", None),
                   "R=16": station_ms(regional, files, work / "s16", None),
                   "R=64": station_ms(regional, files, work / "s64", mask64)}
        run = {"none": run_ms(plain, files[:FRAMES]), "R=16": run_ms(regional, files[:FRAMES]),
               "R=64": run_ms(regional, files[:FRAMES], "--regions-mask", str(mask64))}
        onnx = {r: regions_onnx_ms(regional, r) for r in (16, 64, 256)}
    lines = [system_info(None).line(), "",
             f"station: ms per new image, warm, window {WINDOW} (median of {EXTRA}); run: fresh process over "
             f"{FRAMES} frames (median of 3); ResNet50 random init",
             "| | station ms/image | vs none | run ms (cold process) | vs none |", "|---|---:|---:|---:|---:|"]
    for key in ("none", "R=16", "R=64"):
        name = "whole frame only" if key == "none" else key
        lines.append(f"| {name} | {station[key]:.0f} | {station[key] / station['none'] - 1:+.0%} | {run[key]:.0f} | "
                     f"{run[key] / run['none'] - 1:+.0%} |")
    lines += ["", "regions.onnx alone, T = 64 frames (ms, median of 10): "
              + ", ".join(f"R = {r}: {ms:.1f}" for r, ms in onnx.items())]
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "frame_regions_cost.txt", table + "\n")
    write_json_atomic(RESULTS / "frame_regions_cost.json", {"station_ms": station, "run_ms": run,
                                                           "regions_onnx_ms_t64": onnx})
    return 0


if __name__ == "__main__":
    sys.exit(main())
