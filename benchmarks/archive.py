#!/usr/bin/env python3
"""Embedding an archive, measured on this box: frames/s with 1 and 2 local workers and with Ray
(same sequences, fresh store each, same run), decode cost per frame, store bytes per frame.
Saved to benchmarks/results/archive.{txt,json}; the plan on paper in benchmarks/README.md uses it.

    python benchmarks/archive.py [--sequences 8] [--augmentations 4]

Reads the first N sequences of ../shared/data/glacierview_landsat (skips without it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from glacier_edge.archive.embed_jobs import EmbedSummary, embed_locally
from glacier_edge.bench.system import system_info
from glacier_edge.contracts import TrainConfig
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.frames import expand_sequences, read_sequence
from glacier_edge.training.encoder import build_encoder
from glacier_edge.training.store import EmbeddingStore, store_bytes

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CORPUS = ROOT.parent / "shared" / "data" / "glacierview_landsat"
RESNET50_GFLOP = 2.67


def quiet(_: object) -> None:
    pass


def run_one(label: str, sources: list[Path], config: TrainConfig, scratch: Path, **how: object) -> dict:
    _, record = build_encoder(config.weights)
    root = scratch / label.replace(" ", "_")
    store = EmbeddingStore.open(root, record, config.augmentations, config.seed)
    if "ray" in how:
        from glacier_edge.archive.ray_jobs import embed_with_ray

        summary: EmbedSummary = embed_with_ray(sources, store, config, address="auto", on_done=quiet)
    else:
        summary = embed_locally(sources, store, config, workers=int(how["workers"]), on_done=quiet,
                                threads=int(how["threads"]))
    views = config.augmentations + 1
    size = store_bytes(root)
    row = {"label": label, "workers": summary.workers, "frames": summary.frames, "seconds": summary.seconds,
           "frames_per_s": summary.frames_per_second, "encoder_passes_per_s": summary.frames_per_second * views,
           "store_bytes": size, "store_bytes_per_frame": size / summary.frames}
    print(f"  {label}: {row['frames_per_s']:.2f} frames/s ({row['encoder_passes_per_s']:.1f} encoder passes/s)",
          flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--augmentations", type=int, default=4)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"skipped: {CORPUS} is absent (read ../shared/data beside the clone)")
    info = system_info(None)
    sources = expand_sequences([CORPUS])[: args.sequences]
    config = TrainConfig(weights="random", augmentations=args.augmentations)
    started = time.perf_counter()
    frames = sum(read_sequence(s).num_frames for s in sources)
    decode_ms = 1000 * (time.perf_counter() - started) / frames
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for label, how in (("local 1 worker x 1 thread", {"workers": 1, "threads": 1}),
                           ("local 1 worker x 2 threads", {"workers": 1, "threads": 2}),
                           ("local 2 workers x 1 thread", {"workers": 2, "threads": 1})):
            rows.append(run_one(label, sources, config, Path(scratch), **how))
        from glacier_edge.archive.ray_jobs import start_ray

        ray_started = time.perf_counter()
        start_ray("auto")  # a cluster is started once; its start-up is reported apart
        ray_startup = time.perf_counter() - ray_started
        rows.append(run_one("ray local, 2 actors", sources, config, Path(scratch), ray=True))
    one, _, two, ray = rows
    result = {"system": info.__dict__, "sequences": len(sources), "frames": frames, "views": config.augmentations + 1,
              "decode_ms_per_frame": decode_ms, "rows": rows,
              "scaling_efficiency_2_workers": two["frames_per_s"] / (2 * one["frames_per_s"]),
              "ray_slower_than_local_2_workers": 1 - ray["frames_per_s"] / two["frames_per_s"],
              "ray_startup_s": ray_startup}
    lines = [info.line(), "Encoder: random-init ResNet50 (NOT PRETRAINED; speed does not depend on weights), PyTorch "
             f"CPU; {len(sources)} corpus sequences, {frames} frames × {config.augmentations + 1} views", "",
             f"{'executor':28s} {'workers':>7s} {'frames/s':>9s} {'passes/s':>9s} {'seconds':>8s} "
             f"{'store B/frame':>13s}"]
    for r in rows:
        lines.append(f"{r['label']:28s} {r['workers']:7d} {r['frames_per_s']:9.2f} {r['encoder_passes_per_s']:9.1f} "
                     f"{r['seconds']:8.1f} {r['store_bytes_per_frame']:13.0f}")
    lines += ["", f"decode + resize: {decode_ms:.1f} ms per frame (one process)",
              f"scaling 1 → 2 workers (1 thread each): efficiency {result['scaling_efficiency_2_workers']:.0%}",
              f"Ray against 2 local workers: {result['ray_slower_than_local_2_workers']:.0%} fewer frames/s "
              f"(Ray's own start-up, {ray_startup:.1f} s, not included)",
              f"compute: {RESNET50_GFLOP} GFLOP per encoder pass"]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "archive.txt", text + "\n")
    write_json_atomic(RESULTS / "archive.json", result)


if __name__ == "__main__":
    main()
