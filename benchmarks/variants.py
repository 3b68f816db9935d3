#!/usr/bin/env python3
"""The variants table at T = 24 and cold start vs a torch-based path: `glacier-edge bench` with
its report saved to benchmarks/results/variants.{txt,json}.

    python benchmarks/variants.py [--model BUNDLE] [--runs 20] [--threads N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from glacier_edge.bench.run import run_bench, torch_available
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.paths import resolve_bundle_dir

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--frames", type=int, nargs="+", default=[1, 24, 100])
    args = parser.parse_args()
    if torch_available():
        import glacier_edge.training.reference  # noqa: F401  (registers the PyTorch eager variant)
    results, report = run_bench(resolve_bundle_dir(args.model), frame_counts=args.frames, providers=["cpu", "cuda"],
                                threads=args.threads, runs=args.runs, cold_runs=5, echo=print)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "variants.txt", report + "\n")
    write_json_atomic(RESULTS / "variants.json", results.to_json())


if __name__ == "__main__":
    main()
