#!/usr/bin/env python3
"""int8 formats and ORT's x64 precision option, measured on this machine: speed, embedding error
and melt error against fp32. Saved to benchmarks/results/int8_<cpu>.{txt,json}.

    python benchmarks/int8.py --model BUNDLE

Every format of glacier_edge/export/quantize.FORMATS is calibrated on generated glaciers (seeds 0-5, as
the default training set), then judged on other generated glaciers (seeds 40-42) and on three
real corpus sequences when ../shared/data is present. For each, sessions with and without
``session.x64quantprecision=1`` (ORT: promote U8S8 products to U8U8 on x86 without VNNI, where
AVX2's 16-bit intermediate sums saturate). Melt MAE is through the bundle's own graph model at
T = 2, 8 and the full sequences.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from glacier_edge.bench.system import system_info
from glacier_edge.contracts import ROLE_ENCODER
from glacier_edge.edge.bundle import load_bundle
from glacier_edge.edge.runtime import EdgeModel, session_options
from glacier_edge.export.quantize import FORMATS, median_seconds, prepare, quantize_format
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.frames import FrameSequence, expand_sequences, read_sequence
from glacier_edge.ingest.samples import glacier_timelapse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CORPUS = ROOT.parent / "shared" / "data" / "glacierview_landsat"
ROUNDS = 3


def sequences_for_judging() -> list[FrameSequence]:
    judged = []
    for seed in (40, 41, 42):
        lapse = glacier_timelapse(12, seed=seed)
        judged.append(FrameSequence(lapse.frames, [f"g{seed}#{i}" for i in range(12)], list(lapse.dates),
                                    f"generated seed {seed}", (lapse.frames.shape[2], lapse.frames.shape[1])))
    if CORPUS.is_dir():
        judged += [read_sequence(path) for path in expand_sequences([CORPUS])[:3]]
    return judged


def resized(frames: np.ndarray) -> np.ndarray:
    from glacier_edge.ingest.frames import resize_frame

    return np.stack([resize_frame(frame) for frame in frames])


def session(path: Path, precision_option: bool) -> ort.InferenceSession:
    options = session_options(None)
    if precision_option:
        options.add_session_config_entry("session.x64quantprecision", "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def melt_errors(model: EdgeModel, judged: list[FrameSequence], fp32: list[np.ndarray],
                int8: list[np.ndarray]) -> dict[str, float]:
    errors: dict[str, list[float]] = {"T=2": [], "T=8": [], "full": []}
    for sequence, reference, quantised in zip(judged, fp32, int8):
        measured = model.measured(sequence.frames)
        for label, length in (("T=2", 2), ("T=8", 8), ("full", len(reference))):
            for start in range(0, len(reference) - length + 1, length):
                part = slice(start, start + length)
                window = FrameSequence(sequence.frames[part], sequence.labels[part], sequence.dates[part],
                                       sequence.source, sequence.original_size)
                a = model.melt(reference[part], window, measured[part])[1:]
                b = model.melt(quantised[part], window, measured[part])[1:]
                errors[label].extend(np.abs(a - b).tolist())
    return {label: float(np.mean(values)) for label, values in errors.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    args = parser.parse_args()
    info = system_info(None)
    bundle = load_bundle(args.model)
    model = EdgeModel(bundle, provider="cpu")
    calibration = resized(np.concatenate([glacier_timelapse(12, seed=seed).frames for seed in range(6)]))
    judged = sequences_for_judging()
    judged = [FrameSequence(resized(s.frames), s.labels, s.dates, s.source, s.original_size) for s in judged]
    timing = np.ascontiguousarray(np.concatenate([s.frames for s in judged])[:24])
    fp32_session = session(bundle.model_path(ROLE_ENCODER), False)
    fp32 = [fp32_session.run(None, {"frames": s.frames})[0] for s in judged]
    rows, sessions = [], []
    with tempfile.TemporaryDirectory() as scratch:
        prepared = prepare(bundle.model_path(ROLE_ENCODER), Path(scratch) / "prepared.onnx")
        for fmt in FORMATS:
            path = quantize_format(prepared, Path(scratch) / f"{fmt.key}.onnx", calibration, fmt)
            for precision_option in (False, True):
                quantised = session(path, precision_option)
                int8 = [quantised.run(None, {"frames": s.frames})[0] for s in judged]
                stacked_q, stacked_f = np.concatenate(int8), np.concatenate(fp32)
                relative_rms = float(np.sqrt(np.mean((stacked_q - stacked_f) ** 2)) / np.sqrt(np.mean(stacked_f**2)))
                rows.append({"format": fmt.key, "name": fmt.name, "x64quantprecision": precision_option,
                             "embedding_relative_rms": relative_rms,
                             "melt_mae": melt_errors(model, judged, fp32, int8), "bytes": path.stat().st_size})
                sessions.append(quantised)
                print(f"{fmt.key:18s} x64prec={int(precision_option)}  emb rel RMS {relative_rms:.4f}  melt MAE "
                      + "  ".join(f"{k} {v:.2e}" for k, v in rows[-1]["melt_mae"].items()), flush=True)
        # timing: ROUNDS interleaved rounds over every session (fp32 included), best P50 of each, so
        # that drift of this shared machine falls on all variants alike
        best = [float("inf")] * (len(sessions) + 1)
        for _ in range(ROUNDS):
            for index, timed in enumerate([fp32_session, *sessions]):
                best[index] = min(best[index], median_seconds(lambda t=timed: t.run(None, {"frames": timing}),
                                                              repeats=7))
        fp32_seconds = best[0]
        for row, seconds in zip(rows, best[1:]):
            row["ms_per_frame"] = 1000 * seconds / len(timing)
            row["speedup_vs_fp32"] = fp32_seconds / seconds
    lines = [info.line(), f"fp32 encoder: {1000 * fp32_seconds / len(timing):.2f} ms/frame (batch of 24)",
             f"judged on: {', '.join(s.source.split('/')[-1] for s in judged)}", "",
             f"{'format':18s} {'x64prec':>7s} {'ms/frame':>8s} {'vs fp32':>7s} {'emb rel RMS':>11s} "
             f"{'melt MAE T=2':>12s} {'T=8':>9s} {'full':>9s}"]
    for row in rows:
        mae = row["melt_mae"]
        lines.append(f"{row['format']:18s} {int(row['x64quantprecision']):7d} {row['ms_per_frame']:8.2f} "
                     f"×{row['speedup_vs_fp32']:6.2f} {row['embedding_relative_rms']:11.4f} {mae['T=2']:12.2e} "
                     f"{mae['T=8']:9.2e} {mae['full']:9.2e}")
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    tag = "vnni" if any("vnni" in flag for flag in info.flags) else ("avx2" if "avx2" in info.flags else "other")
    write_text_atomic(RESULTS / f"int8_{tag}.txt", text + "\n")
    write_json_atomic(RESULTS / f"int8_{tag}.json", {"system": info.__dict__, "rows": rows})


if __name__ == "__main__":
    main()
