#!/usr/bin/env python3
"""GPU check of the encoder family (run where CUDA is; skips with the reason elsewhere): each
backbone's embeddings and feature-map cells on CUDA against the CPU on the same generated frames
(the path `evaluate --device`, `benchmarks/backbones.py skill --device cuda` and Ray's GPU actors
take), with its max |Δ| relative to the embedding scale, and frames/s on each.

    python benchmarks/gpu_encoders.py
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main() -> None:
    import torch

    if not torch.cuda.is_available():
        sys.exit("skipping: no CUDA device here")
    torch.backends.cudnn.allow_tf32 = False  # fp32 convolutions, as on the CPU and in encoder.onnx
    torch.backends.cuda.matmul.allow_tf32 = False
    from glacier_edge.ingest.samples import glacier_timelapse
    from glacier_edge.training.backbones import BACKBONES, NO_BACKBONE
    from glacier_edge.training.encoder import build_encoder, encode_cells, encode_frames

    frames = np.asarray(glacier_timelapse(32, seed=3).frames, dtype=np.uint8)
    print(f"{torch.cuda.get_device_name(0)}; torch {torch.__version__}; {len(frames)} generated frames "
          f"{frames.shape[1]}×{frames.shape[2]} px (the encoders are size-agnostic)")
    worst = 0.0
    for name in BACKBONES:
        if name == NO_BACKBONE:
            continue
        encoder, _ = build_encoder("random", name)
        started = time.perf_counter()
        cpu = encode_frames(encoder, frames)
        cpu_s = time.perf_counter() - started
        cpu_cells = encode_cells(encoder, frames[:4])
        encoder = encoder.to("cuda")
        encode_frames(encoder, frames)  # warm-up (cuDNN picks its kernels)
        torch.cuda.synchronize()
        started = time.perf_counter()
        gpu = encode_frames(encoder, frames)
        torch.cuda.synchronize()
        gpu_s = time.perf_counter() - started
        gpu_cells = encode_cells(encoder, frames[:4])
        scale = float(np.abs(cpu).max())
        delta = float(np.abs(gpu - cpu).max()) / scale
        cells_delta = float(np.abs(gpu_cells - cpu_cells).max()) / float(np.abs(cpu_cells).max())
        worst = max(worst, delta, cells_delta)
        print(f"{name:20s} embeddings max|Δ|/max|ref| {delta:.2e}  cells {cells_delta:.2e}  "
              f"cpu {len(frames) / cpu_s:7.1f} frames/s  cuda {len(frames) / gpu_s:8.1f} frames/s")
    print(f"worst relative difference CUDA vs CPU (TF32 off): {worst:.2e} ({'PASS' if worst < 1e-4 else 'FAIL'}: "
          "< 1e-4, the encoder parity tolerance)")


if __name__ == "__main__":
    main()
