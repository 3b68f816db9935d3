#!/usr/bin/env python3
"""Station mode, measured: what one new image costs against re-running `run` over the window,
whether that cost stays flat as the database grows, memory and database size over a soak, the
idle cold start, and what float16 embeddings would save and cost. Saved to
benchmarks/results/station.{txt,json}.

    python benchmarks/station.py --model BUNDLE [--window 64] [--soak 5000]

BUNDLE should be a ResNet50 bundle (`glacier-edge demo` or train + export); the soak and the
flatness run use the tiny test bundle (tests/fixtures/tiny_bundle) so that the database, not the
encoder, is what they measure.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from glacier_edge.bench.system import system_info
from glacier_edge.edge.runtime import EdgeModel
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.frames import read_sequence
from glacier_edge.ingest.samples import glacier_timelapse, write_frame_files
from glacier_edge.station.active_model import ActiveModel
from glacier_edge.station.alerts import AlertSinks
from glacier_edge.station.engine import Engine, StationOptions, WindowSequence
from glacier_edge.station.inbox import InboxFile, date_image
from glacier_edge.station.store import Store
from glacier_edge.station.watch import process_inbox

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
TINY = ROOT / "tests" / "fixtures" / "tiny_bundle"
CLI = [sys.executable, "-c", "from glacier_edge.cli import main; main()"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def quiet(_: str) -> None:
    pass


def station(folder: Path, model: Path, window: int | None, threads: int | None) -> tuple[Store, Engine]:
    store = Store(folder / "station.db")
    active = ActiveModel(model, folder / "station.model", None, quiet)
    return store, Engine(store, active, StationOptions(window=window, threads=threads), quiet)


def per_image_against_run(model: Path, window: int, extra: int, threads: int | None, work: Path) -> dict:
    """Warm station: one new image (decode + encoder once + window graph) vs `run` over the window:
    warm in-process (decode + encode all W frames) and as a fresh `glacier-edge run` process."""
    frames = work / "frames"
    timelapse = glacier_timelapse(window + extra, seed=21)
    files = write_frame_files(timelapse, frames)
    store, engine = station(work, model, window, threads)
    per_image = []
    for index, path in enumerate(files):
        stat = path.stat()
        image = date_image(InboxFile(path, stat.st_size, stat.st_mtime_ns))
        started = time.perf_counter()
        taken = engine.take(image)
        assert taken.outcome == "processed", f"{path.name}: {taken.outcome} {taken.reason}"
        if index >= window:
            per_image.append(time.perf_counter() - started)
    edge = EdgeModel(engine.model().bundle, provider="cpu", threads=threads)
    window_files = files[-window:]
    warm_run = []
    for _ in range(3):
        started = time.perf_counter()
        edge.predict(read_sequence(window_files))
        warm_run.append(time.perf_counter() - started)
    cold_run = []
    for _ in range(2):
        started = time.perf_counter()
        subprocess.run([*CLI, "run", *map(str, window_files), "--model", str(model), "--provider", "cpu",
                        "--format", "json"], check=True, capture_output=True)
        cold_run.append(time.perf_counter() - started)
    # float16 storage: what rounding the stored embeddings does to the window's prediction
    window_rows = store.window(engine.model().bundle.model_sha256(engine.model().encoder_role), window)
    embeddings = np.stack([row.embedding for row in window_rows])
    measured = np.array([0.0, *[row.measured_melt for row in window_rows[1:]]], dtype=np.float32)
    sequence = WindowSequence.of(window_rows)
    full = edge.melt(embeddings, sequence, measured)
    half = edge.melt(embeddings.astype(np.float16).astype(np.float32), sequence, measured)
    store.db.close()
    station_ms = statistics.median(per_image) * 1000
    return {
        "window": window, "images_timed": len(per_image), "station_ms_per_image_p50": station_ms,
        "station_ms_per_image_max": max(per_image) * 1000,
        "run_warm_ms_p50": statistics.median(warm_run) * 1000,
        "run_cold_process_ms_p50": statistics.median(cold_run) * 1000,
        "ratio_warm_run_over_station": statistics.median(warm_run) * 1000 / station_ms,
        "ratio_cold_run_over_station": statistics.median(cold_run) * 1000 / station_ms,
        "embedding_dim": int(embeddings.shape[1]),
        "float16_max_abs_melt_change": float(np.max(np.abs(full - half))),
        "db_bytes": (work / "station.db").stat().st_size, "images": len(files),
    }


def write_small_images(folder: Path, count: int, start: int) -> None:
    """Small (64×64) dated synthetic images: a drifting gradient plus seeded noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    base = np.linspace(0, 200, 64, dtype=np.float32)[None, :, None]
    first = date(2000, 1, 1)
    for index in range(start, start + count):
        level = base + 30 * np.sin(index / 50.0) + rng.normal(0, 8, (64, 64, 3))
        pixels = np.clip(level, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"small_{(first + timedelta(days=index)).isoformat()}.png")


