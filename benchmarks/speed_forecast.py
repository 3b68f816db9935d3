#!/usr/bin/env python3
"""The next speed, scored the way `evaluate` scores melt: each forecast made before its speed was
measured (the online trust replayed causally, glacier_edge/motion/speed.py), skill against
persistence, coverage of the 90 % interval, unexpected accelerations — on every motion sequence at
hand: Perito Moreno (15-day baselines), Columbia (daily, rough masks by fractions of the frame)
and the generated camera station (its glacier and its serac). Saved to
benchmarks/results/speed_forecast.{txt,json}.

    python benchmarks/speed_forecast.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from glacier_edge.bench.system import system_info
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.camera_samples import write_camera_sample
from glacier_edge.motion.imagery import read_mask, read_motion_sequence, read_regions
from glacier_edge.motion.pipeline import MotionOptions, MotionResult, measure_motion

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SHARED = ROOT.parent / "shared" / "data"


def perito() -> MotionResult | None:
    folder = SHARED / "perito_moreno_s2_2020"
    if not folder.is_dir():
        return None
    sequence = read_motion_sequence(folder / "frames")
    glacier = read_mask(folder / "glacier_mask.jpg", sequence, "--glacier-mask")
    return measure_motion(sequence, glacier, None, MotionOptions(baseline_days=15, pixel_size=10))


def columbia(scratch: Path) -> MotionResult | None:
    folder = SHARED / "columbia_camera_ak10_2009"
    if not folder.is_dir():
        return None
    width, height = 3872, 2592
    stable = np.zeros((height, width), np.uint8)
    stable[: int(0.17 * height)] = 255
    glacier = np.zeros((height, width), np.uint8)
    glacier[int(0.35 * height) : int(0.85 * height), int(0.08 * width) : int(0.72 * width)] = 255
    Image.fromarray(stable).save(scratch / "stable.png")
    Image.fromarray(glacier).save(scratch / "glacier.png")
    sequence = read_motion_sequence(folder)
    return measure_motion(sequence, read_mask(scratch / "glacier.png", sequence, "--glacier-mask"),
                          read_mask(scratch / "stable.png", sequence, "--stable-mask"), MotionOptions())


def camera(scratch: Path) -> MotionResult:
    write_camera_sample(scratch / "cam")
    cam = scratch / "cam"
    sequence = read_motion_sequence(cam / "frames")
    return measure_motion(sequence, read_mask(cam / "glacier.png", sequence, "--glacier-mask"),
                          read_mask(cam / "stable.png", sequence, "--stable-mask"),
                          MotionOptions(template=32, spacing=16), read_regions(cam / "regions.png", sequence))


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        runs = {"Perito Moreno (S2, 15-day pairs, m/day)": perito(),
                "Columbia AK10 (camera, daily, px/day)": columbia(Path(scratch)),
                "generated camera station (px/day)": camera(Path(scratch))}
    for name, result in runs.items():
        if result is None:
            print(f"skipping {name}: its data is absent")
            continue
        for region, forecast in result.speed_forecasts.items():
            rows.append({"sequence": name, "region": region, "scored": int(forecast.trust.scored),
                         "skill": forecast.skill, "coverage": forecast.coverage,
                         "unexpected": int(forecast.unexpected.sum()),
                         "weights": [float(w) for w in forecast.trust.weights()]})
            print(rows[-1])
    lines = [system_info(None).line(), "",
             "| sequence | region | forecasts scored | skill vs persistence | 90 % interval coverage | unexpected "
             "accelerations | final weights (trend, persistence, mean) |", "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        skill = "—" if r["skill"] is None else f"{r['skill']:+.2f}"
        coverage = "—" if r["coverage"] is None else f"{r['coverage']:.0%}"
        weights = ", ".join(f"{w:.2f}" for w in r["weights"])
        lines.append(f"| {r['sequence']} | {r['region']} | {r['scored']} | {skill} | {coverage} | {r['unexpected']} | "
                     f"{weights} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "speed_forecast.txt", table + "\n")
    write_json_atomic(RESULTS / "speed_forecast.json", {"rows": rows})


if __name__ == "__main__":
    sys.exit(main())
