#!/usr/bin/env python3
"""Issue 21: the per-region model held out on the shared corpus, per region of the 4×4 grid and
pooled, with and without spatial edges (the ablation), for nowcast and forecast.

Outer folds grouped by sequence (5, seeded as `evaluate`'s), the whole per-region recipe per fold
(inner calibration included), against each region's own persistence and running mean. ResNet50
random init (NOT PRETRAINED), as every model figure here. Reads ../shared/data/glacierview_landsat
where it lies; skips with a reason when it is absent. Saved to
benchmarks/results/frame_regions_{task}.{txt,json}.

    python benchmarks/frame_regions.py [--task nowcast|forecast] [--epochs 200] [--group-by region]

``--group-by region`` holds out one region of the world at a time (GLIMS IDs in the names: Western
Alps, Central/Eastern Alps, Caucasus), as `evaluate --group-by region`; saved with ``_regions``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from glacier_edge.bench.system import system_info
from glacier_edge.contracts import TrainConfig
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.frames import expand_sequences, read_sequence
from glacier_edge.ingest.regions import region_groups, sequence_regions
from glacier_edge.paths import default_cache_dir
from glacier_edge.training.dataset import frames_digest
from glacier_edge.training.encoder import build_encoder
from glacier_edge.training.recipe import grouped_folds
from glacier_edge.training.regional import build_regional_example, sequence_cells
from glacier_edge.training.regional_evaluation import evaluate_with_ablation, regions_table

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "glacierview_landsat"
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--task", choices=("nowcast", "forecast"), default="nowcast")
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--group-by", choices=("sequence", "region"), default="sequence")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"skipped: the corpus {CORPUS} is absent (read where it lies, never copied)")
        return 0
    started = time.perf_counter()
    config = TrainConfig(weights="random", task=args.task, epochs=args.epochs, frame_regions=True)
    encoder, weights = build_encoder(config.weights)
    examples = []
    for path in expand_sequences([CORPUS]):
        sequence = read_sequence(path)
        cells = sequence_cells(sequence, frames_digest(sequence.frames), encoder, weights, config.seed,
                               default_cache_dir())
        examples.append(build_regional_example(sequence, cells, config, None))
    groups = grouped_folds(len(examples), config.folds, config.seed)
    split = f"{len(groups)} outer folds grouped by sequence"
    if args.group_by == "region":
        regions = sequence_regions([Path(e.sequence.source) for e in examples])
        assert regions is not None, "the corpus names carry GLIMS IDs"
        groups = [np.array(group) for group in region_groups(regions)]
        split = "leave-one-region-out: " + ", ".join(f"{sorted(set(regions))[i]} ({len(g)})" for i, g in
                                                      enumerate(groups))
    result = evaluate_with_ablation(examples, groups, config, echo=print)
    table = "\n".join([system_info(None).line(), f"task: {args.task}; {len(examples)} sequences, "
                       f"{split}; encoder: {weights.label()}; "
                       f"{time.perf_counter() - started:.0f} s", regions_table(result)])
    print(table)
    RESULTS.mkdir(exist_ok=True)
    name = f"frame_regions_{args.task}" + ("_regions" if args.group_by == "region" else "")
    write_text_atomic(RESULTS / f"{name}.txt", table + "\n")
    write_json_atomic(RESULTS / f"{name}.json", {"task": args.task, "split": split, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
