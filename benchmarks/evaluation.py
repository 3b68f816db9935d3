#!/usr/bin/env python3
"""Held-out evaluation on the generated sample, the real imagery in ../shared/data (read where it
lies) and two synthetic sequences with known melt: `glacier-edge evaluate` (leave-one-sequence-out)
for nowcast and forecast, tables saved to benchmarks/results/evaluation_{task}.{txt,json}.

    python benchmarks/evaluation.py [--weights auto] [--epochs 600]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import imageio.v3 as iio

from glacier_edge.contracts import TrainConfig
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.paths import default_cache_dir
from glacier_edge.samples import sample_sequence_path
from glacier_edge.synthetic import synthetic_frames
from glacier_edge.training.evaluation import evaluation_table, run_evaluation

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SYNTHETIC_CHANGES = ([1000, 5000, 200, 30000, 12000, 700, 2500, 9000], [8000, 300, 15000, 4000, 22000, 600, 7000, 1200])


SHARED = ROOT.parent / "shared" / "data"
SHARED_SEQUENCES = ("rutor_s2_2017-2025.gif", "aletsch_1987_2019", "sentinel2_scenes_2019")


def shared_sequences() -> list[Path]:
    """The real sequences of ../shared/data that are present; each absent one is named and skipped."""
    found = []
    for name in SHARED_SEQUENCES:
        if (SHARED / name).exists():
            found.append(SHARED / name)
        else:
            print(f"skipping {SHARED / name}: absent (real imagery is read from ../shared/data beside the clone)")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="auto")
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--tasks", nargs="+", choices=["nowcast", "forecast"], default=["nowcast", "forecast"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        sequences = [sample_sequence_path()] + shared_sequences()
        for index, changes in enumerate(SYNTHETIC_CHANGES):
            frames, _ = synthetic_frames(changes, seed=index + 1)
            path = Path(scratch) / f"synthetic_{index}.gif"
            iio.imwrite(path, frames, extension=".gif", duration=200, loop=0)
            sequences.append(path)
        for task in args.tasks:
            config = TrainConfig(epochs=args.epochs, task=task, weights=args.weights)
            result = run_evaluation(sequences, config=config, cache_dir=default_cache_dir(), out_dir=None, echo=print)
            table = evaluation_table(result)
            print(table)
            RESULTS.mkdir(exist_ok=True)
            write_text_atomic(RESULTS / f"evaluation_{task}.txt", table + "\n")
            write_json_atomic(RESULTS / f"evaluation_{task}.json", result)


if __name__ == "__main__":
    main()
