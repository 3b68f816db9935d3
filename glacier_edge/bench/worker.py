"""One benchmark variant in a fresh process: `python -m glacier_edge.bench.worker JOB_JSON`.

Prints one JSON line (latency stats in seconds and the melt it computed) for the parent, which
samples this process's peak RSS from outside. Any failure goes to stderr and a non-zero exit,
which the parent turns into one line.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from glacier_edge.bench.measure import frames_of_length, measure_variant
from glacier_edge.bench.variants import VariantSpec
from glacier_edge.ingest.frames import read_sequence
from glacier_edge.ingest.samples import sample_sequence_path


def main(argv: list[str]) -> int:
    job = json.loads(argv[1])
    spec = VariantSpec(**job["spec"])
    module, _, name = job["target"].partition(":")
    frames = frames_of_length(read_sequence(sample_sequence_path()), job["frames"])
    try:
        variant = getattr(importlib.import_module(module), name).from_spec(spec, Path(job["bundle"]), job["threads"])
        print(json.dumps(measure_variant(variant, frames, runs=job["runs"], warmup=job["warmup"])))
    except Exception as exc:  # noqa: BLE001 - reported by the parent as one line
        print(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
