#!/usr/bin/env python3
"""Held-out evaluation on the imagery the repo ships plus two synthetic sequences with known
melt: `glacier-edge evaluate` (leave-one-sequence-out) for nowcast and forecast, tables saved to
benchmarks/results/evaluation_{task}.{txt,json}.

    python benchmarks/evaluation.py [--weights auto] [--epochs 600]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import imageio.v3 as iio

from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.frames import DEFAULT_MAX_PIXELS, sample_sequence_path
from glacier_edge.paths import default_cache_dir
from glacier_edge.synthetic import synthetic_frames
from glacier_edge.training.evaluation import evaluation_table, run_evaluation
from glacier_edge.training.loop import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SYNTHETIC_CHANGES = ([1000, 5000, 200, 30000, 12000, 700, 2500, 9000], [8000, 300, 15000, 4000, 22000, 600, 7000, 1200])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="auto")
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--tasks", nargs="+", choices=["nowcast", "forecast"], default=["nowcast", "forecast"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        sequences = [sample_sequence_path(), ROOT / "tests/data/aletsch_1987_2019",
                     ROOT / "tests/data/sentinel2_scenes_2019"]
        for index, changes in enumerate(SYNTHETIC_CHANGES):
            frames, _ = synthetic_frames(changes, seed=index + 1)
            path = Path(scratch) / f"synthetic_{index}.gif"
            iio.imwrite(path, frames, extension=".gif", duration=200, loop=0)
            sequences.append(path)
        for task in args.tasks:
            result = run_evaluation(sequences, config=TrainConfig(epochs=args.epochs, task=task), weights=args.weights,
                                    augmentations=4, normalization="absolute", max_pixels=DEFAULT_MAX_PIXELS,
                                    cache_dir=default_cache_dir(), out_dir=None, echo=print)
            table = evaluation_table(result)
            print(table)
            RESULTS.mkdir(exist_ok=True)
            write_text_atomic(RESULTS / f"evaluation_{task}.txt", table + "\n")
            write_json_atomic(RESULTS / f"evaluation_{task}.json", result)


if __name__ == "__main__":
    main()
