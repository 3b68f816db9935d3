#!/usr/bin/env python3
"""Out-of-distribution flags and interval coverage of a station bundle, measured on sequences it
never saw: the default recipe trained on 28 of the 35 corpus sequences (seeded split), exported,
then `glacier-edge run`'s engine on the 7 held-out sequences, on false-colour (band-permuted) and
radar-like (single-channel speckle) versions of them, and on the other real imagery in
../shared/data. Saved to benchmarks/results/trust.{txt,json}.

    python benchmarks/trust.py [--weights auto] [--epochs 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

from glacier_edge.bench.system import system_info
from glacier_edge.contracts import TrainConfig
from glacier_edge.edge.bundle import load_bundle
from glacier_edge.edge.runtime import EdgeModel
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.frames import FrameSequence, expand_sequences, read_sequence
from glacier_edge.paths import default_cache_dir

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SHARED = ROOT.parent / "shared" / "data"
CORPUS = SHARED / "glacierview_landsat"
OTHER_OPTICAL = ("rutor_s2_2017-2025.gif", "aletsch_1987_2019", "sentinel2_scenes_2019")


def false_colour(sequence: FrameSequence, order: tuple[int, int, int]) -> FrameSequence:
    return dataclasses.replace(sequence, frames=np.ascontiguousarray(sequence.frames[..., list(order)]))


VISIBLE_SHIFT = 0.02
"""A band permutation that moves a frame by less than 2 % of full scale (mean over pixels and
channels) leaves a near-grey frame (snow, cloud, shadow): it is almost the same image."""


def permutation_shift(sequence: FrameSequence, order: tuple[int, int, int]) -> np.ndarray:
    """Per frame: mean |permuted − original| / 255."""
    frames = sequence.frames.astype(np.int16)
    return np.abs(frames[..., list(order)] - frames).mean(axis=(1, 2, 3)) / 255.0


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def radar_like(sequence: FrameSequence, seed: int) -> FrameSequence:
    """One backscatter-like channel: grey level with multiplicative (gamma) speckle, shown as grey."""
    grey = sequence.frames.astype(np.float64).mean(axis=3, keepdims=True)
    speckle = np.random.default_rng(seed).gamma(4.0, 0.25, grey.shape)
    frames = np.clip(grey * speckle, 0, 255).astype(np.uint8).repeat(3, axis=3)
    return dataclasses.replace(sequence, frames=frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="auto")
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"skipping: the corpus {CORPUS} is absent (it is read from ../shared/data beside the clone)")
    from glacier_edge.export.bundle_export import export_bundle
    from glacier_edge.training.pipeline import run_training

    paths = expand_sequences([CORPUS])
    order = np.random.default_rng(0).permutation(len(paths))
    train, test = [paths[i] for i in sorted(order[:28])], [paths[i] for i in sorted(order[28:])]
    with tempfile.TemporaryDirectory() as scratch:
        config = TrainConfig(epochs=args.epochs, weights=args.weights)
        record = run_training(train, Path(scratch) / "run", config=config, cache_dir=default_cache_dir(), echo=print)
        export_bundle(Path(scratch) / "run", Path(scratch) / "bundle", echo=print)
        model = EdgeModel(load_bundle(Path(scratch) / "bundle"), provider="cpu")
        held = [read_sequence(p) for p in test]
        groups: dict[str, list[FrameSequence]] = {"held-out corpus (optical, Landsat)": held}
        groups["false colour (bands B,R,G)"] = [false_colour(s, (2, 0, 1)) for s in held]
        groups["false colour (bands G,B,R)"] = [false_colour(s, (1, 2, 0)) for s in held]
        groups["radar-like (grey speckle)"] = [radar_like(s, i) for i, s in enumerate(held)]
        groups["other optical (Sentinel-2 Rutor, Aletsch, 2019 scenes)"] = [
            read_sequence(SHARED / name) for name in OTHER_OPTICAL if (SHARED / name).exists()]
        shifts = {name: [permutation_shift(s, order) for s in held] for name, order in
                  (("false colour (bands B,R,G)", (2, 0, 1)), ("false colour (bands G,B,R)", (1, 2, 0)))}
        rows, covered = [], []
        threshold = model.calibration.ood_threshold
        for name, sequences in groups.items():
            flags, own, wholes, inside = [], [], [], []
            for sequence in sequences:
                prediction = model.predict(sequence)
                flags.append(prediction.ood)
                own.append(prediction.ood_score > threshold)
                wholes.append(prediction.ood_window)
                valid = np.isfinite(prediction.predicted) & ~prediction.fallback
                if prediction.halfwidth is not None and valid.any():
                    error = np.abs(prediction.measured[valid] - prediction.predicted[valid])
                    inside.append(error <= prediction.halfwidth[valid])
            flagged, own_flagged = np.concatenate(flags), np.concatenate(own)
            coverage = float(np.concatenate(inside).mean()) if inside else float("nan")
            row = {"group": name, "sequences": len(sequences), "frames": int(flagged.size),
                   "flagged_share": float(flagged.mean()), "own_score_share": float(own_flagged.mean()),
                   "sequences_ood_as_a_whole": int(sum(wholes)),
                   "per_sequence_own_share": [float(part.mean()) for part in own],
                   "interval_coverage_unflagged": coverage}
            if name in shifts:
                shift = np.concatenate(shifts[name])
                visible = shift >= VISIBLE_SHIFT
                row.update({"visible_share": float(visible.mean()),
                            "flagged_share_visible": float(own_flagged[visible].mean()) if visible.any() else None,
                            "flagged_share_invisible": float(own_flagged[~visible].mean()) if (~visible).any()
                            else None})
            rows.append(row)
            if name.startswith("held-out"):
                covered = inside
    cal = record.calibration
    lines = [system_info(None).line(), f"encoder: {record.encoder.label()}; trained on 28 corpus sequences, "
             f"threshold {cal.ood_threshold:.2f} (held-out calibration folds: {cal.ood_heldout_flag_rate:.1%} "
             f"flagged); interval ± {cal.halfwidth:.4f} (nominal {cal.coverage:.0%}); fallback {cal.fallback}; "
             f"gain {cal.gain:.3f}", "",
             f"window rule: a sequence with ≥ {cal.ood_window_majority:.0%} of its frames above the threshold is "
             f"out of distribution as a whole (held-out calibration sequences: at most "
             f"{cal.ood_heldout_max_window_share:.0%})", "",
             "| imagery | sequences | frames | own score above threshold | sequences OOD as a whole | "
             "flagged OOD (what run reports) | interval coverage (unflagged) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['group']} | {r['sequences']} | {r['frames']} | {r['own_score_share']:.1%} | "
              f"{r['sequences_ood_as_a_whole']} | {r['flagged_share']:.1%} | "
              f"{r['interval_coverage_unflagged']:.1%} |" for r in rows]
    lines += ["", f"False colour, own scores only, split by how much the band permutation changes a frame (mean "
              f"|permuted − original| / 255; {VISIBLE_SHIFT} = visible):", "",
              "| imagery | frames changed ≥ threshold | own flag among them | own flag among the rest |",
              "|---|---:|---:|---:|"]
    lines += [f"| {r['group']} | {r['visible_share']:.1%} | {_share(r['flagged_share_visible'])} | "
              f"{_share(r['flagged_share_invisible'])} |" for r in rows if "visible_share" in r]
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "trust.txt", table + "\n")
    write_json_atomic(RESULTS / "trust.json", {"calibration": dataclasses.asdict(cal), "rows": rows,
                                                "test_sequences": [str(p.name) for p in test],
                                                "held_out_coverage": float(np.concatenate(covered).mean())})


if __name__ == "__main__":
    main()
