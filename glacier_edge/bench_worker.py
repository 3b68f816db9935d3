"""One benchmark variant in a fresh process: `python -m glacier_edge.bench_worker JOB_JSON`.

Prints one JSON line (latency stats in seconds and the melt it computed) for the parent,
which samples this process's peak RSS from outside.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from glacier_edge.benchmark import OrtVariant, Variant, frames_of_length, measure_variant
from glacier_edge.bundle import load_bundle
from glacier_edge.frames import read_sequence, sample_sequence_path


def build(job: dict) -> Variant:
    if job["kind"] == "torch":
        from glacier_edge.training.reference import TorchReference

        return TorchReference(Path(job["run_dir"]), job["threads"])
    return OrtVariant(load_bundle(job["bundle"]), job["precision"], job["provider"], job["threads"])


def main(argv: list[str]) -> None:
    job = json.loads(argv[1])
    frames = frames_of_length(read_sequence(sample_sequence_path()), job["frames"])
    variant = build(job)
    result = measure_variant(variant, frames, runs=job["runs"], warmup=job["warmup"], threads=job["threads"])
    print(json.dumps({"variant": result.variant, "provider": result.provider, "size_mb": result.size_mb,
                      "encoder": asdict(result.encoder), "graph": asdict(result.graph), "total": asdict(result.total),
                      "melt": result.melt.tolist()}))


if __name__ == "__main__":
    main(sys.argv)
