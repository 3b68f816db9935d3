#!/usr/bin/env python3
"""Scene kind: can the guard tell a fixed oblique camera view from a nadir satellite chip?

Part 1 (seconds, no model): the layout features measured on every image set — the kept one
(perspective: the trend of gradient orientation with height, glacier_edge.ingest.layout) and the
candidates measured and dropped (sky: top band against bottom band brightness and texture; the
trend of texture with height; aspect ratio and pixel count of the original) — on the Landsat
corpus (and the same frames turned a quarter: a nadir chip has no "up"), the other nadir imagery in
../shared/data, the Columbia camera and generated camera views over a grid of camera geometries.

Part 2 (a training per region): the whole guard as `run` applies it, leave-one-region-out: the
default recipe trained and exported on two regions of the corpus, then run on the held-out region,
on false-colour and radar-like versions of it, on the Columbia camera sequence and on generated
camera sequences. Saved to benchmarks/results/scene_kind.{txt,json}.

    python benchmarks/scene_kind.py [--features-only] [--weights auto] [--epochs 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from glacier_edge.bench.system import system_info
from glacier_edge.contracts import TrainConfig
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.camera_samples import Camera, camera_timelapse
from glacier_edge.ingest.frames import FrameSequence, expand_sequences, iter_original_frames, read_sequence
from glacier_edge.ingest.layout import CAMERA_PERSPECTIVE, band_statistics, layout_grey, trend
from glacier_edge.ingest.regions import region_groups, sequence_regions

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SHARED = ROOT.parent / "shared" / "data"
CORPUS = SHARED / "glacierview_landsat"
COLUMBIA = SHARED / "columbia_camera_ak10_2009"
OTHER_NADIR = ("perito_moreno_s2_2020/frames", "rutor_s2_2017-2025.gif", "aletsch_1987_2019", "sentinel2_scenes_2019")
PITCHES, FIELDS_OF_VIEW, GRID_SEEDS = (5, 9, 14, 20, 30), (25, 34, 50), (0, 1)
"""Generated cameras: degrees below the horizon × vertical field of view (degrees) × seeds."""
CAMERA_SEEDS = (0, 1, 2)
"""Generated camera sequences (default geometry, 10 daily frames each) for part 2."""


def features(rgb: np.ndarray) -> dict[str, float]:
    """The kept feature and the candidates, of one frame at its original size."""
    grey = layout_grey(rgb)
    bands = band_statistics(grey)
    return {"perspective": trend(bands.anisotropy),
            "sky_brightness": float(bands.brightness[0] - bands.brightness[-1]),
            "sky_texture": float(bands.texture[-1] - bands.texture[0]),
            "texture_trend": trend(bands.texture),
            "aspect": float(np.log(rgb.shape[1] / rgb.shape[0])),
            "megapixels": rgb.shape[0] * rgb.shape[1] / 1e6}


def turned(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(rgb))


def image_sets() -> dict[str, list[np.ndarray]]:
    sets: dict[str, list[np.ndarray]] = {}
    corpus = [frame for path in expand_sequences([CORPUS]) for frame in iter_original_frames(path)]
    sets["Landsat corpus (nadir)"] = corpus
    sets["Landsat corpus turned a quarter (nadir)"] = [turned(frame) for frame in corpus]
    sets["Perito Moreno, Rutor, Aletsch, Sentinel-2 2019 (nadir)"] = [
        frame for name in OTHER_NADIR if (SHARED / name).exists() for frame in iter_original_frames(SHARED / name)]
    if COLUMBIA.is_dir():
        sets["Columbia camera AK10 (camera)"] = list(iter_original_frames(COLUMBIA))
    for pitch in PITCHES:
        sets[f"generated camera, {pitch}° down (camera)"] = [
            camera_timelapse(2, seed=seed, camera=Camera(pitch_deg=pitch, vertical_fov_deg=fov)).frames[0]
            for fov in FIELDS_OF_VIEW for seed in GRID_SEEDS]
    return sets


def feature_table() -> tuple[list[str], dict[str, dict[str, list[float]]]]:
    measured = {name: [features(frame) for frame in frames] for name, frames in image_sets().items()}
    columns = list(next(iter(measured.values()))[0])
    values = {name: {c: [row[c] for row in rows] for c in columns} for name, rows in measured.items()}
    nadir = [name for name in values if name.endswith("(nadir)")]
    lines = [f"Per feature: range (min … max) per image set; 'camera share' = frames at or above the threshold "
             f"{CAMERA_PERSPECTIVE} (perspective only).", "",
             "| image set | frames | " + " | ".join(columns) + " | camera share |",
             "|---|---:|" + "---:|" * (len(columns) + 1)]
    for name, table in values.items():
        cells = [f"{min(v):+.2f} … {max(v):+.2f}" for v in table.values()]
        share = float(np.mean(np.asarray(table["perspective"]) >= CAMERA_PERSPECTIVE))
        lines.append(f"| {name} | {len(table['perspective'])} | " + " | ".join(cells) + f" | {share:.1%} |")
    lines += ["", "Separation of each feature: the share of Columbia camera frames beyond the whole range of the "
              "nadir sets (higher is better; a feature that needs Columbia to set its threshold is not counted):", ""]
    camera = "Columbia camera AK10 (camera)"
    if camera in values:
        for column in columns:
            low = min(min(values[n][column]) for n in nadir)
            high = max(max(values[n][column]) for n in nadir)
            outside = np.mean([(v > high) or (v < low) for v in values[camera][column]])
            lines.append(f"- {column}: nadir range {low:+.2f} … {high:+.2f}; Columbia outside it: {outside:.0%}")
    return lines, values


def false_colour(sequence: FrameSequence, order: tuple[int, int, int]) -> FrameSequence:
    return dataclasses.replace(sequence, frames=np.ascontiguousarray(sequence.frames[..., list(order)]))


def radar_like(sequence: FrameSequence, seed: int) -> FrameSequence:
    grey = sequence.frames.astype(np.float64).mean(axis=3, keepdims=True)
    speckle = np.random.default_rng(seed).gamma(4.0, 0.25, grey.shape)
    frames = np.clip(grey * speckle, 0, 255).astype(np.uint8).repeat(3, axis=3)
    return dataclasses.replace(sequence, frames=frames, perspective=None)


def camera_sequences(folder: Path) -> list[FrameSequence]:
    """Generated camera sequences written as JPEG files and read as a user's would be."""
    out = []
    for seed in CAMERA_SEEDS:
        lapse = camera_timelapse(10, seed=seed, shake_px=1.0)
        sub = folder / f"camera{seed}"
        sub.mkdir(parents=True)
        for frame, day in zip(lapse.frames, lapse.dates):
            Image.fromarray(frame).save(sub / f"{day.isoformat()}_cam.jpg", quality=90)
        out.append(read_sequence(sub))
    return out


