#!/usr/bin/env python3
"""Should the melt proxy be measured on co-registered frames? Each frame of a sequence is
registered to the previous one (glacier-edge's stable-ground registration with no mask: the
robust fit keeps the windows that agree, i.e. the stable majority), and the melt (mean |ΔRGB| / 255
of consecutive 128-px frames) is compared with and without that alignment.

On the Landsat corpus (co-registered chips), the generated sample (drawn on one grid) and the
generated camera station (shaken by 2 px), the latter without a mask and with its stable mask.
Saved to benchmarks/results/register_melt.{txt,json}.

    python benchmarks/register_melt.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from glacier_edge.bench.system import system_info
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.camera_samples import camera_timelapse
from glacier_edge.ingest.frames import expand_sequences, iter_original_frames, resize_frame
from glacier_edge.ingest.samples import glacier_timelapse
from glacier_edge.motion.imagery import grey
from glacier_edge.motion.register import register

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CORPUS = ROOT.parent / "shared" / "data" / "glacierview_landsat"


def measure(frames: list[np.ndarray], stable: np.ndarray | None = None) -> dict[str, list[float]]:
    """Per consecutive pair: the registration shift (px), whether it registered, and the melt of the
    pair without and with the second frame aligned onto the first."""
    shifts, registered, plain, aligned = [], [], [], []
    for before, after in zip(frames[:-1], frames[1:]):
        template = 32 if min(before.shape[:2]) < 300 else 64
        found = register(grey(before, 1.0), grey(after, 1.0), stable, template=template,
                         spacing=template * 3 // 4, radius=8)
        registered.append(found.ok)
        shifts.append(float(np.hypot(found.dx, found.dy)) if found.ok else float("nan"))
        small_before = resize_frame(before).astype(np.float64)
        plain.append(float(np.abs(resize_frame(after).astype(np.float64) - small_before).mean() / 255))
        if found.ok:
            moved = np.stack([found.apply(after[..., c].astype(np.float32)) for c in range(3)], axis=-1)
            moved = np.clip(np.rint(moved), 0, 255).astype(np.uint8)
            aligned.append(float(np.abs(resize_frame(moved).astype(np.float64) - small_before).mean() / 255))
        else:
            aligned.append(plain[-1])
    return {"shift": shifts, "registered": registered, "plain": plain, "aligned": aligned}


def summary(name: str, values: dict[str, list[float]]) -> dict:
    shift = np.array(values["shift"], dtype=np.float64)
    plain, aligned = np.array(values["plain"]), np.array(values["aligned"])
    return {"imagery": name, "pairs": int(len(plain)), "registered_share": float(np.mean(values["registered"])),
            "median_shift_px": float(np.nanmedian(shift)), "share_over_half_px": float(np.nanmean(shift > 0.5)),
            "median_melt": float(np.median(plain)), "median_melt_registered": float(np.median(aligned)),
            "median_relative_change": float(np.median((aligned - plain) / np.maximum(plain, 1e-9)))}


def main() -> None:
    rows = []
    if CORPUS.is_dir():
        merged: dict[str, list] = {"shift": [], "registered": [], "plain": [], "aligned": []}
        for path in expand_sequences([CORPUS]):
            part = measure(list(iter_original_frames(path)))
            for key in merged:
                merged[key] += part[key]
        rows.append(summary("Landsat corpus, 35 sequences", merged))
    else:
        print(f"skipping the corpus: {CORPUS} is absent")
    sample = glacier_timelapse(12, seed=0)
    rows.append(summary("generated sample (nadir, one grid)", measure(list(sample.frames))))
    camera = camera_timelapse(8, seed=1, shake_px=2.0)
    rows.append(summary("generated camera station (shake 2 px), no mask", measure(list(camera.frames))))
    _, ice = camera.ice_flow_px(0, 1)
    rows.append(summary("generated camera station (shake 2 px), stable mask", measure(list(camera.frames), ~ice)))
    lines = [system_info(None).line(), "",
             "| imagery | pairs | registered | median shift (px) | shift > 0.5 px | median melt | registered | "
             "median change |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['imagery']} | {r['pairs']} | {r['registered_share']:.0%} | {r['median_shift_px']:.2f} | "
                     f"{r['share_over_half_px']:.0%} | {r['median_melt']:.4f} | {r['median_melt_registered']:.4f} | "
                     f"{r['median_relative_change']:+.1%} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "register_melt.txt", table + "\n")
    write_json_atomic(RESULTS / "register_melt.json", {"rows": rows})


if __name__ == "__main__":
    sys.exit(main())
