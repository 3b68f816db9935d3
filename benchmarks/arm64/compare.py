#!/usr/bin/env python3
"""Compare two `glacier-edge run --format json` results frame by frame (predicted melt).

    python benchmarks/arm64/compare.py REFERENCE.json OTHER.json --max-abs 1e-5 [--max-mae 0.005]

Exits 1 (one line saying which frame and by how much) when a bound is exceeded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def predicted(path: Path) -> list[float | None]:
    return [frame["predicted_melt"] for frame in json.loads(path.read_text())["frames"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("other", type=Path)
    parser.add_argument("--max-abs", type=float, default=None, help="bound on every frame's |Δ|")
    parser.add_argument("--max-mae", type=float, default=None, help="bound on the mean |Δ|")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    reference, other = predicted(args.reference), predicted(args.other)
    if len(reference) != len(other):
        print(f"{args.label}: {len(other)} frames against {len(reference)}")
        return 1
    pairs = [(i, a, b) for i, (a, b) in enumerate(zip(reference, other)) if a is not None or b is not None]
    if any(a is None or b is None for _, a, b in pairs):
        print(f"{args.label}: a frame has a prediction on one side only")
        return 1
    deltas = [(abs(a - b), i) for i, a, b in pairs]
    worst, frame = max(deltas)
    mae = sum(d for d, _ in deltas) / len(deltas)
    print(f"{args.label}: {len(deltas)} frames, max |Δ| {worst:.2e} (frame {frame}), mean |Δ| {mae:.2e}")
    if args.max_abs is not None and worst > args.max_abs:
        print(f"{args.label}: FAILED: frame {frame} differs by {worst:.2e} > {args.max_abs:g}")
        return 1
    if args.max_mae is not None and mae > args.max_mae:
        print(f"{args.label}: FAILED: mean |Δ| {mae:.2e} > {args.max_mae:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