def soak(total: int, batch: int, work: Path) -> dict:
    """`total` images in batches through one long-lived station (as `watch` runs): RSS, database
    size and ms per image after each batch; then the idle cold start of `watch --once`."""
    inbox = work / "inbox"
    inbox.mkdir()
    store, engine = station(work, TINY, None, 1)
    rows = []
    for start in range(0, total, batch):
        write_small_images(inbox, batch, start)
        started = time.perf_counter()
        summary = process_inbox(inbox, store, lambda: engine, AlertSinks(), 0.0, quiet)
        seconds = time.perf_counter() - started
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows.append({"images": start + batch, "processed": summary.processed, "ms_per_image": seconds * 1000 / batch,
                     "rss_mb": rss_mb(), "db_bytes": (work / "station.db").stat().st_size})
        print(f"  soak: {rows[-1]}", flush=True)
    store.db.close()
    idle = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([*CLI, "watch", str(inbox), "--once", "--model", str(TINY), "--db", str(work / "station.db"),
                        "--settle", "0"], check=True, capture_output=True)
        idle.append(time.perf_counter() - started)
    sizes = np.array([r["db_bytes"] for r in rows], dtype=np.float64)
    counts = np.array([r["images"] for r in rows], dtype=np.float64)
    slope = float(np.polyfit(counts, sizes, 1)[0])
    return {"rows": rows, "rss_growth_mb": rows[-1]["rss_mb"] - rows[0]["rss_mb"],
            "db_bytes_per_image_fit": slope, "idle_watch_once_s": idle,
            "idle_watch_once_s_p50": statistics.median(idle),
            "ms_per_image_first_batch": rows[0]["ms_per_image"], "ms_per_image_last_batch": rows[-1]["ms_per_image"]}


def report(info, resnet: dict, soaked: dict) -> str:
    lines = [info.line(), "Encoder: random-init ResNet50 (NOT PRETRAINED; latency does not depend on weights)", ""]
    lines += [f"Per new image vs re-running `run` over the window (W = {resnet['window']}, "
              f"{resnet['images_timed']} images timed):",
              f"  station, warm (decode + encoder once + window graph + SQLite commit): "
              f"P50 {resnet['station_ms_per_image_p50']:.1f} ms, max {resnet['station_ms_per_image_max']:.1f} ms",
              f"  run over the window, warm sessions in-process:  P50 {resnet['run_warm_ms_p50']:.0f} ms  "
              f"→ ×{resnet['ratio_warm_run_over_station']:.0f}",
              f"  `glacier-edge run` as a fresh process:           P50 {resnet['run_cold_process_ms_p50']:.0f} ms  "
              f"→ ×{resnet['ratio_cold_run_over_station']:.0f}",
              f"  float16 embeddings would change the window's melt by at most "
              f"{resnet['float16_max_abs_melt_change']:.2e} and save {resnet['embedding_dim'] * 2} B per image",
              f"  database: {resnet['db_bytes'] / resnet['images']:.0f} B per image with {resnet['embedding_dim']}-d "
              "float32 embeddings (WAL checkpointed)", ""]
    lines += [f"Soak (tiny bundle, 64×64 images, one long-lived station, batches of "
              f"{soaked['rows'][0]['images']}):",
              f"  {'images':>7s} {'ms/image':>9s} {'RSS MB':>7s} {'DB bytes':>10s}"]
    lines += [f"  {r['images']:7d} {r['ms_per_image']:9.2f} {r['rss_mb']:7.1f} {r['db_bytes']:10d}"
              for r in soaked["rows"]]
    lines += [f"  RSS growth first→last batch: {soaked['rss_growth_mb']:+.1f} MB; database "
              f"{soaked['db_bytes_per_image_fit']:.0f} B per image (linear fit)",
              f"  ms per image, first vs last batch: {soaked['ms_per_image_first_batch']:.2f} vs "
              f"{soaked['ms_per_image_last_batch']:.2f}",
              f"  idle `watch --once` (nothing new, {soaked['rows'][-1]['images']} files in the inbox): P50 "
              f"{soaked['idle_watch_once_s_p50']:.3f} s over 5 fresh processes"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a ResNet50 bundle")
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--extra", type=int, default=12, help="images timed after the window is full")
    parser.add_argument("--soak", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    info = system_info(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "a").mkdir()
        (Path(scratch) / "b").mkdir()
        print("per image vs run …", flush=True)
        resnet = per_image_against_run(args.model, args.window, args.extra, args.threads, Path(scratch) / "a")
        print("soak …", flush=True)
        soaked = soak(args.soak, args.batch, Path(scratch) / "b")
    text = report(info, resnet, soaked)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "station.txt", text + "\n")
    write_json_atomic(RESULTS / "station.json", {"system": info.__dict__, "per_image": resnet, "soak": soaked})


if __name__ == "__main__":
    main()