def guard_rows(weights: str, epochs: int) -> tuple[list[str], list[dict]]:
    from glacier_edge.edge.bundle import load_bundle
    from glacier_edge.edge.runtime import EdgeModel
    from glacier_edge.export.bundle_export import export_bundle
    from glacier_edge.paths import default_cache_dir
    from glacier_edge.training.pipeline import run_training

    paths = expand_sequences([CORPUS])
    regions = sequence_regions(paths)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        cameras = camera_sequences(Path(scratch) / "cameras")
        columbia = [read_sequence(COLUMBIA)] if COLUMBIA.is_dir() else []
        for group in region_groups(regions):
            held_paths = [paths[i] for i in group]
            train = [p for i, p in enumerate(paths) if i not in set(group)]
            region = regions[group[0]]
            run_dir, bundle_dir = Path(scratch) / f"run-{region}", Path(scratch) / f"bundle-{region}"
            run_training(train, run_dir, config=TrainConfig(epochs=epochs, weights=weights),
                         cache_dir=default_cache_dir(), echo=print)
            export_bundle(run_dir, bundle_dir, echo=print)
            model = EdgeModel(load_bundle(bundle_dir), provider="cpu")
            held = [read_sequence(p) for p in held_paths]
            sets = {"held-out Landsat": held,
                    "false colour (B,R,G)": [false_colour(s, (2, 0, 1)) for s in held],
                    "false colour (G,B,R)": [false_colour(s, (1, 2, 0)) for s in held],
                    "radar-like": [radar_like(s, i) for i, s in enumerate(held)],
                    "Columbia camera": columbia, "generated camera": cameras}
            for name, sequences in sets.items():
                if not sequences:
                    continue
                predictions = [model.predict(s) for s in sequences]
                flagged = np.concatenate([p.ood for p in predictions])
                kind = np.concatenate([p.other_kind for p in predictions])
                threshold = model.calibration.ood_threshold
                own = np.concatenate([p.ood_score > threshold for p in predictions])
                rows.append({"held_out_region": region, "imagery": name, "sequences": len(sequences),
                             "frames": int(flagged.size), "flagged_share": float(flagged.mean()),
                             "other_kind_share": float(kind.mean()), "own_score_share": float(own.mean()),
                             "whole_sequences": int(sum(p.ood_window for p in predictions))})
                print(rows[-1])
    lines = ["Leave-one-region-out, the whole guard as `run` applies it (embedding/colour score above the "
             "threshold, or another kind of scene; a window with ≥ 50 % flagged is flagged as a whole):", "",
             "| held-out region | imagery | sequences | frames | score above threshold (the guard before scene "
             "kinds) | other kind | flagged (what run reports) | sequences flagged as a whole |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['held_out_region']} | {r['imagery']} | {r['sequences']} | {r['frames']} | "
              f"{r['own_score_share']:.1%} | {r['other_kind_share']:.1%} | {r['flagged_share']:.1%} | "
              f"{r['whole_sequences']} of "
              f"{r['sequences']} |" for r in rows]
    return lines, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features-only", action="store_true", help="part 1 only (seconds)")
    parser.add_argument("--weights", default="auto")
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"skipping: the corpus {CORPUS} is absent (it is read from ../shared/data beside the clone)")
    lines, values = feature_table()
    result: dict = {"threshold": CAMERA_PERSPECTIVE,
                    "features": {name: {c: [float(v) for v in vs] for c, vs in table.items()}
                                 for name, table in values.items()}}
    lines = [system_info(None).line(), "", *lines]
    if not args.features_only:
        guard_lines, rows = guard_rows(args.weights, args.epochs)
        lines += ["", *guard_lines]
        result["guard"] = rows
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    suffix = "_features" if args.features_only else ""
    write_text_atomic(RESULTS / f"scene_kind{suffix}.txt", table + "\n")
    write_json_atomic(RESULTS / f"scene_kind{suffix}.json", result)


if __name__ == "__main__":
    main()
