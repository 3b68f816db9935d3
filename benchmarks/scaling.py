#!/usr/bin/env python3
"""How encoder (linear in T) and the dense-adjacency GNN (T² adjacency) grow with T, at 1 and 2
threads, ORT fp32 on the CPU. Prints a table and saves it to benchmarks/results/scaling.{md,json}.

    python benchmarks/scaling.py [--model BUNDLE] [--runs 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from glacier_edge.bench.measure import frames_of_length
from glacier_edge.bench.stats import measure
from glacier_edge.bench.system import system_info
from glacier_edge.edge.bundle import load_bundle
from glacier_edge.edge.runtime import EdgeModel
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.frames import read_sequence
from glacier_edge.ingest.samples import sample_sequence_path
from glacier_edge.paths import resolve_bundle_dir

LENGTHS = (8, 24, 64, 128, 256)
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bundle = load_bundle(resolve_bundle_dir(args.model))
    sequence = read_sequence(sample_sequence_path())
    rows = []
    for threads in (1, 2):
        model = EdgeModel(bundle, provider="cpu", threads=threads)
        for count in LENGTHS:
            frames = frames_of_length(sequence, count)
            embeddings = model.embed(frames)
            encoder = measure(lambda m=model, f=frames: m.embed(f), runs=args.runs, warmup=1)
            graph = measure(lambda m=model, e=embeddings: m.melt(e), runs=max(args.runs, 20), warmup=3)
            rows.append({"threads": threads, "frames": count, "encoder_ms_p50": encoder.p50 * 1000,
                         "encoder_ms_per_frame": encoder.p50 * 1000 / count, "graph_ms_p50": graph.p50 * 1000,
                         "graph_share": graph.p50 / (graph.p50 + encoder.p50),
                         "adjacency_mb": count * count * 4 / 1e6})
            print(f"threads {threads} T {count:4d}: encoder {encoder.p50 * 1000:8.1f} ms "
                  f"({encoder.p50 * 1000 / count:5.2f} ms/frame), graph {graph.p50 * 1000:6.2f} ms", flush=True)
    system = system_info(None)
    lines = [f"ORT fp32; {system.line()}; "
             f"P50 of {args.runs} runs (graph: of {max(args.runs, 20)})", "",
             "| threads | T | encoder ms | encoder ms/frame | graph build + GNN ms | graph share | adjacency MB |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['threads']} | {r['frames']} | {r['encoder_ms_p50']:.1f} | {r['encoder_ms_per_frame']:.2f} "
                     f"| {r['graph_ms_p50']:.2f} | {100 * r['graph_share']:.2f} % | {r['adjacency_mb']:.2f} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "scaling.md", table + "\n")
    write_json_atomic(RESULTS / "scaling.json", {"system": dataclasses.asdict(system), "rows": rows})
    print(json.dumps({"saved": str(RESULTS / "scaling.md")}))


if __name__ == "__main__":
    main()
