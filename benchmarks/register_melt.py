#!/usr/bin/env python3
"""Should melt be measured on co-registered frames (`train --register`)? Every frame of a sequence is
registered to its first on stable ground (:mod:`glacier_edge.motion.aligned`, as training, `run` and
a station do) and the melt (mean |ΔRGB| / 255 of consecutive 128-px frames) is compared as taken
and co-registered (the border band a moved frame may not cover left out).

Imagery: the Landsat corpus (35 sequences, whole frame as stable ground), Perito Moreno (Sentinel-2,
outside its glacier mask), the Columbia camera (rough masks by fractions of the frame, as
``benchmarks/speed_forecast.py``), the generated nadir sample, and the generated camera held still
and then shaken by a known similarity (±20 px, ±0.5°): there the still camera's melt is the truth.
Saved to benchmarks/results/register_melt.{txt,json}. The held-out skill with and without
registration comes from ``benchmarks/evaluation.py --register``.

    python benchmarks/register_melt.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from glacier_edge.bench.system import system_info
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.camera_samples import camera_timelapse
from glacier_edge.ingest.frames import expand_sequences, read_sequence, resize_frame
from glacier_edge.ingest.samples import sample_sequence_path
from glacier_edge.motion.aligned import StableGround, border_band, read_registered_sequence, warp
from glacier_edge.motion.register import Registration
from glacier_edge.signals.melt import measured_melt

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SHARED = ROOT.parent / "shared" / "data"


def compare(name: str, sequences: list[tuple[Path, StableGround]], truth: list[np.ndarray] | None = None) -> dict:
    """Registered share, shifts (original px), seconds per frame and the melt as taken against
    co-registered; with ``truth`` (the still camera's melt per sequence) the error of each."""
    registered, shifts, taken, aligned, errors_taken, errors_aligned = [], [], [], [], [], []
    frames, started = 0, time.perf_counter()
    for number, (path, ground) in enumerate(sequences):
        result = read_registered_sequence(path, ground)
        sequence = result.sequence
        frames += sequence.num_frames
        scale = min(1.0, ground.long_side / max(sequence.original_size))
        for found in result.registrations[1:]:
            registered.append(found.ok)
            if found.ok:
                shifts.append(float(np.hypot(found.dx, found.dy)) / scale)
        plain = measured_melt(read_sequence(path).frames, sequence.border)[1:]
        moved = measured_melt(sequence.frames, sequence.border)[1:]
        taken += plain.tolist()
        aligned += moved.tolist()
        if truth is not None:
            errors_taken += np.abs(plain - truth[number][1:]).tolist()
            errors_aligned += np.abs(moved - truth[number][1:]).tolist()
    seconds = time.perf_counter() - started
    plain, moved = np.array(taken), np.array(aligned)
    row = {"imagery": name, "pairs": len(registered), "registered_share": float(np.mean(registered)),
           "median_shift_px": float(np.median(shifts)) if shifts else None,
           "median_melt": float(np.median(plain)), "median_melt_registered": float(np.median(moved)),
           "median_relative_change": float(np.median((moved - plain) / np.maximum(plain, 1e-9))),
           "ms_per_frame": 1000 * seconds / frames}
    if truth is not None:
        row["median_error_as_taken"] = float(np.median(errors_taken))
        row["median_error_registered"] = float(np.median(errors_aligned))
    print(row, flush=True)
    return row


def shaken_camera(folder: Path, seeds: range) -> tuple[list[tuple[Path, Path]], list[np.ndarray]]:
    """The generated camera held still and shaken by a known similarity per frame (±20 px, ±0.5°)."""
    cases, truths = [], []
    for seed in seeds:
        still = camera_timelapse(8, seed=seed)
        _, ice = still.ice_flow_px(0, 1)
        rng = np.random.default_rng(seed)
        frames = folder / f"seed{seed}"
        frames.mkdir(parents=True)
        for index, frame in enumerate(still.frames):
            dx, dy = rng.uniform(-20, 20, 2) if index else (0.0, 0.0)
            angle = rng.uniform(-0.5, 0.5) if index else 0.0
            moved = warp(frame, Registration(dx, dy, angle, 1.0, 0, 0, 0.0, True), 1.0)
            Image.fromarray(moved).save(frames / f"cam_{(date(2021, 8, 1) + timedelta(days=index)).isoformat()}.png")
        stable = folder / f"stable{seed}.png"
        Image.fromarray(np.where(ice, 0, 255).astype(np.uint8)).save(stable)
        band = border_band((still.frames[0].shape[1], still.frames[0].shape[0]))
        truths.append(measured_melt(np.stack([resize_frame(f) for f in still.frames]), band))
        cases.append((frames, stable))
    return cases, truths


def main() -> None:
    rows = []
    corpus = SHARED / "glacierview_landsat"
    if corpus.is_dir():
        rows.append(compare("Landsat corpus, 35 sequences (whole frame)",
                            [(p, StableGround()) for p in expand_sequences([corpus])]))
    else:
        print(f"skipping the corpus: {corpus} is absent")
    perito = SHARED / "perito_moreno_s2_2020"
    if perito.is_dir():
        rows.append(compare("Perito Moreno, Sentinel-2 (outside the glacier mask)",
                            [(perito / "frames", StableGround(glacier_mask=perito / "glacier_mask.jpg"))]))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        columbia = SHARED / "columbia_camera_ak10_2009"
        if columbia.is_dir():
            width, height = 3872, 2592
            stable = np.zeros((height, width), np.uint8)
            stable[: int(0.17 * height)] = 255
            Image.fromarray(stable).save(folder / "columbia_stable.png")
            rows.append(compare("Columbia camera AK10 (rough stable mask: the top 17 %)",
                                [(columbia, StableGround(stable_mask=folder / "columbia_stable.png"))]))
        rows.append(compare("generated sample (nadir, one grid)", [(sample_sequence_path(0), StableGround())]))
        cases, truths = shaken_camera(folder / "shaken", range(1, 6))
        rows.append(compare("generated camera, shaken ±20 px / ±0.5°, stable mask (5 × 8 frames)",
                            [(frames, StableGround(stable_mask=stable)) for frames, stable in cases], truths))
        rows.append(compare("the same, no mask (whole frame)", [(frames, StableGround()) for frames, _ in cases],
                            truths))
    lines = [system_info(None).line(), "",
             "| imagery | pairs | registered | median shift (px) | median melt as taken | co-registered | "
             "median change | median error vs still: as taken · co-registered | ms/frame |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        truth = (f"{r['median_error_as_taken']:.4f} · {r['median_error_registered']:.4f}"
                 if "median_error_as_taken" in r else "—")
        shift = f"{r['median_shift_px']:.2f}" if r["median_shift_px"] is not None else "—"
        lines.append(f"| {r['imagery']} | {r['pairs']} | {r['registered_share']:.0%} | {shift} | "
                     f"{r['median_melt']:.4f} | {r['median_melt_registered']:.4f} | "
                     f"{r['median_relative_change']:+.1%} | {truth} | {r['ms_per_frame']:.0f} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "register_melt.txt", table + "\n")
    write_json_atomic(RESULTS / "register_melt.json", {"rows": rows})


if __name__ == "__main__":
    sys.exit(main())
